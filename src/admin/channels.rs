//! Each channel's queue and pause, for `GET /api/channels`, `POST
//! /api/channels/{name}/pause|resume` and `storybridge channels|pause|resume`.
//! A pause an admin asks for holds until resumed; one the platform caused (a
//! dead webhook, a revoked token) holds until the channel's URL or token
//! changes in the config, and is shown only while it still holds.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::api::{error, store_error};
use crate::sinks;
use crate::store::{now_millis, Pause, Store, StoreError};
use crate::{Bridge, Shared};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelState {
    pub name: String,
    pub kind: &'static str,
    /// Messages waiting (held bursts and digests included).
    pub pending: i64,
    /// How long the oldest of them has waited, in seconds.
    pub oldest_pending_s: Option<f64>,
    pub paused: Option<Paused>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paused {
    /// `admin` (resume it) or `platform` (fix the URL or token in the config).
    pub by: &'static str,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("no channel named `{0}`")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every configured channel, in config order.
pub async fn states(bridge: &Bridge, store: &dyn Store) -> Result<Vec<ChannelState>, StoreError> {
    let stats = store.queue_stats().await?;
    let now = now_millis();
    let mut states = Vec::new();
    for (name, channel) in &bridge.config.channels {
        let queued = stats.iter().find(|stats| &stats.channel == name);
        let paused = store.channel_pause(name).await?.and_then(|pause| match pause {
            pause if pause.is_by_admin() => Some(Paused { by: "admin", reason: pause.reason }),
            pause if pause.url_fingerprint == sinks::url_fingerprint(channel) => {
                Some(Paused { by: "platform", reason: pause.reason })
            }
            _ => None,
        });
        states.push(ChannelState {
            name: name.clone(),
            kind: channel.kind.as_str(),
            pending: queued.map_or(0, |stats| stats.pending),
            oldest_pending_s: queued
                .filter(|stats| stats.pending > 0)
                .map(|stats| (now - stats.oldest_created_at).max(0) as f64 / 1000.0),
            paused,
        });
    }
    Ok(states)
}

async fn state_of(bridge: &Bridge, store: &dyn Store, name: &str) -> Result<ChannelState, ChannelError> {
    states(bridge, store)
        .await?
        .into_iter()
        .find(|state| state.name == name)
        .ok_or_else(|| ChannelError::Unknown(name.to_owned()))
}

/// Pauses `name` until resumed: its messages wait, nothing is dropped.
pub async fn pause(
    bridge: &Bridge,
    store: &dyn Store,
    name: &str,
    reason: Option<String>,
) -> Result<ChannelState, ChannelError> {
    if !bridge.config.channels.contains_key(name) {
        return Err(ChannelError::Unknown(name.to_owned()));
    }
    let reason =
        reason.filter(|reason| !reason.trim().is_empty()).unwrap_or_else(|| "paused by an admin".into());
    store.pause_channel(name, Pause::by_admin(reason)).await?;
    state_of(bridge, store, name).await
}

/// Lifts any pause of `name`, the platform's too (a channel whose URL is still
/// dead pauses again at its next failure).
pub async fn resume(bridge: &Bridge, store: &dyn Store, name: &str) -> Result<ChannelState, ChannelError> {
    if !bridge.config.channels.contains_key(name) {
        return Err(ChannelError::Unknown(name.to_owned()));
    }
    store.resume_channel(name).await?;
    state_of(bridge, store, name).await
}

fn answer(result: Result<ChannelState, ChannelError>) -> Response {
    match result {
        Ok(state) => Json(state).into_response(),
        Err(ChannelError::Unknown(name)) => {
            error(StatusCode::NOT_FOUND, format!("no channel named `{name}`"))
        }
        Err(ChannelError::Store(failure)) => store_error(failure),
    }
}

/// `GET /api/channels`.
pub async fn list(State(shared): State<Arc<Shared>>) -> Response {
    match states(&shared.bridge(), shared.store.as_ref()).await {
        Ok(states) => Json(states).into_response(),
        Err(failure) => store_error(failure),
    }
}

#[derive(Deserialize, Default)]
struct PauseRequest {
    reason: Option<String>,
}

/// `POST /api/channels/{name}/pause`, optionally `{"reason": "…"}`.
pub async fn pause_channel(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let request: PauseRequest = match body.is_empty() {
        true => PauseRequest::default(),
        false => match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(failure) => {
                return error(StatusCode::BAD_REQUEST, format!("expected {{reason?}}: {failure}"))
            }
        },
    };
    answer(pause(&shared.bridge(), shared.store.as_ref(), &name, request.reason).await)
}

/// `POST /api/channels/{name}/resume`: the channel's worker goes on at once.
pub async fn resume_channel(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let result = resume(&shared.bridge(), shared.store.as_ref(), &name).await;
    if result.is_ok() {
        shared.wakers.wake(&name);
    }
    answer(result)
}
