//! Slack incoming webhooks: `{"text": …}` or a template's own body (blocks);
//! success is `200 ok`, 429 carries `Retry-After`.

use reqwest::Client;
use serde_json::{json, Value};

use super::{classify, transient, truncate_chars, SendOutcome};
use crate::config::ChannelConfig;
use crate::render::Draft;

/// Slack truncates `text` past 40,000 characters itself; cutting first keeps the
/// ellipsis ours and the request small.
const TEXT_LIMIT: usize = 40_000;

pub fn compose(draft: Draft) -> Value {
    match draft {
        Draft::Text(text) => json!({ "text": truncate_chars(text.trim(), TEXT_LIMIT) }),
        Draft::Body(body) => Value::Object(body),
    }
}

pub async fn send(client: &Client, channel: &ChannelConfig, body: &Value) -> SendOutcome {
    let url = channel
        .url
        .as_ref()
        .expect("checked at load: slack channels have a url");
    match client.post(url.expose()).json(body).send().await {
        Ok(response) => classify(response, false).await,
        Err(error) => transient(error),
    }
}
