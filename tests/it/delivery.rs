//! How the bridge treats the chat platform's answers: waits out 429s, retries
//! 5xx, never retries a 4xx, and keeps each channel's messages in order.

use std::time::Duration;

use serde_json::{json, Value};

use storybridge::store::DeliveryStatus;

use crate::support::{fixture, spawn_app, FakeSink, Reply};

const ALL_TO_SLACK: &str = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";
const ALL_TO_DISCORD: &str = "  - name: all\n    when: { primary: true }\n    send: [team]\n";

#[tokio::test]
async fn a_slack_429_is_waited_out_for_retry_after_then_sent_once() {
    let mut sink = FakeSink::start().await;
    sink.reply_next([Reply::new(429, r#"{"ok":false,"error":"rate_limited"}"#).header("retry-after", "1")]);
    let app = spawn_app(&sink, ALL_TO_SLACK).await;

    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;

    let refused = sink.next().await;
    let accepted = sink.next().await;
    assert_eq!(refused.body, accepted.body);
    assert!(
        accepted.at - refused.at >= Duration::from_secs(1),
        "resent after {:?}",
        accepted.at - refused.at
    );
    app.settled().await;
    assert!(sink.take_all().is_empty(), "sent once after the 429, not again");
}

#[tokio::test]
async fn a_discord_429_waits_for_the_retry_after_in_its_json_body() {
    let mut sink = FakeSink::start().await;
    sink.reply_next([Reply::new(
        429,
        r#"{"message":"You are being rate limited.","retry_after":0.3,"global":false}"#,
    )
    .header("retry-after", "5")]);
    let app = spawn_app(&sink, ALL_TO_DISCORD).await;

    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;

    let refused = sink.next().await;
    let accepted = sink.next().await;
    let waited = accepted.at - refused.at;
    // Not the header's 5 s, nor the 1 s a 429 without a usable wait gets.
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_millis(950), "waited {waited:?}");
}

#[tokio::test]
async fn a_server_error_is_retried_and_later_messages_wait_their_turn() {
    let mut sink = FakeSink::start().await;
    sink.reply_next([Reply::new(500, "rollup_error")]);
    let app = spawn_app(&sink, ALL_TO_SLACK).await;

    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await;

    let bodies: Vec<Value> = [sink.next().await, sink.next().await, sink.next().await].map(|r| r.body).into();
    assert_eq!(bodies[0], bodies[1], "the failed message is resent first");
    assert!(bodies[2]["text"].as_str().unwrap().contains("deleted"), "then the next one: {}", bodies[2]);
}

#[tokio::test]
async fn a_permanent_refusal_is_not_retried() {
    let mut sink = FakeSink::start().await;
    sink.reply_next([Reply::new(404, "channel_not_found")]);
    let app = spawn_app(&sink, ALL_TO_SLACK).await;

    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await;
    app.settled().await;

    let received = sink.take_all();
    assert_eq!(
        received.len(),
        2,
        "one attempt each: {:?}",
        received.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert_eq!(received[1].body["text"], json!("🗑️ *Ada Lovelace* deleted feature *New random story*"));
    let rows = app.deliveries().await;
    assert_eq!(
        rows.iter().map(|d| (d.status, d.attempts, d.last_status)).collect::<Vec<_>>(),
        [(DeliveryStatus::Dead, 1, Some(404)), (DeliveryStatus::Delivered, 1, Some(200))]
    );
    assert_eq!(rows[0].last_error.as_deref(), Some("channel_not_found"));
}
