//! The chat platforms: how a rendered draft becomes a request body, and what
//! each platform's answer means for delivery.

mod console;
mod discord;
mod slack;

use std::time::Duration;

use reqwest::Client;
use serde_json::Value;

use crate::config::{ChannelConfig, ChannelKind};
use crate::render::Draft;

/// What one attempt to post a message came to.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Delivered,
    /// 429: send again after this long; not a failure.
    RateLimited(Duration),
    /// 5xx, timeout, connection refused: worth retrying.
    Transient(String),
    /// Any other answer: retrying would fail the same way.
    Permanent {
        status: u16,
        body: String,
    },
}

/// The JSON body a channel would receive, or `None` when the template rendered
/// nothing (a template may stay silent for changes it does not want to show).
pub fn compose(channel: &ChannelConfig, draft: Draft) -> Option<Value> {
    if let Draft::Text(text) = &draft {
        if text.trim().is_empty() {
            return None;
        }
    }
    Some(match channel.kind {
        ChannelKind::Slack => slack::compose(draft),
        ChannelKind::Discord => discord::compose(channel, draft),
        ChannelKind::Console => console::compose(draft),
    })
}

pub async fn send(client: &Client, channel: &ChannelConfig, body: &Value) -> SendOutcome {
    match channel.kind {
        ChannelKind::Console => console::print(body),
        ChannelKind::Slack => slack::send(client, channel, body).await,
        ChannelKind::Discord => discord::send(client, channel, body).await,
    }
}

/// `https://hooks.slack.com/…`: enough to tell channels apart in a log line,
/// without the path that holds the webhook's credential.
pub fn redacted_url(channel: &ChannelConfig) -> String {
    let Some(url) = &channel.url else {
        return channel.kind.to_string();
    };
    match url::Url::parse(url.expose()) {
        Ok(parsed) => format!("{}://{}/…", parsed.scheme(), parsed.host_str().unwrap_or("?")),
        Err(_) => "<invalid url>".into(),
    }
}

/// Cuts `text` to at most `limit` characters (Unicode scalar values, as both
/// platforms count), ending with an ellipsis when anything was cut.
pub fn truncate_chars(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn transient(error: reqwest::Error) -> SendOutcome {
    // reqwest's Display includes the URL, which holds the webhook's credential.
    let error = error.without_url();
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    SendOutcome::Transient(format!("{kind}: {error}"))
}

/// A `Retry-After` header in seconds (the only form Slack and Discord send).
fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers.get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
    seconds_to_duration(seconds)
}

fn seconds_to_duration(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

async fn classify(response: reqwest::Response, retry_after_in_body: bool) -> SendOutcome {
    let status = response.status();
    if status.is_success() {
        return SendOutcome::Delivered;
    }
    let header_wait = retry_after_header(response.headers());
    let body = response.text().await.unwrap_or_default();
    if status.as_u16() == 429 {
        let body_wait = retry_after_in_body
            .then(|| serde_json::from_str::<Value>(&body).ok())
            .flatten()
            .and_then(|json| json.get("retry_after")?.as_f64())
            .and_then(seconds_to_duration);
        return SendOutcome::RateLimited(body_wait.or(header_wait).unwrap_or(Duration::from_secs(1)));
    }
    let body = truncate_chars(&body, 500);
    if status.is_server_error() {
        SendOutcome::Transient(format!("HTTP {}: {body}", status.as_u16()))
    } else {
        SendOutcome::Permanent {
            status: status.as_u16(),
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("héllo wörld", 6), "héllo…");
        assert_eq!(truncate_chars("🎉🎉🎉", 2), "🎉…");
    }
}
