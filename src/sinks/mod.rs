//! The chat platforms: how a rendered draft becomes a request body, and what
//! each platform's answer means for delivery.

mod console;
pub mod discord;
mod limits;
mod slack;
pub mod slack_bot;

use std::time::Duration;

use reqwest::Client;
use serde_json::Value;

use crate::config::{ChannelConfig, ChannelKind};
use crate::render::Draft;
use crate::store::ThreadRoot;

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
    /// The webhook does not exist (Discord 404). Retrying would not help, and
    /// Discord bans IPs that keep calling dead webhooks: stop using the URL.
    Gone {
        status: u16,
        body: String,
    },
    /// The message (or thread) this one was to edit or reply under no longer
    /// takes it (deleted, too old): post a fresh one instead.
    Stale {
        status: u16,
        body: String,
    },
    /// Discord: the message lives in an archived thread, which takes no edits
    /// until a message posted into it unarchives it.
    Archived {
        status: u16,
        body: String,
    },
}

impl Answer {
    /// The story's message is gone: a fresh one is due.
    pub fn is_stale(&self) -> bool {
        matches!(self.outcome, SendOutcome::Stale { .. })
    }
}

/// A platform's answer to one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub outcome: SendOutcome,
    /// The HTTP status, when there was an answer at all.
    pub status: Option<u16>,
    /// Wait this long before the channel's next request: the platform said its
    /// budget is spent (Discord `X-RateLimit-Remaining: 0`).
    pub pause: Option<Duration>,
    /// Where the message landed, when the platform says (Slack's Web API):
    /// what a story's later messages reply under.
    pub posted: Option<ThreadRoot>,
}

impl Answer {
    /// What came of a request that got no answer (or needed none).
    pub fn without_response(outcome: SendOutcome) -> Self {
        Answer { outcome, status: None, pause: None, posted: None }
    }
}

/// A body ready to send, and what had to be cut to fit the platform's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub body: Value,
    pub cuts: Vec<String>,
}

/// The JSON body a channel would receive, fitted to the platform's limits, or
/// `None` when the template rendered nothing (a template may stay silent for
/// changes it does not want to show).
pub fn compose(channel: &ChannelConfig, draft: Draft) -> Option<Composed> {
    if let Draft::Text(text) = &draft {
        if text.trim().is_empty() {
            return None;
        }
    }
    let mut body = match channel.kind {
        ChannelKind::Slack => slack::compose(draft),
        ChannelKind::Discord => discord::compose(channel, draft),
        ChannelKind::Console => console::compose(draft),
    };
    let cuts = match channel.kind {
        ChannelKind::Slack => limits::fit_slack(&mut body),
        ChannelKind::Discord => limits::fit_discord(&mut body),
        ChannelKind::Console => Vec::new(),
    };
    Some(Composed { body, cuts })
}

/// Posts a stored body (JSON text, as composed) to `channel`, as a reply
/// under `thread` when the channel threads and the story has a root.
pub async fn send(
    client: &Client,
    channel: &ChannelConfig,
    body: &str,
    thread: Option<&ThreadRoot>,
) -> Answer {
    if let Some(bot) = &channel.bot {
        return slack_bot::send(client, bot, body, slack_bot::Action::Post { thread }).await;
    }
    match channel.kind {
        ChannelKind::Console => Answer::without_response(console::print(body)),
        ChannelKind::Slack => slack::send(client, channel, body).await,
        ChannelKind::Discord => discord::send(client, channel, body).await,
    }
}

/// `https://hooks.slack.com/…`: enough to tell channels apart in a log line,
/// without the path that holds the webhook's credential.
pub fn redacted_url(channel: &ChannelConfig) -> String {
    if let Some(bot) = &channel.bot {
        return format!("slack-bot {}", bot.channel.as_deref().unwrap_or("?"));
    }
    let Some(url) = &channel.url else {
        return channel.kind.to_string();
    };
    match url::Url::parse(url.expose()) {
        Ok(parsed) => format!("{}://{}/…", parsed.scheme(), parsed.host_str().unwrap_or("?")),
        Err(_) => "<invalid url>".into(),
    }
}

