//! Live cards (`update: in-place`): one message per story, edited to show the
//! story as the bridge last saw it (state, owners, type, epic, project) and
//! the channel's latest messages about it, on Slack's Web API and Discord,
//! across restarts, template reloads and archived forum threads.

use axum::http::Method;
use serde_json::{json, Value};
use storybridge::store::DeliveryStatus;

use crate::support::app::{spawn, Options, SHORTCUT_SECRET};
use crate::support::process::temp_dir;
use crate::support::{fixture, FakeSink, Reply, TestApp};

/// A config with the one channel `team: {channel}` that every primary change
/// goes to, and Ada named.
fn config(channel: &str) -> String {
    format!(
        r#"
listen: "127.0.0.1:0"
storage: "${{STORAGE:-sqlite::memory:}}"
templates: templates
sources:
  shortcut: {{ kind: shortcut, secrets: ["{SHORTCUT_SECRET}"] }}
channels:
  team: {channel}
people:
  5b1fda16-626f-487f-9ecf-f3a4abf42b8b: {{ name: "Ada Lovelace" }}
rules:
  - {{ name: all, when: {{ primary: true }}, send: [team] }}
"#
    )
}

fn slack_bot(sink: &FakeSink, extra: &str) -> String {
    format!(
        "{{ kind: slack-bot, token: \"xoxb-test\", channel: C0123456789, api_url: \"{}\", rate_limit: {{ per_second: 1000, burst: 100 }}, update: in-place{extra} }}",
        sink.url("/api")
    )
}

async fn start(sink: &FakeSink, dir: &std::path::Path, channel: &str, storage: Option<&str>) -> TestApp {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    let options = Options {
        storage: storage.map(str::to_owned),
        config_file: Some(dir.join("bridge.yaml")),
        ..Default::default()
    };
    spawn(&sink.base(), &config(channel), options).await
}

/// A Slack card's fields, as `Label: value`.
fn fields(card: &Value) -> Vec<String> {
    card["blocks"][0]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|field| field["text"].as_str().unwrap().replace("*", "").replace('\n', ": "))
        .collect()
}

