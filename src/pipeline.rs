//! normalize → resolve → rules → render, readable in one function. Ingest calls
//! it to queue messages; `storybridge preview` calls it to show them.

use serde_json::Value;

use crate::deliver::Message;
use crate::normalize::Event;
use crate::render::{context, RenderError, Subject, DEFAULT_TEMPLATE};
use crate::resolve::resolve;
use crate::rules::matching;
use crate::sinks::compose;
use crate::Bridge;

/// What one rule firing for one change produced for one channel.
#[derive(Debug, Clone)]
pub struct Routed {
    /// Index into `event.changes`.
    pub change: usize,
    pub rule: String,
    pub channel: String,
    /// The template used, as named in the config or the default.
    pub template: String,
    pub outcome: RouteOutcome,
}

#[derive(Debug, Clone)]
pub enum RouteOutcome {
    /// The exact JSON body the channel will receive.
    Message(Value),
    /// The template rendered nothing: no message, on purpose.
    Silent,
    Failed(RenderError),
}

/// Every message `event` produces, in change order, then rule order, then the
/// order of each rule's `send` list. Does no I/O.
pub fn route(bridge: &Bridge, event: &Event) -> Vec<Routed> {
    let names = resolve(event, &bridge.directory);
    let mut routed = Vec::new();
    for (index, change) in event.changes.iter().enumerate() {
        for rule in matching(&bridge.rules, event, change, &names) {
            for channel_name in &rule.send {
                let channel = &bridge.config.channels[channel_name];
                let template = rule
                    .template
                    .as_deref()
                    .or(channel.template.as_deref())
                    .unwrap_or(DEFAULT_TEMPLATE);
                let subject = Subject {
                    event,
                    change,
                    names: &names,
                    rule: &rule.name,
                    channel: channel_name,
                };
                let outcome = match bridge
                    .templates
                    .render(template, channel.kind, &context(&subject))
                {
                    Ok(draft) => compose(channel, draft).map_or(RouteOutcome::Silent, RouteOutcome::Message),
                    Err(error) => RouteOutcome::Failed(error),
                };
                routed.push(Routed {
                    change: index,
                    rule: rule.name.clone(),
                    channel: channel_name.clone(),
                    template: template.to_owned(),
                    outcome,
                });
            }
        }
    }
    routed
}

/// The messages to queue for `event`; render failures are logged and skipped.
pub fn messages(bridge: &Bridge, event: &Event) -> Vec<Message> {
    route(bridge, event)
        .into_iter()
        .filter_map(|routed| match routed.outcome {
            RouteOutcome::Message(body) => Some(Message {
                event_id: event.id.clone(),
                rule: routed.rule,
                channel: routed.channel,
                body,
            }),
            RouteOutcome::Silent => None,
            RouteOutcome::Failed(error) => {
                tracing::error!(event_id = %event.id, rule = %routed.rule, channel = %routed.channel, %error, "template failed; message skipped");
                None
            }
        })
        .collect()
}
