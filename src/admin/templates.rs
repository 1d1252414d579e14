//! The console's tries: `GET /api/templates` lists every template with its
//! text, `POST /api/preview/edited` previews an event under templates edited
//! in the page, `POST /api/channels/{name}/send` sends one channel's message
//! of such a preview now, when the admin asks. No file is written: the YAML
//! and the template files stay the truth; the page offers the edited text.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::error;
use super::preview::Preview;
use crate::pipeline::RouteOutcome;
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
    match previewed(&shared, &body) {
        Ok(preview) => Json(preview.to_json()).into_response(),
        Err(response) => *response,
    }
}

/// `POST /api/channels/{name}/send` with the same body: the message that
/// preview draws for channel `name` (the first, if several changes route
/// there), posted now outside the queue; answers what the platform said (200,
/// or 502 if it was not delivered; 404 if nothing routes to the channel).
pub async fn send(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let bridge = shared.bridge();
    let Some(channel) = bridge.config.channels.get(&name) else {
        return error(StatusCode::NOT_FOUND, format!("no channel named `{name}`"));
    };
    let preview = match previewed(&shared, &body) {
        Ok(preview) => preview,
        Err(response) => return *response,
    };
    let Preview::Event { routes, .. } = &preview else {
        return error(StatusCode::NOT_FOUND, "a ping: nothing to send");
    };
    let message = routes.iter().find_map(|routed| match &routed.outcome {
        RouteOutcome::Message(body) if routed.channel == name => Some(body.json().to_string()),
        _ => None,
    });
    let Some(message) = message else {
        return error(StatusCode::NOT_FOUND, format!("this event draws no message for channel `{name}`"));
    };
    tracing::info!(channel = %name, "admin console: sending a previewed message now");
    let answer = super::api::send_now(&shared.client, &name, channel, &message).await;
    let status = if answer["outcome"] == "delivered" { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    (status, Json(answer)).into_response()
}

/// The preview, or the answer that refuses the request (boxed: a response is large).
fn previewed(shared: &Shared, body: &[u8]) -> Result<Preview, Box<Response>> {
    let bad = |message: String| Box::new(error(StatusCode::BAD_REQUEST, message));
    let request: EditedPreview = serde_json::from_slice(body)
        .map_err(|failure| bad(format!("expected {{source, payload, headers?, templates?}}: {failure}")))?;
    let bridge = shared.bridge();
    if !bridge.config.sources.contains_key(&request.source) {
        return Err(Box::new(error(StatusCode::NOT_FOUND, format!("no source named `{}`", request.source))));
    }
    let edited = bridge.with_template_edits(&request.templates).map_err(|errors| {
        let messages: Vec<String> = errors.0.iter().map(|problem| problem.message.clone()).collect();
        Box::new(
            (StatusCode::BAD_REQUEST, Json(json!({ "error": messages.join("\n"), "errors": messages })))
                .into_response(),
        )
    })?;
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        match (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => return Err(bad(format!("header `{name}` is not a valid header"))),
        }
    }
    if !headers.contains_key(axum::http::header::CONTENT_TYPE) {
        headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    super::preview::preview(&edited, &request.source, &headers, request.payload.into_bytes().into())
        .map_err(|failure| bad(failure.to_string()))
}
