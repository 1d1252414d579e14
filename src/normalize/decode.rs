//! From verified bytes to JSON: a JSON body, or a form body whose `payload`
//! field holds the JSON (GitHub's and Clubmed's form encoding).

use serde_json::Value;

use crate::verify::Verified;

/// How the sender encoded the body, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Form,
}

impl BodyFormat {
    /// The format a `Content-Type` names: JSON when there is none, `None` for
    /// a type the bridge does not read (ingest answers 415).
    pub fn of(content_type: Option<&str>) -> Option<BodyFormat> {
        let Some(content_type) = content_type else { return Some(BodyFormat::Json) };
        let media_type = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match media_type.as_str() {
            "application/json" => Some(BodyFormat::Json),
            "application/x-www-form-urlencoded" => Some(BodyFormat::Form),
            other if other.starts_with("application/") && other.ends_with("+json") => Some(BodyFormat::Json),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("form body has no `payload` field (send JSON with Content-Type: application/json)")]
    NoPayloadField,
}

pub fn decode(verified: &Verified, format: BodyFormat) -> Result<Value, DecodeError> {
    match format {
        BodyFormat::Json => serde_json::from_slice(verified.body()).map_err(DecodeError::Json),
        // curl sends form encoding unless told otherwise; a form body never starts
        // with `{`, so one that does is the JSON its sender meant.
        BodyFormat::Form if verified.body().trim_ascii_start().starts_with(b"{") => {
            serde_json::from_slice(verified.body()).map_err(DecodeError::Json)
        }
        BodyFormat::Form => {
            let payload = form_urlencoded::parse(verified.body())
                .find(|(key, _)| key == "payload")
                .map(|(_, value)| value)
                .ok_or(DecodeError::NoPayloadField)?;
            serde_json::from_str(&payload).map_err(DecodeError::Json)
        }
    }
}
