//! What an event would become, with nothing sent or stored: its changes, the
//! rules each matches and the exact body each channel would get. One typed
//! model for the admin API (`POST /api/preview`, `GET /api/events/{id}`),
//! `storybridge preview --json` and the CLI's text.

use axum::http::HeaderMap;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::normalize::{renormalize, Event, Normalized, RereadError};
use crate::pipeline::{process, RouteOutcome, Routed};
use crate::resolve::resolve;
use crate::rules::{verdicts, Verdict};
use crate::Bridge;

pub enum Preview {
    /// A ping: acknowledged, nothing routed.
    Ping,
    Event {
        event: Box<Event>,
        routes: Vec<Routed>,
        /// Per change, every rule's verdict: matched, or why not.
        verdicts: Vec<Vec<Verdict>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("no source named `{0}`")]
    UnknownSource(String),
    #[error(transparent)]
    Read(#[from] RereadError),
}

/// `body` from `source_name`, with the headers it came with (its content type
/// among them), normalized and routed under `bridge`. The body is the admin's
/// own, or one this bridge verified when it arrived.
pub fn preview(
    bridge: &Bridge,
    source_name: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Preview, PreviewError> {
    let source = bridge
        .config
        .sources
        .get(source_name)
        .ok_or_else(|| PreviewError::UnknownSource(source_name.to_owned()))?;
    Ok(match renormalize(source_name, source, headers, body)? {
        Normalized::Ping => Preview::Ping,
        Normalized::Event(event) => {
            let names = resolve(&event, &bridge.directory);
            let routes = process(bridge, &event, &names);
            let verdicts =
                event.changes.iter().map(|change| verdicts(&bridge.rules, &event, change, &names)).collect();
            Preview::Event { event, routes, verdicts }
        }
    })
}

impl Preview {
    /// As the API answers it: `{"ping": true}`, or the event id, its actor and
    /// its changes, each with `routes` of `{rule, channel, template}` and a
    /// `body`, `silent: true` or an `error`, and `rules`: every rule's
    /// `{rule, matched}`, with `why` when it did not match.
    pub fn to_json(&self) -> Value {
        let Preview::Event { event, routes, verdicts } = self else { return json!({ "ping": true }) };
        let changes: Vec<Value> = event
            .changes
            .iter()
            .enumerate()
            .map(|(index, change)| {
                let shown: Vec<Value> = routes.iter().filter(|r| r.change == index).map(route_json).collect();
                let mut value = serde_json::to_value(change).expect("changes serialize");
                value["routes"] = Value::Array(shown);
                value["rules"] = verdicts[index].iter().map(Verdict::to_json).collect();
                value
            })
            .collect();
        json!({ "event_id": event.id, "actor": event.actor, "changes": changes })
    }
}

fn route_json(routed: &Routed) -> Value {
    let mut shown = json!({ "rule": routed.rule, "channel": routed.channel, "template": routed.template });
    match &routed.outcome {
        RouteOutcome::Message(body) => shown["body"] = body.json(),
        RouteOutcome::Silent => shown["silent"] = Value::Bool(true),
        RouteOutcome::Failed(failure) => shown["error"] = Value::String(failure.to_string()),
        RouteOutcome::Collected => shown["digest"] = Value::Bool(true),
    }
    shown
}
