//! Digests: a channel with `digest:` collects what its rules route to it and
//! sends one summary per period, at a local time, by a clock the tests move
//! (no sleeping through hours), exactly once whatever restarts.

use serde_json::{json, Value};
use storybridge::clock::Clock;
use storybridge::store::DeliveryStatus;
use storybridge::verify::sign_hex;

use std::sync::Arc;

use crate::support::app::{spawn, Options, TestApp, SHORTCUT_SECRET};
use crate::support::process::temp_dir;
use crate::support::{FakeSink, Reply};

/// A Slack webhook channel with the digest `digest` (YAML flow), and a rule
/// sending every state change to it.
fn config(sink: &FakeSink, digest: &str) -> String {
    format!(
        r#"
listen: "127.0.0.1:0"
storage: "${{STORAGE:-sqlite::memory:}}"
admin_token: "{TOKEN}"
sources:
  shortcut: {{ kind: shortcut, secrets: ["{SHORTCUT_SECRET}"] }}
channels:
  standup: {{ kind: slack, url: "{url}", digest: {digest} }}
rules:
  - {{ name: daily-standup, when: {{ entity_type: story, changed: [workflow_state_id] }}, send: [standup] }}
"#,
        url = sink.url("/slack/standup"),
    )
}

const TOKEN: &str = "admin-token-0123456789abcdef";
const STANDUP: &str = "{ at: \"09:30\", days: [mon, tue, wed, thu, fri], timezone: Europe/Berlin }";

/// A Shortcut event: story `story` moved from state `from` to `to` (ids 1-4: Todo, Started, Review, Done).
fn moved(event: &str, story: u32, from: u32, to: u32) -> Vec<u8> {
    json!({
        "id": event, "primary_id": story, "member_id": "m1",
        "actions": [{"id": story, "entity_type": "story", "action": "update", "name": format!("Story {story}"),
                     "story_type": "feature", "app_url": format!("https://app.shortcut.com/acme/story/{story}"),
                     "changes": {"workflow_state_id": {"old": from, "new": to}}}],
        "references": [
            {"id": 1, "entity_type": "workflow-state", "name": "Todo"},
            {"id": 2, "entity_type": "workflow-state", "name": "Started"},
            {"id": 3, "entity_type": "workflow-state", "name": "Review"},
            {"id": 4, "entity_type": "workflow-state", "name": "Done", "type": "done"},
            {"id": "m1", "entity_type": "member", "name": "Ada"}
        ]
    })
    .to_string()
    .into_bytes()
}

