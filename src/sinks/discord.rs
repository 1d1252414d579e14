//! Discord webhooks: `{"content": …}` or a template's own body (embeds), always
//! with `allowed_mentions` so tracker text cannot ping, and `?wait=true` so a 2xx
//! means Discord saved the message.

use reqwest::Client;
use serde_json::{json, Map, Value};

use super::{classify, post, Answer, Dialect, SendOutcome};
use crate::config::ChannelConfig;
use crate::render::Draft;

/// Discord asks bots to identify themselves this way; Cloudflare may block others.
const USER_AGENT: &str =
    concat!("DiscordBot (https://github.com/storybridge/storybridge, ", env!("CARGO_PKG_VERSION"), ")");

const DIALECT: Dialect =
    Dialect { retry_after_in_body: true, rate_limit_headers: true, not_found_is_gone: true };

/// The body's shape and its mention policy: `limits` cuts it to Discord's
/// limits, links kept whole.
pub fn compose(channel: &ChannelConfig, draft: Draft) -> Value {
    let mut body = match draft {
        Draft::Text(text) => {
            let mut body = Map::new();
            body.insert("content".into(), Value::String(text.trim().to_owned()));
            body
        }
        Draft::Body(body) => body,
    };
    for (key, value) in [("username", &channel.username), ("avatar_url", &channel.avatar_url)] {
        if let Some(value) = value {
            body.entry(key).or_insert_with(|| Value::String(value.clone()));
        }
    }
    // Forced, even over a template's own choice: only the channel config may
    // allow mentions, and then only of the users the message itself mentions
    // (from `people:`), so neither a template edit nor a story title can ping
    // @everyone or a role.
    let users = if channel.mentions { mentioned_users(&body) } else { Vec::new() };
    let allowed =
        if users.is_empty() { json!({ "parse": [] }) } else { json!({ "parse": [], "users": users }) };
    body.insert("allowed_mentions".into(), allowed);
    // A layout may leave `content` empty when there is nobody to ping.
    match body.get("content").and_then(Value::as_str).map(str::trim) {
        Some("") => drop(body.remove("content")),
        Some(content) => {
            let trimmed = Value::String(content.to_owned());
            body.insert("content".into(), trimmed);
        }
        None => {}
    }
    Value::Object(body)
}

/// User ids mentioned as `<@123>` in `content` (the only place Discord pings
/// from), not escaped as `\<@123\>` (tracker text is). At most 100, Discord's cap.
fn mentioned_users(body: &Map<String, Value>) -> Vec<String> {
    let Some(content) = body.get("content").and_then(Value::as_str) else { return Vec::new() };
    let mut users: Vec<String> = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        let escaped = rest[..start].ends_with('\\');
        let after = &rest[start + 2..];
        let id: String = after.chars().take_while(char::is_ascii_digit).collect();
        if !escaped && !id.is_empty() && after[id.len()..].starts_with('>') && !users.contains(&id) {
            users.push(id);
        }
        rest = after;
    }
    users.truncate(100);
    users
}

pub async fn send(client: &Client, channel: &ChannelConfig, body: &str) -> Answer {
    let url = channel.url.as_ref().expect("checked at load: discord channels have a url");
    let Ok(mut url) = url::Url::parse(url.expose()) else {
        return Answer::without_response(SendOutcome::Permanent { status: 0, body: "invalid url".into() });
    };
    url.query_pairs_mut().append_pair("wait", "true");
    match post(client, url, body, Some(USER_AGENT)).await {
        Ok(response) => classify(response, DIALECT).await,
        Err(outcome) => Answer::without_response(outcome),
    }
}
