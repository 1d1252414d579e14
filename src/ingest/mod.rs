//! The HTTP edge: `POST /hooks/<source>`. Limits the body, hands the raw bytes
//! to `verify`, the verified body to `normalize` (so a malformed event is
//! refused at once), and stores the raw event before answering. Nothing else
//! happens before the answer: the router takes the event from the store.
//!
//! Order of checks: unknown source (404) → content type (415) → size (413),
//! no room for it (503) or too slow (408) →
//! empty body (200, ignored) → signature (401) → JSON (400) → event shape (400)
//! → store (200 duplicate, 202 accepted, 503 if the store fails).
//!
//! A 2xx means the event is committed to the store (fsynced): every message
//! it owes follows from it, whatever happens to this process.

mod body;
mod error;

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

pub use body::BodyBudget;
pub use error::IngestError;

use crate::normalize::{decode, normalize, Normalized};
use crate::store::{now_millis, Accepted, NewEvent};
use crate::{verify, Shared};

/// Headers never worth keeping with a stored event.
const UNSTORED_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().route("/hooks/{source}", post(receive).fallback(wrong_method)).with_state(shared)
}

/// The query's `token` (Pivotal's), read here so that a malformed query gets
/// the same JSON error, and the same count, as any other refusal.
struct HookQuery {
    token: Option<String>,
}

impl HookQuery {
    fn parse(raw: Option<&str>) -> Result<HookQuery, IngestError> {
        let mut tokens = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .filter(|(key, _)| key == "token")
            .map(|(_, value)| value.into_owned());
        let token = tokens.next();
        if tokens.next().is_some() {
            return Err(IngestError::BadQuery("`token` given more than once"));
        }
        Ok(HookQuery { token })
    }
}

/// Any method but POST on a hook: the documented JSON, counted.
async fn wrong_method(State(shared): State<Arc<Shared>>, Path(source_name): Path<String>) -> Response {
    let known = shared.bridge().config.sources.contains_key(&source_name);
    let error = IngestError::MethodNotAllowed;
    shared.metrics.event(if known { &source_name } else { "<unknown>" }, error.outcome());
    error.into_response()
}

/// What became of a request, for the `events_received` metric.
struct Handled {
    outcome: &'static str,
    response: Response,
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(source_name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let bridge = shared.bridge();
    let handled = match HookQuery::parse(query.as_deref()) {
        Ok(query) => handle(&shared, &bridge, &source_name, query, headers, body).await,
        Err(error) => Err(error),
    };
    let handled =
        handled.unwrap_or_else(|error| Handled { outcome: error.outcome(), response: error.into_response() });
    // An unknown source must not become a label: any URL would mint one.
    let source_label =
        if bridge.config.sources.contains_key(&source_name) { &source_name } else { "<unknown>" };
    shared.metrics.event(source_label, handled.outcome);
    handled.response
}

async fn handle(
    shared: &Arc<Shared>,
    bridge: &Arc<crate::Bridge>,
    source_name: &str,
    query: HookQuery,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Handled, IngestError> {
    let source_name = source_name.to_owned();
    let source = bridge
        .config
        .sources
        .get(&source_name)
        .ok_or_else(|| IngestError::UnknownSource(source_name.clone()))?;
    let format = body::format(&headers)?;
    let config = &bridge.config;
    // Held until the answer: the body and what is made of it stay in memory until then.
    let (bytes, _reserved) =
        body::read(&headers, body, config.max_body_bytes, &shared.body_budget, config.body_timeout.0).await?;
    if body::is_empty(&bytes) {
        // Shortcut sends empty POSTs now and then; they carry nothing to route.
        let answer = json!({ "status": "ignored", "reason": "empty body" });
        return Ok(Handled { outcome: "ignored", response: (StatusCode::OK, Json(answer)).into_response() });
    }
    let token = query.token.as_deref();
    let verified = verify::verify(source, &headers, token, bytes).inspect_err(|error| {
        tracing::warn!(source = %source_name, reason = %error, "rejected: signature");
    })?;
    let payload = decode(&verified, format)?;
    // Only a body that reads as JSON has a signed stamp to check (Linear's).
    verify::fresh(source, &payload, std::time::SystemTime::now())?;
    let event = match normalize(&source_name, source, &headers, &verified, payload)? {
        Normalized::Ping => {
            let response = (StatusCode::OK, Json(json!({ "status": "pong" }))).into_response();
            return Ok(Handled { outcome: "ping", response });
        }
        Normalized::Event(event) => event,
    };
    let stored = NewEvent {
        source: source_name.clone(),
        event_id: event.id.clone(),
        received_at: now_millis(),
        content_type: headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned),
        headers: headers_json(&headers),
        body: verified.body().to_vec(),
    };
    if let Accepted::Duplicate = shared.store.accept(stored).await? {
        tracing::info!(source = %source_name, event_id = %event.id, "duplicate: already accepted");
        let answer = json!({ "status": "duplicate", "event_id": event.id });
        return Ok(Handled {
            outcome: "duplicate",
            response: (StatusCode::OK, Json(answer)).into_response(),
        });
    }
    shared.router_wake.notify_one();
    tracing::info!(source = %source_name, event_id = %event.id, changes = event.changes.len(), "accepted");
    let answer = json!({ "status": "accepted", "event_id": event.id, "changes": event.changes.len() });
    Ok(Handled { outcome: "accepted", response: (StatusCode::ACCEPTED, Json(answer)).into_response() })
}

fn headers_json(headers: &HeaderMap) -> String {
    let kept: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .filter(|(name, _)| !UNSTORED_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.into())))
        .collect();
    serde_json::Value::Object(kept).to_string()
}
