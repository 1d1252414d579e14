//! Discord: one forum post per story (`forum: true`, `thread: per-story`), and
//! one message per story edited in place (`update: in-place`), against a fake
//! that answers as Discord does (`?wait=true` returns the message with its id
//! and channel; `thread_name` opens a post only on a forum's webhook).

use axum::http::Method;
use serde_json::json;

use crate::support::app::{spawn, Options, SHORTCUT_SECRET};
use crate::support::{fixture, FakeSink, Reply, TestApp};

async fn start(sink: &FakeSink, channel: &str) -> TestApp {
    let yaml = format!(
        r#"
listen: "127.0.0.1:0"
storage: "sqlite::memory:"
sources:
  shortcut: {{ kind: shortcut, secrets: ["{SHORTCUT_SECRET}"] }}
channels:
  team: {channel}
rules:
  - {{ name: all, when: {{ primary: true }}, send: [team] }}
"#
    );
    spawn(&sink.base(), &yaml, Options::default()).await
}

#[tokio::test]
async fn a_forum_gets_one_post_per_story_titled_with_it_and_later_changes_go_in_it() {
    let mut sink = FakeSink::start().await;
    let forum = format!(
        "{{ kind: discord, url: \"{}\", forum: true, thread: per-story, rate_limit: {{ per_second: 1000, burst: 100 }} }}",
        sink.url("/discord/forum")
    );
    let app = start(&sink, &forum).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    let post = sink.next().await;
    assert_eq!(post.body["thread_name"], json!("Add cool feature!"));
    assert!(post.query.as_deref().unwrap().contains("wait=true"));
    let thread = {
        // The fake opened thread 9<n> for message <n>: read it back from the next reply's query.
        app.post_shortcut(&fixture("shortcut/zulip_story_comment_create.json")).await;
        let reply = sink.next().await;
        assert_eq!(reply.body.get("thread_name"), None, "a reply opens no post");
        reply.query.unwrap()
    };
    assert!(thread.contains("thread_id=9"), "{thread}");
    // Another story: a post of its own.
    app.post_shortcut(&fixture("shortcut/zulip_story_update_add_label.json")).await;
    assert!(sink.next().await.body["thread_name"].is_string());
    app.settled().await;
    app.stop().await;
}

#[tokio::test]
async fn a_discord_message_is_edited_in_place_and_a_deleted_one_is_posted_afresh() {
    let mut sink = FakeSink::start().await;
    let cards = format!(
        "{{ kind: discord, url: \"{}\", update: in-place, rate_limit: {{ per_second: 1000, burst: 100 }} }}",
        sink.url("/discord/cards")
    );
    let app = start(&sink, &cards).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    let first = sink.next().await;
    assert_eq!(first.method, Method::POST);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    let edit = sink.next().await;
    assert_eq!(edit.method, Method::PATCH);
    assert!(edit.path.starts_with("/discord/cards/messages/"), "{}", edit.path);
    assert!(!edit.query.as_deref().unwrap_or("").contains("wait"), "wait is for executing, not editing");
    let card_path = edit.path.clone();
    // Deleted in Discord (10008): the next change posts a fresh message and the story points to it.
    sink.reply_next([Reply::new(404, r#"{"message":"Unknown Message","code":10008}"#)]);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_description.json")).await;
    assert_eq!(sink.next().await.method, Method::PATCH);
    let fresh = sink.next().await;
    assert_eq!((fresh.method, fresh.path.as_str()), (Method::POST, "/discord/cards"));
    app.post_shortcut(&fixture("shortcut/zulip_story_update_add_estimate.json")).await;
    let next = sink.next().await;
    assert_eq!(next.method, Method::PATCH);
    assert_ne!(next.path, card_path, "the story points to the fresh message");
    app.settled().await;
    let deliveries = app.deliveries().await;
    assert!(deliveries.iter().all(|d| d.status == storybridge::store::DeliveryStatus::Delivered));
    // An unknown message is not a dead webhook: the channel was never paused.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"storybridge_messages_total{channel="team",outcome="edited"} 2"#),
        "{metrics}"
    );
    app.stop().await;
}
