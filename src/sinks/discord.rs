//! Discord webhooks: `{"content": …}` or a template's own body (embeds), always
//! with `allowed_mentions` so tracker text cannot ping, and `?wait=true` so a 2xx
//! means Discord saved the message.

use reqwest::Client;
use serde_json::{json, Map, Value};

use super::{classify, post, truncate_chars, Answer, Dialect, SendOutcome};
use crate::config::ChannelConfig;
use crate::render::Draft;

const CONTENT_LIMIT: usize = 2_000;

/// Discord asks bots to identify themselves this way; Cloudflare may block others.
const USER_AGENT: &str =
    concat!("DiscordBot (https://github.com/storybridge/storybridge, ", env!("CARGO_PKG_VERSION"), ")");

const DIALECT: Dialect =
    Dialect { retry_after_in_body: true, rate_limit_headers: true, not_found_is_gone: true };

pub fn compose(channel: &ChannelConfig, draft: Draft) -> Value {
    let mut body = match draft {
        Draft::Text(text) => {
            let mut body = Map::new();
            body.insert("content".into(), Value::String(truncate_chars(text.trim(), CONTENT_LIMIT)));
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
    // allow mentions, so a template edit cannot make story titles ping people.
    if !channel.mentions {
        body.insert("allowed_mentions".into(), json!({ "parse": [] }));
    }
    Value::Object(body)
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