async fn post(app: &TestApp, body: Vec<u8>) {
    let response = app
        .http
        .post(app.url("/hooks/shortcut"))
        .header("payload-signature", sign_hex(SHORTCUT_SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

fn utc(text: &str) -> i64 {
    storybridge::normalize::parse_rfc3339(text).unwrap()
}

fn clock_at(text: &str) -> Arc<Clock> {
    let clock = Arc::new(Clock::default());
    clock.set(utc(text));
    clock
}

async fn start(sink: &FakeSink, digest: &str, clock: &Arc<Clock>, storage: Option<&str>) -> TestApp {
    let options =
        Options { storage: storage.map(str::to_owned), clock: Some(clock.clone()), ..Default::default() };
    spawn(&sink.base(), &config(sink, digest), options).await
}

/// The digest's sections, as `heading: line | line`.
fn sections(body: &Value) -> Vec<String> {
    body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|block| block["type"] == "section")
        .map(|block| block["text"]["text"].as_str().unwrap().replace('\n', " | "))
        .collect()
}

#[tokio::test]
async fn a_day_s_changes_become_one_grouped_message_at_the_local_time_across_a_daylight_saving_change() {
    let mut sink = FakeSink::start().await;
    // Friday 27 March 2026, 09:00 in Berlin (CET, UTC+1).
    let clock = clock_at("2026-03-27T08:00:00Z");
    let app = start(&sink, STANDUP, &clock, None).await;
    for (n, (story, from, to)) in [(9, 1, 2), (7, 1, 3), (9, 2, 3), (9, 3, 4)].into_iter().enumerate() {
        post(&app, moved(&format!("e{n}"), story, from, to)).await;
    }
    app.routed().await;
    let held = app.store.held_digest("standup").await.unwrap().expect("collecting");
    assert_eq!((held.due, held.parts.len()), (utc("2026-03-27T08:30:00Z"), 4), "due at 09:30 CET");
    assert!(sink.take_all().is_empty(), "nothing is sent before the period closes");

    clock.set(utc("2026-03-27T08:30:01Z"));
    let friday = sink.next().await.body;
    assert_eq!(friday["blocks"][0]["text"]["text"], "standup · Fri 27 Mar");
    assert_eq!(
        sections(&friday),
        [
            // Story 9 went Started, Review, Done: once, as its net move.
            "*→ Done* (1) | • <https://app.shortcut.com/acme/story/9|Story 9> from Todo · Ada",
            "*→ Review* (1) | • <https://app.shortcut.com/acme/story/7|Story 7> from Todo · Ada",
        ]
    );
    assert_eq!(
        friday["blocks"][3]["elements"][0]["text"],
        "2 stories · 2 moved · 4 updates since 2026-03-26 09:30 CET"
    );

    // Over the weekend (no digests on Saturday and Sunday) Berlin moves to CEST.
    post(&app, moved("e9", 5, 2, 4)).await;
    app.routed().await;
    clock.set(utc("2026-03-28T08:30:01Z"));
    app.settled().await;
    assert!(sink.take_all().is_empty(), "no digest on a Saturday");
    assert_eq!(
        app.store.held_digest("standup").await.unwrap().unwrap().due,
        utc("2026-03-30T07:30:00Z"),
        "09:30 CEST"
    );
    clock.set(utc("2026-03-30T07:30:01Z"));
    let monday = sink.next().await.body;
    assert_eq!(monday["blocks"][0]["text"]["text"], "standup · Mon 30 Mar");
    assert_eq!(
        sections(&monday),
        ["*→ Done* (1) | • <https://app.shortcut.com/acme/story/5|Story 5> from Started · Ada"]
    );
    app.settled().await;
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"storybridge_digests_sent_total{channel="standup"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"storybridge_digests_late_total{channel="standup"} 0"#), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn a_restart_before_during_or_after_the_scheduled_minute_sends_exactly_one_digest() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("digest-restarts");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let daily = "{ at: \"09:30\", timezone: Europe/Berlin, skip_empty: false }";
    let clock = clock_at("2026-12-01T08:00:00Z");

    // Before: changes collected, the bridge stops, the period passes while it is down.
    let app = start(&sink, daily, &clock, Some(&storage)).await;
    post(&app, moved("e1", 9, 1, 4)).await;
    app.routed().await;
    app.stop().await;
    clock.set(utc("2026-12-01T11:00:00Z"));
    let app = start(&sink, daily, &clock, Some(&storage)).await;
    let late = sink.next().await.body;
    assert_eq!(
        late["blocks"][0]["text"]["text"], "standup · Tue 1 Dec (late)",
        "sent once, at start, marked late"
    );
    app.settled().await;
    app.stop().await;

    // After: starting again the same day sends nothing more.
    let app = start(&sink, daily, &clock, Some(&storage)).await;
    app.settled().await;
    app.stop().await;
    assert!(sink.take_all().is_empty(), "the period's digest was sent already");

    // During: the next day's digest is released, its send fails, the bridge stops mid-retry.
    let app = start(&sink, daily, &clock, Some(&storage)).await;
    post(&app, moved("e2", 7, 1, 2)).await;
    app.routed().await;
    sink.reply_next([Reply::new(500, "oops")]);
    clock.set(utc("2026-12-02T08:30:01Z"));
    assert_eq!(sink.next().await.body["blocks"][0]["text"]["text"], "standup · Wed 2 Dec");
    app.stop().await;
    let app = start(&sink, daily, &clock, Some(&storage)).await;
    let retried = sink.next().await.body;
    assert_eq!(retried["blocks"][0]["text"]["text"], "standup · Wed 2 Dec", "the same digest, retried");
    app.settled().await;
    let store = app.store.clone();
    app.stop().await;
    assert!(sink.take_all().is_empty(), "and only once");
    let digests: Vec<_> = store
        .deliveries(Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|delivery| delivery.digest.is_some())
        .collect();
    assert_eq!(digests.len(), 2, "one digest per period: {digests:?}");
    assert!(digests.iter().all(|digest| digest.status == DeliveryStatus::Delivered));
}

#[tokio::test]
async fn an_empty_period_sends_nothing_unless_asked() {
    let mut sink = FakeSink::start().await;
    let clock = clock_at("2026-12-01T08:00:00Z");
    let quiet = start(&sink, "{ at: \"09:30\", timezone: Europe/Berlin }", &clock, None).await;
    clock.set(utc("2026-12-01T08:30:01Z"));
    quiet.settled().await;
    quiet.stop().await;
    assert!(sink.take_all().is_empty(), "skip_empty is the default");

    let clock = clock_at("2026-12-01T08:00:00Z");
    let asked =
        start(&sink, "{ at: \"09:30\", timezone: Europe/Berlin, skip_empty: false }", &clock, None).await;
    clock.set(utc("2026-12-01T08:30:01Z"));
    let empty = sink.next().await.body;
    assert_eq!(sections(&empty), ["Nothing moved since 2026-11-30 09:30 CET."]);
    asked.settled().await;
    asked.stop().await;
}

#[tokio::test]
async fn a_huge_period_fits_slack_s_limits_without_cutting_an_item() {
    let mut sink = FakeSink::start().await;
    let clock = clock_at("2026-12-01T08:00:00Z");
    let app = start(&sink, "{ at: \"09:30\", timezone: Europe/Berlin }", &clock, None).await;
    // One event moving 400 stories (a bulk edit), long names and all.
    let actions: Vec<Value> = (1..=400)
        .map(|story| {
            json!({"id": story, "entity_type": "story", "action": "update",
                   "name": format!("Story {story} with a name long enough to fill a line of its own"),
                   "app_url": format!("https://app.shortcut.com/acme/story/{story}"),
                   "changes": {"workflow_state_id": {"old": 1 + story % 2, "new": 4}}})
        })
        .collect();
    let body = json!({"id": "bulk", "member_id": "m1", "actions": actions, "references": [
        {"id": 1, "entity_type": "workflow-state", "name": "Todo"},
        {"id": 2, "entity_type": "workflow-state", "name": "Started"},
        {"id": 4, "entity_type": "workflow-state", "name": "Done"}]});
    post(&app, body.to_string().into_bytes()).await;
    app.routed().await;
    clock.set(utc("2026-12-01T08:30:01Z"));
    let digest = sink.next().await.body;
    let section = digest["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(section.chars().count() <= 3000, "{}", section.chars().count());
    assert!(section.starts_with("*→ Done* (400)"), "the count is the period's: {section}");
    let lines: Vec<&str> = section.lines().skip(1).collect();
    let (more, items) = lines.split_last().unwrap();
    for line in items {
        assert!(
            line.starts_with("• <https://app.shortcut.com/acme/story/") && line.ends_with(" · Someone"),
            "whole: {line}"
        );
    }
    let shown = items.len();
    assert_eq!(*more, format!("…and {} more", 400 - shown));
    assert!(shown > 10, "{shown}");
    app.settled().await;
    app.stop().await;
}

#[tokio::test]
async fn the_digest_command_and_api_show_it_now_and_send_it_now() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("digest-command");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let clock = clock_at("2026-12-01T08:00:00Z");
    let options = Options {
        storage: Some(storage.clone()),
        clock: Some(clock.clone()),
        config_file: Some(dir.join("bridge.yaml")),
        ..Default::default()
    };
    let app = spawn(&sink.base(), &config(&sink, STANDUP), options).await;
    post(&app, moved("e1", 9, 1, 4)).await;
    app.routed().await;

    let shown =
        app.http.get(app.url("/api/channels/standup/digest")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(
        (shown["stories"].clone(), shown["due_local"].clone()),
        (json!(1), json!("2026-12-01 09:30 CET"))
    );
    assert_eq!(
        sections(&shown["body"]),
        ["*→ Done* (1) | • <https://app.shortcut.com/acme/story/9|Story 9> from Todo · Ada"]
    );
    let unknown = app.http.get(app.url("/api/channels/nope/digest")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    // The CLI says the same, on the same store, and sends it ahead of time.
    let output = crate::support::process::storybridge(
        &dir.join("bridge.yaml"),
        &["digest", "standup"],
        &sink.base(),
        &storage,
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        text.starts_with("standup: due 2026-12-01 09:30 CET (2026-12-01T08:30:00Z), 1 stories so far\n"),
        "{text}"
    );
    assert!(text.contains("Story 9"), "{text}");
    let output = crate::support::process::storybridge(
        &dir.join("bridge.yaml"),
        &["digest", "standup", "--send"],
        &sink.base(),
        &storage,
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("digest queued"), "{output:?}");
    let sent = sink.next().await.body;
    assert_eq!(
        sections(&sent),
        ["*→ Done* (1) | • <https://app.shortcut.com/acme/story/9|Story 9> from Todo · Ada"]
    );

    // Through the API: the next change, sent now.
    post(&app, moved("e2", 7, 1, 2)).await;
    app.routed().await;
    let released =
        app.http.post(app.url("/api/channels/standup/digest")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(released.json::<Value>().await.unwrap()["released"], 1);
    assert_eq!(
        sections(&sink.next().await.body),
        ["*→ Started* (1) | • <https://app.shortcut.com/acme/story/7|Story 7> from Todo · Ada"]
    );
    // At 09:30 nothing is left to send.
    clock.set(utc("2026-12-01T08:30:01Z"));
    app.settled().await;
    app.stop().await;
    assert!(sink.take_all().is_empty());
}