/// A short, stable name for a channel URL, so a pause can tell whether the URL
/// has changed since, without storing the URL (a credential) itself.
pub fn url_fingerprint(channel: &ChannelConfig) -> String {
    // A bot's "URL" is its token, channel and API together: fixing any resumes it.
    let url = match &channel.bot {
        Some(bot) => format!(
            "{}\n{}\n{}",
            bot.token.as_ref().map(|token| token.expose()).unwrap_or_default(),
            bot.channel.as_deref().unwrap_or_default(),
            bot.api_url
        ),
        None => channel.url.as_ref().map(|url| url.expose()).unwrap_or_default().to_owned(),
    };
    let digest = <sha2::Sha256 as sha2::Digest>::digest(url.as_bytes());
    hex::encode(&digest[..8])
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

async fn post(
    client: &Client,
    url: url::Url,
    body: &str,
    user_agent: Option<&str>,
) -> Result<reqwest::Response, SendOutcome> {
    let mut request = client.post(url).header("content-type", "application/json").body(body.to_owned());
    if let Some(user_agent) = user_agent {
        request = request.header("user-agent", user_agent);
    }
    request.send().await.map_err(transient)
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

/// How the platforms' answers read. Slack: `Retry-After` on 429. Discord:
/// `retry_after` (seconds, fractional) in the 429 body, `X-RateLimit-*` on every
/// answer, and 404 for a webhook that no longer exists.
#[derive(Clone, Copy)]
struct Dialect {
    retry_after_in_body: bool,
    rate_limit_headers: bool,
    not_found_is_gone: bool,
}

async fn classify(response: reqwest::Response, dialect: Dialect) -> Answer {
    let status = response.status();
    let pause = if dialect.rate_limit_headers { spent_budget_wait(response.headers()) } else { None };
    let answer = |outcome| Answer { outcome, status: Some(status.as_u16()), pause, posted: None };
    if status.is_success() {
        return answer(SendOutcome::Delivered);
    }
    let header_wait = retry_after_header(response.headers());
    let body = response.text().await.unwrap_or_default();
    if status.as_u16() == 429 {
        let body_wait = dialect
            .retry_after_in_body
            .then(|| serde_json::from_str::<Value>(&body).ok())
            .flatten()
            .and_then(|json| json.get("retry_after")?.as_f64())
            .and_then(seconds_to_duration);
        let wait = body_wait.or(header_wait).unwrap_or(Duration::from_secs(1));
        return answer(SendOutcome::RateLimited(wait));
    }
    let body = truncate_chars(&body, 500);
    if status.is_server_error() {
        answer(SendOutcome::Transient(format!("HTTP {}: {body}", status.as_u16())))
    } else if status.as_u16() == 404 && dialect.not_found_is_gone {
        answer(SendOutcome::Gone { status: 404, body })
    } else {
        answer(SendOutcome::Permanent { status: status.as_u16(), body })
    }
}

/// `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset-After: 1.5`: the next
/// request would be a 429, so wait out the reset first.
fn spent_budget_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    if number("x-ratelimit-remaining")? > 0.0 {
        return None;
    }
    seconds_to_duration(number("x-ratelimit-reset-after")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_discord_budget_waits_for_its_reset() {
        let headers = |remaining: &str| {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert("x-ratelimit-remaining", remaining.parse().unwrap());
            headers.insert("x-ratelimit-reset-after", "1.25".parse().unwrap());
            headers
        };
        assert_eq!(spent_budget_wait(&headers("0")), Some(Duration::from_millis(1250)));
        assert_eq!(spent_budget_wait(&headers("4")), None);
        assert_eq!(spent_budget_wait(&reqwest::header::HeaderMap::new()), None);
    }

    fn channel(yaml: &str) -> ChannelConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_long_text_message_is_cut_once_keeping_its_links_whole_and_says_so() {
        let link = "<https://app.shortcut.com/acme/story/1|a story> ";
        let text = link.repeat(1_000);
        let slack = channel("{ kind: slack, url: \"https://hooks.slack.com/services/T/B/x\" }");
        let composed = compose(&slack, Draft::Text(text)).unwrap();
        let cut = composed.body["text"].as_str().unwrap();
        assert!(cut.chars().count() <= 40_000 && cut.ends_with('…'), "{}", cut.chars().count());
        assert_eq!(cut.matches('<').count(), cut.matches('>').count(), "a link was split");
        let length = link.chars().count() * 1_000 - 1;
        assert_eq!(composed.cuts, [format!("text: {length} → {} characters", cut.chars().count())]);

        let discord = channel("{ kind: discord, url: \"https://discord.com/api/webhooks/1/x\" }");
        let markdown = "[a story](https://app.shortcut.com/acme/story/1) ".repeat(100);
        let composed = compose(&discord, Draft::Text(markdown)).unwrap();
        let cut = composed.body["content"].as_str().unwrap();
        assert!(cut.chars().count() <= 2_000 && cut.ends_with('…'), "{cut}");
        assert_eq!(cut.matches('[').count(), cut.matches(')').count(), "a link was split: {cut}");
        assert_eq!(composed.cuts.len(), 1);
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("héllo wörld", 6), "héllo…");
        assert_eq!(truncate_chars("🎉🎉🎉", 2), "🎉…");
    }
}