/// A Slack card's latest messages, newest first, without their times.
fn lines(card: &Value) -> Vec<String> {
    let text = card["blocks"][1]["elements"][0]["text"].as_str().unwrap_or("");
    text.lines().map(|line| line.split(" · <!date^").next().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_slack_card_ends_showing_the_story_as_it_is_even_across_a_restart() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("cards-slack");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let channel = slack_bot(&sink, "");
    let app = start(&sink, &dir, &channel, Some(&storage)).await;

    // The story's first message is its card.
    sink.reply_next([Reply::new(200, r#"{"ok":true,"channel":"C0CARD","ts":"1700000000.000100"}"#)]);
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    let posted = sink.next().await;
    assert_eq!(posted.path, "/api/chat.postMessage");
    assert_eq!(posted.body["text"], "Add cool feature!: Unscheduled");
    assert_eq!(
        posted.body["blocks"][0]["text"]["text"],
        "*<https://app.clubhouse.io/zulip/story/11|Add cool feature!>*"
    );
    assert_eq!(fields(&posted.body), ["State: Unscheduled", "Type: feature", "Project: Backend"]);
    assert_eq!(lines(&posted.body), ["✨ Ada Lovelace created it: state Unscheduled; project Backend"]);

    // It moves: the card is edited in place, by the channel id and ts Slack gave.
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    let moved = sink.next().await;
    assert_eq!(moved.path, "/api/chat.update");
    assert_eq!(
        (moved.body["channel"].as_str(), moved.body["ts"].as_str()),
        (Some("C0CARD"), Some("1700000000.000100"))
    );
    assert_eq!(
        fields(&moved.body),
        ["State: Ready for Review", "Owners: Ada Lovelace", "Type: bug", "Project: Backend"]
    );
    app.settled().await;
    app.stop().await;

    // After a restart, the card still knows the story and is still the one edited.
    let app = start(&sink, &dir, &channel, Some(&storage)).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_epic.json")).await;
    let after = sink.next().await;
    assert_eq!(
        (after.path.as_str(), after.body["ts"].as_str()),
        ("/api/chat.update", Some("1700000000.000100"))
    );
    assert_eq!(
        fields(&after.body),
        [
            "State: Ready for Review",
            "Owners: Ada Lovelace",
            "Type: bug",
            "Epic: Clubhouse Fork",
            "Project: Backend"
        ]
    );
    assert_eq!(
        lines(&after.body),
        [
            "• Ada Lovelace updated it: epic Release 1.9 → Clubhouse Fork",
            "• Ada Lovelace updated it: state Unscheduled → Ready for Review; owners +Ada Lovelace",
            "✨ Ada Lovelace created it: state Unscheduled; project Backend",
        ]
    );
    app.settled().await;
    assert!(app.deliveries().await.iter().all(|d| d.status == DeliveryStatus::Delivered));
    app.stop().await;
}

#[tokio::test]
async fn a_card_edit_that_would_show_nothing_new_is_not_made() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("cards-unchanged");
    let app = start(&sink, &dir, &slack_bot(&sink, ""), None).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(sink.next().await.path, "/api/chat.postMessage");

    // The first edit waits a second for Slack; the next change is routed meanwhile.
    sink.reply_next([Reply::new(200, r#"{"ok":false,"error":"ratelimited"}"#).header("retry-after", "1")]);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    assert_eq!(sink.next().await.path, "/api/chat.update");
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_epic.json")).await;
    app.routed().await;

    // Its retry draws the story as it is now, both changes in; the second
    // change's edit would draw the same card, and is skipped.
    let edit = sink.next().await;
    assert_eq!(edit.path, "/api/chat.update");
    assert!(fields(&edit.body).contains(&"Epic: Clubhouse Fork".to_owned()), "{}", edit.body);
    assert_eq!(lines(&edit.body).len(), 3);
    app.settled().await;
    let store = app.store.clone();
    let metrics = app.metrics().await;
    app.stop().await;
    assert!(sink.take_all().is_empty(), "no second edit");
    let deliveries = store.deliveries(Default::default()).await.unwrap();
    assert!(deliveries.iter().all(|d| d.status == DeliveryStatus::Delivered), "{deliveries:?}");
    assert!(
        metrics.contains(r#"storybridge_messages_total{channel="team",outcome="edited"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_card_template_reload_applies_at_the_next_edit() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("cards-reload");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("templates/mycard.hbs"), "{{story.name}} is {{story.state}}").unwrap();
    let channel = slack_bot(&sink, ", card_template: mycard");
    let app = start(&sink, &dir, &channel, None).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(sink.next().await.body["text"], "Add cool feature! is Unscheduled");

    std::fs::write(
        dir.join("templates/mycard.hbs"),
        "{{story.name}}: {{story.state}}, {{#each recent}}{{@index}}{{/each}}",
    )
    .unwrap();
    app.wait_for_reloads("success", 1.0).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    let edit = sink.next().await;
    assert_eq!(edit.path, "/api/chat.update");
    assert_eq!(edit.body["text"], "Add cool feature!: Ready for Review, 01");
    app.settled().await;
    app.stop().await;
}

#[tokio::test]
async fn a_thread_and_a_card_together_keep_the_card_current_and_reply_without_repeating_the_story() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("cards-thread");
    let app = start(&sink, &dir, &slack_bot(&sink, ", thread: per-story"), None).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    let root = sink.next().await;
    assert_eq!(root.body["text"], "Add cool feature!: Unscheduled", "the root is the card");
    app.post_shortcut(&fixture("shortcut/zulip_story_comment_create.json")).await;
    let (edit, reply) = (sink.next().await, sink.next().await);
    assert_eq!(edit.path, "/api/chat.update");
    assert_eq!(lines(&edit.body)[0], "💬 Ada Lovelace commented");
    assert_eq!(
        (reply.path.as_str(), reply.body["thread_ts"].as_str()),
        ("/api/chat.postMessage", Some("1700000000.000100"))
    );
    // The thread is the story's: the reply says what happened, not which story.
    assert_eq!(reply.body["text"], "💬 *Ada Lovelace* commented");
    assert_eq!(
        reply.body["blocks"][0]["text"]["text"],
        "💬 *Ada Lovelace* commented\n> Just leaving a comment here!"
    );
    app.settled().await;
    app.stop().await;
}

fn discord(sink: &FakeSink, path: &str, extra: &str) -> String {
    format!(
        "{{ kind: discord, url: \"{}\", update: in-place, rate_limit: {{ per_second: 1000, burst: 100 }}{extra} }}",
        sink.url(path)
    )
}

#[tokio::test]
async fn a_discord_card_is_one_embed_edited_to_the_story_s_latest_state() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("cards-discord");
    let app = start(&sink, &dir, &discord(&sink, "/discord/cards", ""), None).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    let posted = sink.next().await;
    assert_eq!(posted.method, Method::POST);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    let edit = sink.next().await;
    assert_eq!(edit.method, Method::PATCH);
    let embed = &edit.body["embeds"][0];
    assert_eq!(embed["title"], "Add cool feature!");
    assert_eq!(embed["url"], "https://app.clubhouse.io/zulip/story/11");
    assert_eq!(
        embed["fields"],
        json!([
            {"name": "State", "value": "Ready for Review", "inline": true},
            {"name": "Owners", "value": "Ada Lovelace", "inline": true},
            {"name": "Type", "value": "bug", "inline": true},
            {"name": "Project", "value": "Backend", "inline": true}
        ])
    );
    assert_eq!(embed["footer"]["text"], "Ada Lovelace · shortcut");
    let description = embed["description"].as_str().unwrap();
    assert!(
        description.starts_with("• Ada Lovelace updated it: state Unscheduled → Ready for Review"),
        "{description}"
    );
    assert_eq!(edit.body["allowed_mentions"], json!({"parse": []}), "an edit cannot ping either");
    app.settled().await;
    app.stop().await;
}

#[tokio::test]
async fn an_archived_forum_post_is_unarchived_by_the_reply_and_its_card_then_edited() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("cards-archived");
    let app =
        start(&sink, &dir, &discord(&sink, "/discord/forum", ", forum: true, thread: per-story"), None).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    let post = sink.next().await;
    assert_eq!(post.body["thread_name"], "Add cool feature!");
    app.settled().await;
    let root = app.store.thread("team", "shortcut:story:11").await.unwrap().expect("the story's post");
    sink.archive_thread(&root.channel_id);

    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    let refused = sink.next().await;
    assert_eq!(refused.method, Method::PATCH);
    // A message into the thread unarchives it (the reply that was due anyway)…
    let reply = sink.next().await;
    assert_eq!(reply.method, Method::POST);
    assert!(reply.query.as_deref().unwrap().contains(&format!("thread_id={}", root.channel_id)));
    assert_eq!(reply.body["embeds"][0].get("title"), None, "a reply in the post is not titled again");
    // …and the card's edit then goes through, still in the post.
    let edit = sink.next().await;
    assert_eq!(edit.method, Method::PATCH);
    assert!(edit.query.as_deref().unwrap().contains(&format!("thread_id={}", root.channel_id)));
    assert_eq!(edit.body["embeds"][0]["fields"][0]["value"], "Ready for Review");
    app.settled().await;
    assert!(app.deliveries().await.iter().all(|d| d.status == DeliveryStatus::Delivered));
    let root_after = app.store.thread("team", "shortcut:story:11").await.unwrap();
    assert_eq!(root_after, Some(root), "the story keeps its post");
    app.stop().await;
}

#[tokio::test]
async fn a_burst_on_a_card_and_thread_channel_is_one_edit_and_one_reply() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("cards-burst");
    let app = start(&sink, &dir, &slack_bot(&sink, ", thread: per-story, coalesce: 500ms"), None).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(sink.next().await.path, "/api/chat.postMessage");
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_epic.json")).await;
    let (edit, reply) = (sink.next().await, sink.next().await);
    assert_eq!(edit.path, "/api/chat.update");
    assert!(fields(&edit.body).contains(&"Epic: Clubhouse Fork".to_owned()), "{}", edit.body);
    assert!(fields(&edit.body).contains(&"State: Ready for Review".to_owned()), "{}", edit.body);
    assert_eq!(reply.body["thread_ts"], "1700000000.000100");
    assert_eq!(
        reply.body["blocks"][0]["text"]["text"],
        "*Ada Lovelace* updated this bug\n• *state*: Unscheduled → Ready for Review\n• *owners*: added Ada Lovelace\n• *epic*: Release 1.9 → Clubhouse Fork"
    );
    app.settled().await;
    let store = app.store.clone();
    app.stop().await;
    assert!(sink.take_all().is_empty(), "the burst was one edit and one reply");
    assert_eq!(store.deliveries(Default::default()).await.unwrap().len(), 2, "the create, and the burst");
}
