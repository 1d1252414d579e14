//! The HTTP edge: `POST /hooks/<source>`. Limits the body, hands the raw bytes
//! to `verify`, the verified body to `normalize`, the event to the pipeline, and
//! answers fast with what was queued.
//!
//! Order of checks: unknown source (404) → content type (415) → size (413) →
//! empty body (200, ignored) → signature (401) → JSON (400) → event shape (400).

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

use crate::deliver::Outbox;
use crate::normalize::{decode, normalize, Normalized};
use crate::{pipeline, verify, Bridge};

#[derive(Clone)]
pub struct AppState {
    pub bridge: Arc<Bridge>,
    pub outbox: Outbox,
}

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
        return Ok((
            StatusCode::OK,
            Json(json!({ "status": "ignored", "reason": "empty body" })),
        )
            .into_response());
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
    let messages = pipeline::messages(bridge, &event);
    let queued = messages.len();
    for message in messages {
        state.outbox.enqueue(message);
    }
    tracing::info!(source = %source_name, event_id = %event.id, changes = event.changes.len(), messages = queued, "accepted");
    let answer = json!({
        "status": "accepted",
        "event_id": event.id,
        "changes": event.changes.len(),
        "messages": queued,
    });
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}
