//! The admin API's handlers. Each answers JSON; errors are `{"error": …}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::render::Draft;
use crate::sinks::{self, SendOutcome};
use crate::store::{
    parse_since, Delivery, DeliveryFilter, DeliveryStatus, EventSelection, Replay, StoredEvent,
};
use crate::{Bridge, Shared};

pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

pub(super) fn store_error(error: crate::store::StoreError) -> Response {
    error_response_for_store(&error)
}

fn error_response_for_store(error: &crate::store::StoreError) -> Response {
    tracing::error!(%error, "admin API: store failed");
    self::error(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable")
}

/// A delivery as the API shows it: the body as JSON, not as a string of JSON.
fn delivery_json(delivery: &Delivery) -> Value {
    let mut value = serde_json::to_value(delivery).expect("deliveries serialize");
    value["body"] = serde_json::from_str(&delivery.body).unwrap_or(Value::String(delivery.body.clone()));
    value
}

#[derive(Deserialize)]
pub struct DeliveriesQuery {
    status: Option<String>,
    channel: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/deliveries?status=&channel=&limit=`: the delivery log, newest first.
pub async fn deliveries(State(shared): State<Arc<Shared>>, Query(query): Query<DeliveriesQuery>) -> Response {
    let status = match query.status.as_deref().map(|s| (s, DeliveryStatus::parse(s))) {
        Some((text, None)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unknown status `{text}` (pending, delivered, dead)"),
            )
        }
        Some((_, parsed)) => parsed,
        None => None,
    };
    let filter =
        DeliveryFilter { status, channel: query.channel, event_id: None, limit: query.limit.unwrap_or(50) };
    match shared.store.deliveries(filter).await {
        Ok(rows) => Json(rows.iter().map(delivery_json).collect::<Vec<_>>()).into_response(),
        Err(failure) => store_error(failure),
    }
}

/// `POST /api/deliveries/{id}/retry`: queue one delivery again.
pub async fn retry(State(shared): State<Arc<Shared>>, Path(id): Path<i64>) -> Response {
    match shared.store.replay(Replay::Ids(vec![id])).await {
        Ok(0) => error(StatusCode::NOT_FOUND, format!("no delivery {id}")),
        Ok(count) => {
            wake_all(&shared);
            Json(json!({ "queued": count })).into_response()
        }
        Err(failure) => store_error(failure),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    channel: Option<String>,
    since: Option<String>,
}

/// `POST /api/replay` with `{"channel": …, "since": "2h"}`: queue dead messages again.
pub async fn replay(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: ReplayRequest = if body.is_empty() {
        ReplayRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(failure) => {
                return error(StatusCode::BAD_REQUEST, format!("expected {{channel?, since?}}: {failure}"))
            }
        }
    };
    let since = match request.since.as_deref().map(|text| (text, parse_since(text))) {
        Some((text, None)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("`since`: `{text}` is neither a duration (2h) nor a time"),
            )
        }
        Some((_, since)) => since,
        None => None,
    };
    match shared.store.replay(Replay::Dead { channel: request.channel, since }).await {
        Ok(count) => {
            wake_all(&shared);
            Json(json!({ "queued": count })).into_response()
        }
        Err(failure) => store_error(failure),
    }
}

fn wake_all(shared: &Shared) {
    for channel in shared.bridge().config.channels.keys() {
        shared.wakers.wake(channel);
    }
}

/// `GET /api/events/{id}`: the stored event, its changes, the rules they match
/// under the current config, and its deliveries.
pub async fn event(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let events = match shared.store.events(&id).await {
        Ok(events) if events.is_empty() => return error(StatusCode::NOT_FOUND, format!("no event {id}")),
        Ok(events) => events,
        Err(failure) => return store_error(failure),
    };
    let filter = DeliveryFilter { event_id: Some(id), ..Default::default() };
    let deliveries = match shared.store.deliveries(filter).await {
        Ok(rows) => rows,
        Err(failure) => return store_error(failure),
    };
    let bridge = shared.bridge();
    let shown: Vec<Value> =
        events.iter().map(|event| stored_event_json(&bridge, event, &deliveries)).collect();
    Json(if shown.len() == 1 { shown.into_iter().next().expect("one") } else { Value::Array(shown) })
        .into_response()
}

fn stored_event_json(bridge: &Bridge, stored: &StoredEvent, deliveries: &[Delivery]) -> Value {
    let headers = crate::route::headers_from_json(&stored.headers);
    let analysis = super::preview::preview(bridge, &stored.source, &headers, stored.body.clone().into());
    json!({
        "source": stored.source,
        "event_id": stored.event_id,
        "received_at": crate::normalize::rfc3339_from_millis(stored.received_at),
        "headers": serde_json::from_str::<Value>(&stored.headers).unwrap_or(Value::Null),
        "payload": serde_json::from_slice::<Value>(&stored.body).unwrap_or_else(|_| String::from_utf8_lossy(&stored.body).into()),
        "analysis": analysis.map_or_else(|failure| json!({ "error": failure.to_string() }), |preview| preview.to_json()),
        "deliveries": deliveries.iter().filter(|d| d.source == stored.source).map(delivery_json).collect::<Vec<_>>(),
    })
}

/// `GET /api/deliveries/{id}/attempts`: every try at sending it, oldest first:
/// `[{"at", "status", "error", "latency_ms"}]`.
pub async fn attempts(State(shared): State<Arc<Shared>>, Path(id): Path<i64>) -> Response {
    match shared.store.attempts(id).await {
        Ok(attempts) => Json(attempts).into_response(),
        Err(failure) => store_error(failure),
    }
}

/// `GET /api/sources`: `[{"name", "kind"}]`, for the console's source picker.
pub async fn sources(State(shared): State<Arc<Shared>>) -> Response {
    let bridge = shared.bridge();
    let sources: Vec<Value> = bridge
        .config
        .sources
        .iter()
        .map(|(name, source)| json!({ "name": name, "kind": source.kind() }))
        .collect();
    Json(sources).into_response()
}

#[derive(Deserialize)]
pub struct RecentQuery {
    limit: Option<usize>,
}

/// `GET /api/events?limit=N`: the newest stored events of the last week
/// (default 20, at most 200), newest first: `[{"source", "event_id", "received_at"}]`.
pub async fn recent_events(State(shared): State<Arc<Shared>>, Query(query): Query<RecentQuery>) -> Response {
    let limit = query.limit.unwrap_or(20).clamp(1, 200);
    let since = crate::store::now_millis() - 7 * 24 * 3600 * 1000;
    match shared.store.stored_events(EventSelection::Since { since, source: None }).await {
        Ok(events) => {
            let newest: Vec<Value> = events
                .iter()
                .rev()
                .take(limit)
                .map(|event| {
                    json!({
                        "source": event.source,
                        "event_id": event.event_id,
                        "received_at": crate::normalize::rfc3339_from_millis(event.received_at),
                    })
                })
                .collect();
            Json(newest).into_response()
        }
        Err(failure) => store_error(failure),
    }
}

/// `POST /api/events/{id}/reroute`: route the stored event again under the
/// current config and templates; answers what was queued.
pub async fn reroute(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match crate::route::reroute(&shared, EventSelection::Ids(vec![id.clone()])).await {
        Ok(reports) if reports.is_empty() => error(StatusCode::NOT_FOUND, format!("no event {id}")),
        Ok(reports) => Json(json!({ "events": reports })).into_response(),
        Err(failure) => store_error(failure),
    }
}

#[derive(Deserialize)]
pub struct PreviewQuery {
    source: String,
}

/// `POST /api/preview?source=NAME` with the raw event as body: what would be
/// sent, per change and channel. Nothing is sent or stored.
pub async fn preview(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<PreviewQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bridge = shared.bridge();
    if !bridge.config.sources.contains_key(&query.source) {
        return error(StatusCode::NOT_FOUND, format!("no source named `{}`", query.source));
    }
    match super::preview::preview(&bridge, &query.source, &headers, body) {
        Ok(preview) => Json(preview.to_json()).into_response(),
        Err(failure) => error(StatusCode::BAD_REQUEST, failure.to_string()),
    }
}

/// `POST /api/channels/{name}/test`: posts a test message now, outside the
/// queue, and answers with what the platform said.
pub async fn test_channel(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let bridge = shared.bridge();
    let Some(channel) = bridge.config.channels.get(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no channel named `{name}`"));
    };
    let answer = send_test_message(&shared.client, &name, channel).await;
    let status = if answer["outcome"] == "delivered" { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    (status, Json(answer)).into_response()
}

/// Shared with `storybridge test-channel`.
pub async fn send_test_message(
    client: &reqwest::Client,
    name: &str,
    channel: &crate::config::ChannelConfig,
) -> Value {
    let text =
        format!("🔔 storybridge test message for channel `{name}`: if you can read this, delivery works.");
    let composed = sinks::compose(channel, Draft::Text(text)).expect("the text is not empty");
    send_now(client, name, channel, &composed.body.to_string()).await
}

/// Posts `body` to `channel` now, outside the queue (a test message, a
/// message the console's admin chose to send), and says what the platform
/// answered.
pub async fn send_now(
    client: &reqwest::Client,
    name: &str,
    channel: &crate::config::ChannelConfig,
    body: &str,
) -> Value {
    let answer = sinks::send(client, channel, body, None).await;
    let (outcome, detail) = match &answer.outcome {
        SendOutcome::Delivered => ("delivered", None),
        SendOutcome::RateLimited(wait) => ("rate_limited", Some(format!("retry after {wait:?}"))),
        SendOutcome::Transient(message) => ("failed", Some(message.clone())),
        SendOutcome::Permanent { body, .. }
        | SendOutcome::Gone { body, .. }
        | SendOutcome::Stale { body, .. }
        | SendOutcome::Archived { body, .. } => ("refused", Some(body.clone())),
    };
    json!({ "channel": name, "outcome": outcome, "status": answer.status, "detail": detail })
}

/// `POST /-/reload`: load the config file again; keep the old one if it is invalid.
pub async fn reload(State(shared): State<Arc<Shared>>) -> Response {
    let Some(reloader) = shared.reloader.as_ref() else {
        return error(
            StatusCode::CONFLICT,
            "this bridge runs on a config that is not a file; nothing to reload",
        );
    };
    match reloader.reload(&shared) {
        Ok(()) => Json(json!({ "status": "reloaded" })).into_response(),
        Err(errors) => {
            let errors: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            (StatusCode::BAD_REQUEST, Json(json!({ "status": "rejected", "errors": errors }))).into_response()
        }
    }
}

/// `GET /api/channels/{name}/digest`: what the channel's digest would say now.
pub async fn digest(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let bridge = shared.bridge();
    match crate::digest::preview(&bridge, &*shared.store, &name, shared.clock.now()).await {
        Ok(preview) => Json(preview).into_response(),
        Err(failure) => digest_error(failure),
    }
}

/// `POST /api/channels/{name}/digest`: send the channel's digest now.
pub async fn send_digest(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let bridge = shared.bridge();
    match crate::digest::send_now(&bridge, &*shared.store, &name, shared.clock.now()).await {
        Ok(released) => {
            shared.wakers.wake(&name);
            Json(json!({ "channel": name, "released": released })).into_response()
        }
        Err(failure) => digest_error(failure),
    }
}

fn digest_error(failure: crate::digest::DigestError) -> Response {
    use crate::digest::DigestError;
    match failure {
        DigestError::NoChannel(_) | DigestError::NotADigest(_) => {
            error(StatusCode::NOT_FOUND, failure.to_string())
        }
        DigestError::Template(_) => error(StatusCode::UNPROCESSABLE_ENTITY, failure.to_string()),
        DigestError::Store(failure) => store_error(failure),
    }
}
