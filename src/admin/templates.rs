//! Templates for the console's editor: `GET /api/templates` lists every
//! template with its text, `POST /api/preview/edited` previews an event under
//! templates edited in the page. Nothing is written: the YAML and the
//! template files stay the truth; the page offers the edited text to copy.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::error;
use crate::Shared;

/// `GET /api/templates`: `[{"file", "origin", "text"}]`, by file name.
pub async fn list(State(shared): State<Arc<Shared>>) -> Response {
    let bridge = shared.bridge();
    let templates: Vec<Value> = bridge
        .templates
        .sources()
        .map(|(file, origin, text)| json!({ "file": file, "origin": origin, "text": text }))
        .collect();
    Json(templates).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditedPreview {
    source: String,
    /// The event's body, as the tracker would send it.
    payload: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Template file name → its edited text.
    #[serde(default)]
    templates: BTreeMap<String, String>,
}

/// `POST /api/preview/edited`: the preview of `payload` under the edited
/// templates; 400 with `errors` (each naming its file, line and column) when
/// an edit does not compile.
pub async fn preview(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let request: EditedPreview = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(failure) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected {{source, payload, headers?, templates?}}: {failure}"),
            )
        }
    };
    let bridge = shared.bridge();
    if !bridge.config.sources.contains_key(&request.source) {
        return error(StatusCode::NOT_FOUND, format!("no source named `{}`", request.source));
    }
    let edited = match bridge.with_template_edits(&request.templates) {
        Ok(edited) => edited,
        Err(errors) => {
            let messages: Vec<String> = errors.0.iter().map(|problem| problem.message.clone()).collect();
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": messages.join("\n"), "errors": messages })),
            )
                .into_response();
        }
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        match (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => return error(StatusCode::BAD_REQUEST, format!("header `{name}` is not a valid header")),
        }
    }
    if !headers.contains_key(axum::http::header::CONTENT_TYPE) {
        headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    match super::preview::preview(&edited, &request.source, &headers, request.payload.into_bytes().into()) {
        Ok(preview) => Json(preview.to_json()).into_response(),
        Err(failure) => error(StatusCode::BAD_REQUEST, failure.to_string()),
    }
}
