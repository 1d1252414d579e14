//! Reading a request body: which encoding it claims, and no more bytes than allowed.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::IngestError;
use crate::normalize::BodyFormat;

/// JSON, or a form whose `payload` field is JSON. A sender that names no type is
/// taken to send JSON, as trackers do.
pub fn format(headers: &HeaderMap) -> Result<BodyFormat, IngestError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyFormat::Json);
    };
    let media_type = value
        .to_str()
        .map_err(|_| IngestError::UnsupportedMediaType)?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "application/x-www-form-urlencoded" => Ok(BodyFormat::Form),
        other if other.starts_with("application/") && other.ends_with("+json") => Ok(BodyFormat::Json),
        _ => Err(IngestError::UnsupportedMediaType),
    }
}

/// Refuses a declared length over `limit` before reading, and stops reading an
/// undeclared one as soon as it passes `limit`.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, IngestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(IngestError::TooLarge(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(IngestError::TooLarge(limit)),
        Err(_) => Err(IngestError::UnreadableBody),
    }
}

/// Whitespace or a bare JSON `null`: what Shortcut's empty POSTs look like.
pub fn is_empty(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii();
    trimmed.is_empty() || trimmed == b"null"
}
