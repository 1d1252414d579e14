//! Authenticating a request before a byte of it is parsed: HMAC-SHA256 over the
//! raw body for signing senders, a URL token for Pivotal, a header token for
//! GitLab. Linear's signed timestamp is checked here too: a replayed body is
//! as unauthenticated as a forged one.
//!
//! Only this module builds a [`Verified`] body; `normalize` takes nothing else.

mod hmac;
mod linear;
mod token;

use axum::http::HeaderMap;
use bytes::Bytes;

use crate::config::SourceConfig;

pub use self::hmac::{sign_hex, SignatureError};
pub use self::token::tokens_match;

/// Headers Shortcut has used for its signature, newest first. `Shortcut-Signature`
/// appears only in its help centre, but costs nothing to accept.
pub const SHORTCUT_SIGNATURE_HEADERS: &[&str] =
    &["payload-signature", "clubhouse-signature", "shortcut-signature"];

/// GitHub's SHA-256 signature (`sha256=<hex>`); the SHA-1 `X-Hub-Signature` is not taken.
pub const GITHUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Jira Cloud's admin webhooks sign in the WebSub format, `sha256=<hex>`.
pub const JIRA_SIGNATURE_HEADER: &str = "x-hub-signature";
/// Linear: the bare hex HMAC.
pub const LINEAR_SIGNATURE_HEADER: &str = "linear-signature";
pub const GITLAB_TOKEN_HEADER: &str = "x-gitlab-token";

pub use self::linear::MAX_CLOCK_SKEW as LINEAR_MAX_CLOCK_SKEW;

/// A request body whose sender proved it holds a configured secret (or whose
/// source is explicitly configured `allow_unsigned`).
#[derive(Debug, Clone)]
pub struct Verified {
    body: Bytes,
}

impl Verified {
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// A body read from the admin's own file (`storybridge preview`): trusted
    /// because it did not come over the network.
    pub fn local_file(body: Bytes) -> Self {
        Verified { body }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing signature header")]
    MissingSignature,
    #[error("signature does not match")]
    BadSignature(#[from] SignatureError),
    #[error("missing or wrong token")]
    BadToken,
    /// Signed, but sent too long ago or stamped in the future: a replay, or a
    /// clock that is off (ours or the sender's).
    #[error("webhookTimestamp is {0} s away from this server's clock (at most 60 s is taken): a replayed request, or a clock that is wrong")]
    Stale(u64),
    #[error("the signed body carries no webhookTimestamp, so it could be replayed at will")]
    NoTimestamp,
}

/// Checks `body` against the source's secrets. `token` is the request's `?token=`.
pub fn verify(
    source: &SourceConfig,
    headers: &HeaderMap,
    token: Option<&str>,
    body: Bytes,
) -> Result<Verified, VerifyError> {
    match source {
        SourceConfig::Shortcut(shortcut) => check_signed(
            headers,
            SHORTCUT_SIGNATURE_HEADERS,
            None,
            &shortcut.secrets,
            shortcut.allow_unsigned,
            &body,
        )?,
        SourceConfig::Pivotal(pivotal) => match (&pivotal.token, token) {
            (Some(expected), Some(given)) if tokens_match(expected.expose(), given) => {}
            (None, _) if pivotal.allow_unsigned => {}
            _ => return Err(VerifyError::BadToken),
        },
        SourceConfig::Github(github) => {
            let names = &[GITHUB_SIGNATURE_HEADER];
            check_signed(headers, names, Some("sha256="), &github.secrets, github.allow_unsigned, &body)?
        }
        SourceConfig::Jira(jira) => check_signed(
            headers,
            &[JIRA_SIGNATURE_HEADER],
            Some("sha256="),
            &jira.secrets,
            jira.allow_unsigned,
            &body,
        )?,
        SourceConfig::Linear(linear) => check_signed(
            headers,
            &[LINEAR_SIGNATURE_HEADER],
            None,
            &linear.secrets,
            linear.allow_unsigned,
            &body,
        )?,
        SourceConfig::Gitlab(gitlab) => {
            if !gitlab.allow_unsigned || gitlab.all_tokens().next().is_some() {
                let matched = headers.get_all(GITLAB_TOKEN_HEADER).iter().any(|given| {
                    std::str::from_utf8(given.as_bytes()).is_ok_and(|given| {
                        gitlab.all_tokens().any(|token| tokens_match(token.expose(), given))
                    })
                });
                if !matched {
                    return Err(VerifyError::BadToken);
                }
            }
        }
        SourceConfig::Generic(generic) => {
            if let Some(signature) = &generic.signature {
                let header = signature.header.to_ascii_lowercase();
                check_headers(
                    headers,
                    &[header.as_str()],
                    signature.prefix.as_deref(),
                    &generic.secrets,
                    &body,
                )?;
            }
        }
    }
    Ok(Verified { body })
}

/// The second half of verifying a source that signs a timestamp inside its
/// body (Linear): run on the decoded body, so a body that is not JSON is a 400
/// before it is a replay. A body read back from the store or the admin's file
/// is never checked: its age is not the sender's doing.
pub fn fresh(
    source: &SourceConfig,
    payload: &serde_json::Value,
    now: std::time::SystemTime,
) -> Result<(), VerifyError> {
    match source {
        SourceConfig::Linear(signed) if !signed.allow_unsigned || !signed.secrets.is_empty() => {
            linear::check_timestamp(payload, now)
        }
        _ => Ok(()),
    }
}

/// A source that signs: checked unless it is explicitly unsigned and has no
/// secret to check with (a secret, once given, is always required).
fn check_signed(
    headers: &HeaderMap,
    names: &[&str],
    prefix: Option<&str>,
    secrets: &[crate::config::Secret],
    allow_unsigned: bool,
    body: &[u8],
) -> Result<(), VerifyError> {
    if allow_unsigned && secrets.is_empty() {
        return Ok(());
    }
    check_headers(headers, names, prefix, secrets, body)
}

/// Accepts when any value of any of `names` carries a valid signature under any
/// secret. A sender that repeats the header gains nothing: each value must itself
/// be a valid HMAC.
fn check_headers(
    headers: &HeaderMap,
    names: &[&str],
    prefix: Option<&str>,
    secrets: &[crate::config::Secret],
    body: &[u8],
) -> Result<(), VerifyError> {
    let mut last_error = None;
    for name in names {
        for value in headers.get_all(*name) {
            match hmac::check(value.as_bytes(), prefix, secrets, body) {
                Ok(()) => return Ok(()),
                Err(error) => last_error = Some(error),
            }
        }
    }
    Err(last_error.map_or(VerifyError::MissingSignature, VerifyError::BadSignature))
}
