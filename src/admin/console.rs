//! `GET /console`: the admin console, a page compiled into the binary (no
//! CDN, no build step). The page and its script hold no data: they ask for the
//! admin token and call the admin API with it as a Bearer header (never in a
//! URL), so they are served without it, but only where the API exists (404
//! while no `admin_token` is configured). Tracker text is hostile: the script
//! builds every node with `textContent`, and the Content-Security-Policy lets
//! nothing run or load but these files.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::Shared;

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(shared: &Shared, content_type: &'static str, text: &'static str) -> Response {
    if shared.bridge().config.admin_token.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn page(State(shared): State<Arc<Shared>>) -> Response {
    asset(&shared, "text/html; charset=utf-8", PAGE)
}

pub async fn script(State(shared): State<Arc<Shared>>) -> Response {
    asset(&shared, "text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style(State(shared): State<Arc<Shared>>) -> Response {
    asset(&shared, "text/css; charset=utf-8", STYLE)
}
