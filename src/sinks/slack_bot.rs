//! Slack through the Web API with a bot token (`kind: slack-bot`): the body is
//! the webhook's, plus the `channel`, POSTed to `chat.postMessage`. Slack
//! answers 200 with `{"ok": false, "error": …}` for most failures, so the
//! error name, not the status, says what to do (next-capabilities §1.2).

use reqwest::Client;
use serde_json::Value;

use super::{retry_after_header, transient, truncate_chars, Answer, SendOutcome};
use crate::config::SlackBotConfig;
use crate::store::ThreadRoot;

/// Errors that mean the channel cannot work until an admin acts (invite the
/// bot, fix the token or scope): the channel pauses, as for a dead webhook.
const BROKEN: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "missing_scope",
    "no_permission",
    "restricted_action",
    "ekm_access_denied",
];

/// Slack's passing troubles: worth retrying with backoff.
const PASSING: &[&str] =
    &["service_unavailable", "fatal_error", "internal_error", "request_timeout", "update_failed"];

const RATE_LIMITED: &[&str] = &["ratelimited", "rate_limited", "message_limit_exceeded"];

/// What a Slack bot channel does with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// `chat.postMessage`: a new message, under `thread` when given.
    Post { thread: Option<&'a ThreadRoot> },
    /// `chat.update`: the story's card, edited to this body.
    Update { card: &'a ThreadRoot },
}

/// Errors of `chat.update` that mean the card is gone or can no longer be
/// edited: post a fresh one and re-point the story to it.
const STALE: &[&str] =
    &["message_not_found", "cant_update_message", "edit_window_closed", "cannot_reply_to_message"];

pub async fn send(client: &Client, bot: &SlackBotConfig, body: &str, action: Action<'_>) -> Answer {
    let (Some(token), Some(channel)) = (&bot.token, &bot.channel) else {
        return Answer::without_response(SendOutcome::Permanent {
            status: 0,
            body: "no token or channel".into(),
        });
    };
    let (method, message) = match request(body, channel, action) {
        Ok(request) => request,
        Err(error) => {
            return Answer::without_response(SendOutcome::Permanent { status: 0, body: error.into() })
        }
    };
    let url = format!("{}/{method}", bot.api_url.trim_end_matches('/'));
    let request = client
        .post(url)
        .bearer_auth(token.expose())
        .header("content-type", "application/json; charset=utf-8")
        .body(message);
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Answer::without_response(transient(error)),
    };
    let status = response.status().as_u16();
    let wait = retry_after_header(response.headers());
    let text = response.text().await.unwrap_or_default();
    let answer = |outcome| Answer { outcome, status: Some(status), pause: None, posted: None };
    if status == 429 {
        return answer(SendOutcome::RateLimited(wait.unwrap_or(std::time::Duration::from_secs(1))));
    }
    if status >= 500 {
        return answer(SendOutcome::Transient(format!("HTTP {status}: {}", truncate_chars(&text, 500))));
    }
    let reply: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if reply["ok"] == Value::Bool(true) {
        // The channel's id from the answer: later calls need it, not the #name.
        let posted = match (reply["channel"].as_str(), reply["ts"].as_str()) {
            (Some(channel_id), Some(ts)) => Some(ThreadRoot { channel_id: channel_id.into(), ts: ts.into() }),
            _ => None,
        };
        return Answer { posted, ..answer(SendOutcome::Delivered) };
    }
    let error = reply["error"].as_str().unwrap_or("no `ok` in Slack's answer").to_owned();
    answer(classify_error(&error, status, wait))
}

/// The Web API method and JSON body for one message: the stored body plus
/// where it goes (`channel`, `thread_ts` or the card's `ts`).
fn request(body: &str, channel: &str, action: Action<'_>) -> Result<(&'static str, String), &'static str> {
    let mut message =
        serde_json::from_str::<serde_json::Map<String, Value>>(body).map_err(|_| "not a JSON object")?;
    // Only a reply can be broadcast; a root or a card edit must not carry it
    // (on chat.update it would mean "broadcast this existing reply").
    if !matches!(action, Action::Post { thread: Some(_) }) {
        message.remove("reply_broadcast");
    }
    let method = match action {
        // A reply goes to the root's channel by id (a #name may have been renamed).
        Action::Post { thread: Some(root) } => {
            message.insert("channel".into(), Value::String(root.channel_id.clone()));
            message.insert("thread_ts".into(), Value::String(root.ts.clone()));
            "chat.postMessage"
        }
        Action::Post { thread: None } => {
            message.insert("channel".into(), Value::String(channel.trim().to_owned()));
            "chat.postMessage"
        }
        // chat.update takes the channel by id only, and the card's ts.
        Action::Update { card } => {
            message.insert("channel".into(), Value::String(card.channel_id.clone()));
            message.insert("ts".into(), Value::String(card.ts.clone()));
            // Slack refuses an update's text over 4,000 characters (postMessage takes 40,000).
            if let Some(Value::String(text)) = message.get_mut("text") {
                *text = truncate_chars(text, 4_000);
            }
            "chat.update"
        }
    };
    Ok((method, Value::Object(message).to_string()))
}

