//! `kind: slack-bot`: Slack through the Web API with a bot token. Slack answers
//! 200 for most failures; the error's name says what happens next.

use serde_json::json;

use crate::support::app::{spawn, Options};
use crate::support::{fixture, FakeSink, Reply, TestApp};

async fn start(sink: &FakeSink) -> TestApp {
    spawn(&sink.base(), &config(sink, ""), Options::default()).await
}

/// The bot channel, with `extra` settings (e.g. `thread: per-story`).
fn config(sink: &FakeSink, extra: &str) -> String {
    format!(
        r#"
listen: "127.0.0.1:0"
storage: "${{STORAGE:-sqlite::memory:}}"
max_age: 1h
sources:
  shortcut: {{ kind: shortcut, secrets: ["{secret}"] }}
channels:
  team:
    kind: slack-bot
    token: "xoxb-test-token"
    channel: C0123456789
    api_url: "{api}"
    rate_limit: {{ per_second: 1000, burst: 100 }}
    {extra}
rules:
  - {{ name: all, when: {{ primary: true }}, send: [team] }}
"#,
        secret = crate::support::app::SHORTCUT_SECRET,
        api = sink.url("/api"),
    )
}

#[tokio::test]
async fn a_bot_posts_the_slack_layout_to_chat_post_message_with_its_token_and_channel() {
    let mut sink = FakeSink::start().await;
    let app = start(&sink).await;
    let response = app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    assert_eq!(response.status(), 202);
    let received = sink.next().await;
    assert_eq!(received.path, "/api/chat.postMessage");
    assert_eq!(received.headers["authorization"], "Bearer xoxb-test-token");
    assert_eq!(received.body["channel"], "C0123456789");
    assert_eq!(
        received.body["text"],
        "*Someone* updated bug <https://app.clubhouse.io/zulip/story/11|Add cool feature!>"
    );
    assert_eq!(received.body["blocks"][0]["type"], "section");
    app.settled().await;
    let deliveries = app.deliveries().await;
    assert_eq!(deliveries[0].status, storybridge::store::DeliveryStatus::Delivered);
    app.stop().await;
}

