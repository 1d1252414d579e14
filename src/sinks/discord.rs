//! Discord webhooks: `{"content": …}` or a template's own body (embeds), always
//! with `allowed_mentions` so tracker text cannot ping, and `?wait=true` so a 2xx
//! means Discord saved the message.

use reqwest::Client;
use serde_json::{json, Map, Value};

use super::{classify, post, Answer, Dialect, SendOutcome};
use crate::config::ChannelConfig;
use crate::render::Draft;
use crate::store::ThreadRoot;

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

/// What a Discord channel that threads or edits does with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoryAction<'a> {
    /// A new message: in the thread `thread_id` when given; a forum post
    /// titled `thread_name` (the story) when given.
    Post { thread_id: Option<&'a str>, thread_name: Option<String> },
    /// Edit `message` (its id in `ts`); `thread_id` when it lives in a thread.
    Edit { message: &'a ThreadRoot, thread_id: Option<&'a str> },
}

/// Discord's JSON error codes the bridge acts on (opcodes-and-status-codes).
const UNKNOWN_MESSAGE: i64 = 10008;
const THREAD_ARCHIVED: i64 = 50083;
const THREAD_LOCKED: i64 = 160005;
/// "Maximum number of edits to messages older than 1 hour reached. Try again later."
const TOO_MANY_OLD_EDITS: i64 = 30046;

pub async fn send_story(
    client: &Client,
    channel: &ChannelConfig,
    body: &str,
    action: StoryAction<'_>,
) -> Answer {
    let url = channel.url.as_ref().expect("checked at load: discord channels have a url");
    let Ok(mut url) = url::Url::parse(url.expose()) else {
        return Answer::without_response(SendOutcome::Permanent { status: 0, body: "invalid url".into() });
    };
    let mut message: Map<String, Value> = serde_json::from_str(body).unwrap_or_default();
    let (method, thread_id) = match &action {
        StoryAction::Post { thread_id, thread_name } => {
            if let Some(name) = thread_name {
                message.insert("thread_name".into(), Value::String(name.clone()));
            }
            (reqwest::Method::POST, *thread_id)
        }
        StoryAction::Edit { message: edited, thread_id } => {
            url.path_segments_mut()
                .map(|mut path| {
                    path.push("messages").push(&edited.ts);
                })
                .ok();
            (reqwest::Method::PATCH, *thread_id)
        }
    };
    // `wait` is an execute parameter: an edit always answers with the message.
    if method == reqwest::Method::POST {
        url.query_pairs_mut().append_pair("wait", "true");
    }
    if let Some(thread_id) = thread_id {
        url.query_pairs_mut().append_pair("thread_id", thread_id);
    }
    let request = client
        .request(method, url)
        .header("content-type", "application/json")
        .header("user-agent", USER_AGENT)
        .body(Value::Object(message).to_string());
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Answer::without_response(super::transient(error)),
    };
    let status = response.status().as_u16();
    if response.status().is_success() {
        let reply: Value = response.json().await.unwrap_or(Value::Null);
        // A forum post's first message lives in the thread it created: its channel.
        let posted = match (reply["channel_id"].as_str(), reply["id"].as_str()) {
            (Some(channel_id), Some(id)) => Some(ThreadRoot { channel_id: channel_id.into(), ts: id.into() }),
            _ => None,
        };
        return Answer { outcome: SendOutcome::Delivered, status: Some(status), pause: None, posted };
    }
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let outcome = match story_error(status, &text) {
        Some(outcome) => outcome,
        None => {
            // Every other answer reads as for a plain post.
            let rebuilt = axum::http::Response::builder().status(status);
            let mut rebuilt = rebuilt.body(text).expect("a status and a body");
            *rebuilt.headers_mut() = headers;
            return classify(reqwest::Response::from(rebuilt), DIALECT).await;
        }
    };
    Answer { outcome, status: Some(status), pause: None, posted: None }
}

/// What Discord's JSON error code says about a story's message, checked
/// before the status: an edited message that is gone is a 404, which for the
/// webhook itself would mean "stop using this URL".
fn story_error(status: u16, text: &str) -> Option<SendOutcome> {
    let code = serde_json::from_str::<Value>(text).ok().and_then(|json| json["code"].as_i64())?;
    Some(match code {
        UNKNOWN_MESSAGE => {
            SendOutcome::Stale { status, body: format!("Discord: the message is gone ({text})") }
        }
        THREAD_ARCHIVED => SendOutcome::Archived {
            status,
            body: format!("Discord: the story's thread is archived ({text})"),
        },
        THREAD_LOCKED => {
            SendOutcome::Permanent { status, body: format!("Discord: the story's thread is locked: {text}") }
        }
        TOO_MANY_OLD_EDITS => {
            SendOutcome::Transient(format!("Discord: too many edits of old messages for now: {text}"))
        }
        _ => return None,
    })
}

/// A forum post's title: the story's name as the message shows it (the
/// embed's title, else the text's first line), 1 to 100 characters.
pub fn thread_name(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let name = body["embeds"][0]["title"]
        .as_str()
        .or_else(|| body["content"].as_str().and_then(|content| content.lines().next()))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or("story");
    super::truncate_chars(name, 100)
}

#[cfg(test)]
mod story_tests {
    use super::*;

    #[test]
    fn discord_codes_for_a_story_s_message_land_where_the_table_says() {
        let answer = |outcome| Answer { outcome, status: Some(404), pause: None, posted: None };
        assert!(answer(story_error(404, r#"{"code":10008}"#).unwrap()).is_stale());
        assert!(matches!(story_error(400, r#"{"code":50083}"#), Some(SendOutcome::Archived { .. })));
        let locked = story_error(403, r#"{"code":160005}"#).unwrap();
        assert!(matches!(&locked, SendOutcome::Permanent { .. }) && !answer(locked).is_stale());
        assert!(matches!(story_error(400, r#"{"code":30046}"#), Some(SendOutcome::Transient(_))));
        // Anything else is read as for a plain post (a 404 without a code: the webhook is gone).
        assert_eq!(story_error(404, r#"{"message":"Unknown Webhook","code":10015}"#), None);
        assert_eq!(story_error(404, "not json"), None);
    }

    #[test]
    fn a_forum_post_is_titled_with_the_story_within_discord_s_limit() {
        assert_eq!(thread_name(r#"{"embeds":[{"title":"Add cool feature!"}]}"#), "Add cool feature!");
        assert_eq!(thread_name(r#"{"content":"first line\nsecond"}"#), "first line");
        assert_eq!(thread_name(&format!(r#"{{"content":"{}"}}"#, "x".repeat(300))).chars().count(), 100);
        assert_eq!(thread_name("{}"), "story");
    }
}