fn classify_error(error: &str, status: u16, wait: Option<std::time::Duration>) -> SendOutcome {
    if RATE_LIMITED.contains(&error) {
        return SendOutcome::RateLimited(wait.unwrap_or(std::time::Duration::from_secs(1)));
    }
    if PASSING.contains(&error) {
        return SendOutcome::Transient(format!("Slack: {error}"));
    }
    if BROKEN.contains(&error) || error.starts_with("restricted_action") {
        return SendOutcome::Gone { status, body: format!("Slack: {error} ({})", fix(error)) };
    }
    if STALE.contains(&error) {
        return SendOutcome::Stale { status, body: format!("Slack: {error}") };
    }
    // invalid_blocks, msg_too_long, no_text…: the message itself; kept dead.
    SendOutcome::Permanent { status, body: format!("Slack: {error}") }
}

/// What the admin must do, in the log line and the delivery's last error.
fn fix(error: &str) -> &'static str {
    match error {
        "channel_not_found" => "check `channel`: an id like C0123456789 or #name the bot can see",
        "not_in_channel" => {
            "invite the bot to the channel (/invite @bot), or give it the chat:write.public scope"
        }
        "is_archived" => "the channel is archived: unarchive it or point `channel` elsewhere",
        "missing_scope" | "no_permission" => "give the app the chat:write scope and reinstall it",
        _ => "the token is not valid: set a current bot token (xoxb-…)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_says_where_the_message_goes_and_an_update_fits_slack_s_limit() {
        let body = format!(r#"{{"text":"{}","blocks":[],"reply_broadcast":true}}"#, "x".repeat(5_000));
        let card = ThreadRoot { channel_id: "C9".into(), ts: "1.2".into() };
        let json = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        let (method, root) = request(&body, "#team", Action::Post { thread: None }).unwrap();
        let root = json(&root);
        assert_eq!(
            (method, root["channel"].as_str(), root.get("reply_broadcast")),
            ("chat.postMessage", Some("#team"), None)
        );
        let (_, reply) = request(&body, "#team", Action::Post { thread: Some(&card) }).unwrap();
        let reply = json(&reply);
        assert_eq!((reply["channel"].as_str(), reply["thread_ts"].as_str()), (Some("C9"), Some("1.2")));
        assert_eq!(reply["reply_broadcast"], true);
        let (method, edit) = request(&body, "#team", Action::Update { card: &card }).unwrap();
        let edit = json(&edit);
        assert_eq!(
            (method, edit["ts"].as_str(), edit.get("reply_broadcast")),
            ("chat.update", Some("1.2"), None)
        );
        assert_eq!(edit["text"].as_str().unwrap().chars().count(), 4_000);
        assert!(request("[]", "#team", Action::Post { thread: None }).is_err());
    }

    #[test]
    fn slack_errors_land_where_the_table_says() {
        let second = std::time::Duration::from_secs(2);
        assert_eq!(classify_error("ratelimited", 200, Some(second)), SendOutcome::RateLimited(second));
        assert!(matches!(classify_error("service_unavailable", 200, None), SendOutcome::Transient(_)));
        for broken in [
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "invalid_auth",
            "token_revoked",
            "missing_scope",
        ] {
            assert!(matches!(classify_error(broken, 200, None), SendOutcome::Gone { .. }), "{broken}");
        }
        let SendOutcome::Gone { body, .. } = classify_error("not_in_channel", 200, None) else { panic!() };
        assert!(body.contains("invite the bot"), "{body}");
        for gone in ["message_not_found", "cant_update_message", "edit_window_closed"] {
            assert!(matches!(classify_error(gone, 200, None), SendOutcome::Stale { .. }), "{gone}");
        }
        for payload in ["invalid_blocks", "msg_too_long", "no_text"] {
            assert!(matches!(classify_error(payload, 200, None), SendOutcome::Permanent { .. }), "{payload}");
        }
    }
}