#[tokio::test]
async fn slack_errors_retry_wait_kill_the_message_or_pause_the_channel_as_their_names_say() {
    let mut sink = FakeSink::start().await;
    let app = start(&sink).await;
    // Rate limited (200 with ok:false), then a passing fault, then through.
    sink.reply_next([
        Reply::new(200, r#"{"ok":false,"error":"ratelimited"}"#).header("retry-after", "0"),
        Reply::new(200, r#"{"ok":false,"error":"service_unavailable"}"#),
    ]);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    for _ in 0..3 {
        sink.next().await;
    }
    app.settled().await;
    let first = &app.deliveries().await[0];
    assert_eq!(first.status, storybridge::store::DeliveryStatus::Delivered);

    // A message Slack refuses is dead, with Slack's reason; the channel goes on.
    sink.reply_next([Reply::new(200, r#"{"ok":false,"error":"invalid_blocks"}"#)]);
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    sink.next().await;
    app.settled().await;
    let dead =
        app.deliveries().await.into_iter().find(|d| d.status == storybridge::store::DeliveryStatus::Dead);
    assert_eq!(dead.expect("a dead message").last_error.as_deref(), Some("Slack: invalid_blocks"));

    // The bot is not in the channel: the channel pauses with the fix in its error.
    sink.reply_next([Reply::new(200, r#"{"ok":false,"error":"not_in_channel"}"#)]);
    app.post_shortcut(&fixture("shortcut/zulip_story_comment_create.json")).await;
    let refused = sink.next().await;
    assert_eq!(refused.body["channel"], json!("C0123456789"));
    app.post_shortcut(&fixture("shortcut/zulip_story_update_add_label.json")).await;
    app.routed().await;
    // The pause is recorded before the worker claims again; it holds the next message back.
    let claim = app.store.record_and_claim("team", Vec::new(), 10).await.unwrap();
    assert!(claim.pause.expect("the channel is paused").reason.contains("not_in_channel"));
    assert_eq!(claim.pending.len(), 1, "the next message waits");
    let store = app.store.clone();
    app.stop().await;
    assert!(sink.take_all().is_empty(), "a paused channel sends nothing");
    let paused = store.deliveries(Default::default()).await.unwrap();
    let refusal =
        paused.iter().find(|d| d.last_error.as_deref().is_some_and(|e| e.contains("not_in_channel")));
    assert!(refusal.expect("the refused message").last_error.as_deref().unwrap().contains("invite the bot"));
}

#[tokio::test]
async fn a_story_s_later_messages_reply_under_its_first_even_after_a_restart() {
    let mut sink = FakeSink::start().await;
    let dir = crate::support::process::temp_dir("slack-threads");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let yaml = config(&sink, "thread: per-story");
    let options = || Options { storage: Some(storage.clone()), ..Default::default() };
    let app = spawn(&sink.base(), &yaml, options()).await;

    // Story 11's first message is the root; Slack answers with its channel id and ts.
    sink.reply_next([Reply::new(200, r#"{"ok":true,"channel":"C0ROOT","ts":"1700000000.000100"}"#)]);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    let root = sink.next().await;
    assert_eq!(root.body.get("thread_ts"), None);
    // A comment on story 11 replies under it, in the channel Slack named.
    app.post_shortcut(&fixture("shortcut/zulip_story_comment_create.json")).await;
    let reply = sink.next().await;
    assert_eq!(
        (reply.body["thread_ts"].as_str(), reply.body["channel"].as_str()),
        (Some("1700000000.000100"), Some("C0ROOT"))
    );
    // Another story starts a thread of its own.
    sink.reply_next([Reply::new(200, r#"{"ok":true,"channel":"C0ROOT","ts":"1700000000.000200"}"#)]);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_add_label.json")).await;
    let other = sink.next().await;
    assert_eq!(other.body.get("thread_ts"), None);
    app.settled().await;
    app.stop().await;

    // The map is in the store: after a restart, story 11 still replies under its root.
    let app = spawn(&sink.base(), &yaml, options()).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_update_description.json")).await;
    let after_restart = sink.next().await;
    assert_eq!(after_restart.body["thread_ts"], json!("1700000000.000100"));
    app.settled().await;
    app.stop().await;
}

#[tokio::test]
async fn a_card_is_edited_in_place_and_a_card_slack_lost_is_posted_afresh() {
    let mut sink = FakeSink::start().await;
    let app = spawn(&sink.base(), &config(&sink, "update: in-place"), Options::default()).await;
    sink.reply_next([Reply::new(200, r#"{"ok":true,"channel":"C0CARD","ts":"1700000000.000100"}"#)]);
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    let card = sink.next().await;
    assert_eq!(card.path, "/api/chat.postMessage");

    // The story changes: its card is edited, by channel id and ts, to the latest message.
    sink.reply_next([Reply::new(200, r#"{"ok":true,"channel":"C0CARD","ts":"1700000000.000100"}"#)]);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    let edit = sink.next().await;
    assert_eq!(edit.path, "/api/chat.update");
    assert_eq!(
        (edit.body["channel"].as_str(), edit.body["ts"].as_str()),
        (Some("C0CARD"), Some("1700000000.000100"))
    );
    assert_eq!(
        edit.body["text"], "Add cool feature!: Ready for Review",
        "the card shows the story's new state"
    );

    // Someone deleted the card in Slack: the next change posts a fresh one and the story points to it.
    sink.reply_next([
        Reply::new(200, r#"{"ok":false,"error":"message_not_found"}"#),
        Reply::new(200, r#"{"ok":true,"channel":"C0CARD","ts":"1700000000.000900"}"#),
    ]);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_description.json")).await;
    assert_eq!(sink.next().await.path, "/api/chat.update");
    let fresh = sink.next().await;
    assert_eq!(fresh.path, "/api/chat.postMessage");
    app.post_shortcut(&fixture("shortcut/zulip_story_update_add_estimate.json")).await;
    let next = sink.next().await;
    assert_eq!(
        (next.path.as_str(), next.body["ts"].as_str()),
        ("/api/chat.update", Some("1700000000.000900"))
    );
    app.settled().await;
    let deliveries = app.deliveries().await;
    assert!(deliveries.iter().all(|d| d.status == storybridge::store::DeliveryStatus::Delivered));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"storybridge_messages_total{channel="team",outcome="edited"} 2"#),
        "two edits went through (the third found the card gone): {metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_card_and_a_thread_together_edit_the_root_and_reply_under_it() {
    let mut sink = FakeSink::start().await;
    let app =
        spawn(&sink.base(), &config(&sink, "thread: per-story\n    update: in-place"), Options::default())
            .await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(sink.next().await.path, "/api/chat.postMessage");
    app.post_shortcut(&fixture("shortcut/zulip_story_comment_create.json")).await;
    let (edit, reply) = (sink.next().await, sink.next().await);
    assert_eq!(edit.path, "/api/chat.update");
    assert_eq!(reply.path, "/api/chat.postMessage");
    assert_eq!(reply.body["thread_ts"], json!("1700000000.000100"));
    app.settled().await;
    app.stop().await;
}

#[tokio::test]
async fn replies_that_change_a_broadcast_field_also_show_in_the_channel() {
    let mut sink = FakeSink::start().await;
    let app =
        spawn(&sink.base(), &config(&sink, "thread: per-story\n    broadcast: [state]"), Options::default())
            .await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    let root = sink.next().await;
    assert_eq!(root.body.get("reply_broadcast"), None, "a root is in the channel already");
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    let moved = sink.next().await;
    assert_eq!(
        (moved.body["thread_ts"].is_string(), moved.body["reply_broadcast"].as_bool()),
        (true, Some(true))
    );
    app.post_shortcut(&fixture("shortcut/zulip_story_comment_create.json")).await;
    let comment = sink.next().await;
    assert_eq!((comment.body["thread_ts"].is_string(), comment.body.get("reply_broadcast")), (true, None));
    app.settled().await;
    app.stop().await;
}
