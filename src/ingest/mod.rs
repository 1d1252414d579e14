//! The HTTP edge: `POST /hooks/<source>`. Limits the body, hands the raw bytes
//! to `verify`, the verified body to `normalize`, routes and renders the event,
//! and stores the event with its messages before answering.
//!
//! Order of checks: unknown source (404) → content type (415) → size (413) →
//! empty body (200, ignored) → signature (401) → JSON (400) → event shape (400)
//! → store (200 duplicate, 202 accepted, 503 if the store fails).
//!
//! A 2xx means the event and every message it owes are committed to the store.

mod body;
mod error;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub use error::IngestError;

use crate::deliver::Wakers;
use crate::normalize::{decode, normalize, Normalized};
use crate::store::{now_millis, Accepted, NewEvent, Store};
use crate::{pipeline, verify, Bridge};

#[derive(Clone)]
pub struct AppState {
    pub bridge: Arc<Bridge>,
    pub store: Arc<dyn Store>,
    pub wakers: Wakers,
}

/// Headers never worth keeping with a stored event.
const UNSTORED_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/hooks/{source}", post(receive))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

#[derive(Deserialize)]
struct HookQuery {
    token: Option<String>,
}

async fn receive(
    State(state): State<AppState>,
    Path(source_name): Path<String>,
    Query(query): Query<HookQuery>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, IngestError> {
    let bridge = &state.bridge;
    let source = bridge
        .config
        .sources
        .get(&source_name)
        .ok_or_else(|| IngestError::UnknownSource(source_name.clone()))?;
    let format = body::format(&headers)?;
    let bytes = body::read_limited(&headers, body, bridge.config.max_body_bytes).await?;
    if body::is_empty(&bytes) {
        // Shortcut sends empty POSTs now and then; they carry nothing to route.
        return Ok(
            (StatusCode::OK, Json(json!({ "status": "ignored", "reason": "empty body" }))).into_response()
        );
    }
    let token = query.token.as_deref();
    let verified = verify::verify(source, &headers, token, bytes).inspect_err(|error| {
        tracing::warn!(source = %source_name, reason = %error, "rejected: signature");
    })?;
    let payload = decode(&verified, format)?;
    let event = match normalize(&source_name, source, &headers, &verified, payload)? {
        Normalized::Ping => {
            return Ok((StatusCode::OK, Json(json!({ "status": "pong" }))).into_response());
        }
        Normalized::Event(event) => event,
    };
    let deliveries = pipeline::deliveries(bridge, &event);
    let channels: Vec<String> = deliveries.iter().map(|d| d.channel.clone()).collect();
    let stored = NewEvent {
        source: source_name.clone(),
        event_id: event.id.clone(),
        received_at: now_millis(),
        content_type: headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned),
        headers: headers_json(&headers),
        body: verified.body().to_vec(),
    };
    let answer = match state.store.accept(stored, deliveries).await? {
        Accepted::Duplicate => {
            tracing::info!(source = %source_name, event_id = %event.id, "duplicate: already accepted");
            let answer = json!({ "status": "duplicate", "event_id": event.id, "messages": 0 });
            return Ok((StatusCode::OK, Json(answer)).into_response());
        }
        Accepted::Inserted { deliveries } => deliveries,
    };
    for channel in &channels {
        state.wakers.wake(channel);
    }
    tracing::info!(source = %source_name, event_id = %event.id, changes = event.changes.len(), messages = answer, "accepted");
    let answer = json!({
        "status": "accepted",
        "event_id": event.id,
        "changes": event.changes.len(),
        "messages": answer,
    });
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

fn headers_json(headers: &HeaderMap) -> String {
    let kept: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .filter(|(name, _)| !UNSTORED_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.into())))
        .collect();
    serde_json::Value::Object(kept).to_string()
}
