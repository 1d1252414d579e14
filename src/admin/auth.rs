//! The admin token: `Authorization: Bearer <admin_token>`, compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::verify::tokens_match;
use crate::Shared;

pub async fn require_token(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let Some(expected) = shared.bridge().config.admin_token.clone() else {
        // No token configured: the API does not exist, as far as anyone can tell.
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")));
    match given {
        Some(token) if tokens_match(expected.expose(), token.trim()) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": "missing or wrong admin token" })),
        )
            .into_response(),
    }
}
