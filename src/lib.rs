//! storybridge: tracker webhooks in, chat messages out.
//!
//! A request travels the modules in this order:
//! `ingest` (HTTP, limits) → `verify` (HMAC / token) → `normalize` (one event
//! model) → `store` (the raw event, committed before the 2xx). Off the request
//! path, `route` takes it from there: `resolve` (names for ids) → `rules`
//! (which rules fire) → `render` (templates), shown in one function by
//! `pipeline::process`, and commits the messages → `deliver` (per-channel
//! workers, pace, retries) → `sinks` (Slack, Discord, console). `config` turns
//! `bridge.yaml` into typed values before any of it runs, and `bridge` compiles
//! them with the templates; `state` holds what the running stages share, and
//! `app` starts and stops them.

pub mod admin;
pub mod app;
pub mod bridge;
pub mod clock;
pub mod config;
pub mod deliver;
pub mod digest;
pub mod ingest;
pub mod metrics;
pub mod normalize;
pub mod pipeline;
pub mod reload;
pub mod render;
pub mod resolve;
pub mod route;
pub mod rules;
pub mod server;
pub mod sinks;
pub mod state;
pub mod store;
pub mod verify;

pub use app::{run, serve, Launch};
pub use bridge::Bridge;
pub use state::{http_client, Shared};
