//! Every way a request can be refused, and the one place that maps each to an
//! HTTP status. Nothing a client sends can produce a 5xx.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::normalize::{DecodeError, NormalizeError};
use crate::verify::VerifyError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no source named `{0}`")]
    UnknownSource(String),
    #[error("unsupported content type (send application/json or application/x-www-form-urlencoded)")]
    UnsupportedMediaType,
    #[error("{0}")]
    BadQuery(&'static str),
    #[error("webhooks are POSTed")]
    MethodNotAllowed,
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("could not read the body")]
    UnreadableBody,
    #[error("the body did not arrive in time")]
    SlowBody,
    /// Our limit, not the client's fault: bodies in flight hold all the
    /// memory allowed for them (`max_body_bytes_in_flight`).
    #[error("too many requests in progress; send it again later")]
    Busy,
    #[error("{0}")]
    Unauthorized(#[from] VerifyError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Normalize(#[from] NormalizeError),
    /// Our fault, not the client's: it should send again later.
    #[error("cannot store the event right now; send it again later")]
    Store(#[from] crate::store::StoreError),
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::UnknownSource(_) => StatusCode::NOT_FOUND,
            IngestError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::BadQuery(_) => StatusCode::BAD_REQUEST,
            IngestError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::SlowBody => StatusCode::REQUEST_TIMEOUT,
            IngestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            IngestError::UnreadableBody | IngestError::Decode(_) | IngestError::Normalize(_) => {
                StatusCode::BAD_REQUEST
            }
            IngestError::Store(_) | IngestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IngestError {
    /// The `outcome` label of the `events_received` metric.
    pub fn outcome(&self) -> &'static str {
        match self {
            IngestError::UnknownSource(_) => "unknown_source",
            IngestError::UnsupportedMediaType => "unsupported_media_type",
            IngestError::BadQuery(_) => "bad_request",
            IngestError::MethodNotAllowed => "method_not_allowed",
            IngestError::TooLarge(_) => "too_large",
            IngestError::SlowBody => "timeout",
            IngestError::Unauthorized(_) => "bad_signature",
            IngestError::UnreadableBody | IngestError::Decode(_) | IngestError::Normalize(_) => "bad_request",
            IngestError::Store(_) => "store_unavailable",
            IngestError::Busy => "busy",
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        // A 401 says no more than that: which header, secret or step failed
        // would help someone guessing.
        let message = match &self {
            // A stale stamp on a valid signature tells the sender's admin
            // which clock to fix, and nothing to someone guessing.
            IngestError::Unauthorized(error @ (VerifyError::Stale(_) | VerifyError::NoTimestamp)) => {
                error.to_string()
            }
            IngestError::Unauthorized(_) => "invalid or missing signature".to_owned(),
            other => other.to_string(),
        };
        let mut response = (self.status(), Json(json!({ "error": message }))).into_response();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(axum::http::header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_limits_answer_503_with_a_time_to_come_back() {
        for error in [IngestError::Busy, IngestError::Store(crate::store::StoreError::Closed)] {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[RETRY_AFTER], "1");
        }
        let response = IngestError::SlowBody.into_response();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(response.headers().get(RETRY_AFTER).is_none());
    }
}
