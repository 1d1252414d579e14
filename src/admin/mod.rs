//! Operating a running bridge: health and metrics for monitors, and a token-
//! protected API for admins (the delivery log, stored events, retries, replays,
//! test messages, previews, reloads).

mod api;
mod auth;
pub mod channels;
mod console;
mod health;
pub mod preview;
mod templates;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use api::send_test_message;

use crate::Shared;

/// `/healthz` and `/readyz`: unauthenticated, on every listener (load
/// balancers probe the public one).
pub fn probes_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .with_state(shared)
}

/// `/metrics`: unauthenticated, served with the admin API (on `admin_listen`
/// when it is set, so a public port does not show queue depths and rules).
pub fn metrics_router(shared: Arc<Shared>) -> Router {
    Router::new().route("/metrics", get(health::metrics)).with_state(shared)
}

/// The console's page and assets: no token to load them (they hold no
/// data), 404 like the API while no `admin_token` is configured.
pub fn console_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/console", get(console::page))
        .route("/console/console.js", get(console::script))
        .route("/console/console.css", get(console::style))
        .with_state(shared)
}

/// The admin API. Every route needs `Authorization: Bearer <admin_token>`, and
/// answers 404 while no `admin_token` is configured.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/deliveries", get(api::deliveries))
        .route("/api/deliveries/{id}/retry", post(api::retry))
        .route("/api/deliveries/{id}/attempts", get(api::attempts))
        .route("/api/events/{id}", get(api::event))
        .route("/api/events/{id}/reroute", post(api::reroute))
        .route("/api/replay", post(api::replay))
        .route("/api/sources", get(api::sources))
        .route("/api/events", get(api::recent_events))
        .route("/api/channels", get(channels::list))
        .route("/api/channels/{name}/pause", post(channels::pause_channel))
        .route("/api/channels/{name}/resume", post(channels::resume_channel))
        .route("/api/channels/{name}/test", post(api::test_channel))
        .route("/api/channels/{name}/send", post(templates::send))
        .route("/api/channels/{name}/digest", get(api::digest).post(api::send_digest))
        .route("/api/preview", post(api::preview))
        .route("/api/preview/edited", post(templates::preview))
        .route("/api/templates", get(templates::list))
        .route("/-/reload", post(api::reload))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), auth::require_token))
        .with_state(shared)
}
