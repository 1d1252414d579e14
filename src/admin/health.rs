//! Liveness, readiness and metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::now_millis;
use crate::Shared;

/// The process is up and serving HTTP.
pub async fn alive() -> &'static str {
    "ok"
}

/// Ready to accept events: config loaded (it is, or we would not be serving),
/// the store answers, and every channel's worker is running.
pub async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let mut reasons = Vec::new();
    match tokio::time::timeout(Duration::from_secs(2), shared.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => reasons.push(format!("store unreachable: {error}")),
        Err(_) => reasons.push("store unreachable: no answer within 2 s".to_owned()),
    }
    for channel in shared.workers.stopped(&shared) {
        reasons.push(format!("delivery worker for channel `{channel}` is not running"));
    }
    if reasons.is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "reasons": reasons })))
            .into_response()
    }
}

/// Prometheus text format. Queue gauges are read from the store at scrape time.
pub async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    if let Ok(stats) = shared.store.queue_stats().await {
        let now = now_millis();
        for channel in shared.bridge().config.channels.keys() {
            let (pending, oldest) = stats
                .iter()
                .find(|stat| &stat.channel == channel)
                .map_or((0, 0), |stat| (stat.pending, (now - stat.oldest_created_at).max(0) / 1000));
            shared.metrics.queue(channel, pending, oldest);
        }
    }
    if let Ok(waiting) = shared.store.digest_items().await {
        for channel in shared.bridge().schedules.keys() {
            let items = waiting.iter().find(|(name, _)| name == channel).map_or(0, |(_, items)| *items);
            shared.metrics.digest_waiting(channel, items);
        }
    }
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], shared.metrics.encode()).into_response()
}
