//! Slack incoming webhooks: `{"text": …}` or a template's own body (blocks);
//! success is `200 ok`, 429 carries `Retry-After`.

use reqwest::Client;
use serde_json::{json, Value};

use super::{classify, post, Answer, Dialect, SendOutcome};
use crate::config::ChannelConfig;
use crate::render::Draft;

const DIALECT: Dialect =
    Dialect { retry_after_in_body: false, rate_limit_headers: false, not_found_is_gone: false };

/// The body's shape only: `limits` cuts it to Slack's limits, links kept whole.
pub fn compose(draft: Draft) -> Value {
    match draft {
        Draft::Text(text) => json!({ "text": text.trim() }),
        Draft::Body(body) => Value::Object(body),
    }
}

pub async fn send(client: &Client, channel: &ChannelConfig, body: &str) -> Answer {
    let url = channel.url.as_ref().expect("checked at load: slack channels have a url");
    let Ok(url) = url::Url::parse(url.expose()) else {
        return Answer::without_response(SendOutcome::Permanent { status: 0, body: "invalid url".into() });
    };
    match post(client, url, body, None).await {
        Ok(response) => classify(response, DIALECT).await,
        Err(outcome) => Answer::without_response(outcome),
    }
}
