//! Store first, route after: what the router promises. A template failure
//! loses nothing, stored events route again after a fix, a burst renders once,
//! and an event accepted but not routed before a crash is routed at start.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use storybridge::store::{self, Accepted, DeliveryStatus, NewEvent};
use storybridge::verify::sign_hex;

use crate::support::app::{config_with, spawn, spawn_with_storage, Options, TestApp, SHORTCUT_SECRET};
use crate::support::process::{storybridge, temp_dir};
use crate::support::{fixture, FakeSink};

const TOKEN: &str = "admin-token-0123456789abcdef";

/// A bridge on a config file in `dir` (reloaded when it changes), its store
/// beside it, its templates in `dir/templates`.
async fn spawn_in(dir: &std::path::Path, sink: &FakeSink, rules: &str) -> (TestApp, String) {
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let yaml = format!("admin_token: \"{TOKEN}\"\ntemplates: templates\n{}", config_with(rules));
    let options = Options {
        storage: Some(storage.clone()),
        config_file: Some(dir.join("bridge.yaml")),
        ..Default::default()
    };
    (spawn(&sink.base(), &yaml, options).await, storage)
}

async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app.metrics().await;
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

fn stdout(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_failing_template_loses_its_message_to_no_one_and_a_replay_renders_it_with_the_fix() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("template-failure");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    // Passes `check`'s sample events; fails on this story.
    std::fs::write(
        dir.join("templates/card.hbs"),
        "{{#if (eq name \"Add cool feature!\")}}{{nope name}}{{/if}}ok",
    )
    .unwrap();
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n    template: card\n";
    let (app, storage) = spawn_in(&dir, &sink, rules).await;

    let answer = app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(answer.status(), 202);
    app.settled().await;

    let rows = app.deliveries().await;
    assert_eq!(rows.len(), 1, "the message is kept");
    assert_eq!(rows[0].status, DeliveryStatus::Dead);
    assert_eq!(rows[0].template.as_deref(), Some("card"));
    let error = rows[0].render_error.clone().unwrap();
    assert!(error.starts_with("template `card`") && error.contains("nope"), "{error}");
    assert!(sink.take_all().is_empty(), "nothing was sent");
    assert_eq!(
        metric(&app, "storybridge_template_errors_total{template=\"card\",channel=\"deploys\"}").await,
        1.0
    );
    let listed = stdout(&storybridge(
        &dir.join("bridge.yaml"),
        &["deliveries", "--status", "dead"],
        &sink.base(),
        &storage,
    ));
    assert!(
        listed.lines().nth(1).is_some_and(|row| row.contains("dead") && row.contains("template `card`")),
        "{listed}"
    );

    std::fs::write(dir.join("templates/card.hbs"), "fixed: {{name}}").unwrap();
    app.wait_for_reloads("success", 1.0).await;
    let replayed = storybridge(&dir.join("bridge.yaml"), &["replay", "--dead"], &sink.base(), &storage);
    assert_eq!(stdout(&replayed).trim(), "queued 1 message(s) again");

    assert_eq!(sink.next().await.body, json!({"text": "fixed: Add cool feature!"}));
    app.settled().await;
    let row = &app.deliveries().await[0];
    assert_eq!((row.status, row.render_error.as_deref()), (DeliveryStatus::Delivered, None));
    assert_eq!(row.body, r#"{"text":"fixed: Add cool feature!"}"#, "the rendered body is kept with the row");
}

#[tokio::test]
async fn a_reroute_after_adding_a_rule_queues_only_what_was_not_sent() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("reroute");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    let epics = "  - name: epics\n    when: { entity_type: epic }\n    send: [deploys]\n";
    let (app, storage) = spawn_in(&dir, &sink, epics).await;
    let story = fixture("shortcut/zulip_story_create.json");
    let story_id = serde_json::from_slice::<Value>(&story).unwrap()["id"].as_str().unwrap().to_owned();
    app.post_shortcut(&story).await;
    app.post_shortcut(&fixture("shortcut/zulip_epic_create.json")).await;
    assert!(sink.next().await.body["text"].as_str().unwrap().contains("New Epic!"));
    app.settled().await;
    assert_eq!(app.deliveries().await.len(), 1, "no rule for stories yet");

    // The admin adds the rule the story needed; the CLI reads the file as it is now.
    let stories =
        format!("{epics}  - name: stories\n    when: {{ entity_type: story }}\n    send: [deploys]\n");
    let yaml = format!("admin_token: \"{TOKEN}\"\ntemplates: templates\n{}", config_with(&stories));
    std::fs::write(dir.join("bridge.yaml"), yaml).unwrap();
    let config = dir.join("bridge.yaml");

    let first = storybridge(&config, &["reroute", &story_id], &sink.base(), &storage);
    assert_eq!(
        stdout(&first),
        format!("event {story_id} (shortcut): queued 1\nqueued 1 message(s) for 1 event(s)\n")
    );
    let text = sink.next().await.body["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("created feature <https://app.clubhouse.io/zulip/story/11|Add cool feature!>"),
        "{text}"
    );
    app.settled().await;

    let again = storybridge(&config, &["reroute", "--since", "1h"], &sink.base(), &storage);
    let said = stdout(&again);
    assert!(
        said.contains(&format!("event {story_id} (shortcut): queued 0, 1 already queued or delivered\n")),
        "{said}"
    );
    assert!(said.ends_with("queued 0 message(s) for 2 event(s)\n"), "{said}");

    app.wait_for_reloads("success", 1.0).await;
    let answer = app
        .http
        .post(app.url(&format!("/api/events/{story_id}/reroute")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"events": [{"source": "shortcut", "event_id": story_id, "queued": 0, "requeued": 0,
                           "coalesced": 0, "failed": 0, "already": 1}]})
    );
    let missing = app.http.post(app.url("/api/events/nope/reroute")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let unknown = storybridge(&config, &["reroute", "nope"], &sink.base(), &storage);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no stored event matches"));
    app.settled().await;
    assert_eq!(sink.take_all().len(), 0, "nothing was sent twice");
}

/// One Shortcut batch of `count` updates to story 9, each moving its estimate.
fn burst_event(count: usize) -> Vec<u8> {
    let actions: Vec<Value> = (0..count)
        .map(|n| {
            json!({"id": 9, "entity_type": "story", "action": "update", "name": "Ship the bridge",
                   "story_type": "feature", "app_url": "https://app.shortcut.com/acme/story/9",
                   "changes": {"estimate": {"old": n, "new": n + 1}}})
        })
        .collect();
    json!({"id": "burst", "changed_at": "2026-11-25T12:00:00Z", "actions": actions}).to_string().into_bytes()
}

#[tokio::test]
async fn a_two_thousand_change_burst_is_answered_at_once_and_holds_no_other_event_back() {
    let mut sink = FakeSink::start().await;
    let rules =
        "  - name: stories\n    when: { entity_type: story }\n    send: [deploys]\n    coalesce: 2s\n\
                 \x20 - name: epics\n    when: { entity_type: epic }\n    send: [team]\n";
    let yaml = config_with(rules).replace("max_body_bytes: 65536", "max_body_bytes: 2097152");
    let app = spawn_with_storage(&sink.base(), &yaml, None).await;

    let started = Instant::now();
    let answer = app.post_shortcut(&burst_event(2000)).await;
    let answered = started.elapsed();
    assert_eq!(answer.status(), 202);
    assert_eq!(answer.json::<Value>().await.unwrap()["changes"], 2000);
    assert!(answered < Duration::from_secs(1), "answered after {answered:?}");
    app.post_shortcut(&fixture("shortcut/zulip_epic_create.json")).await;

    let epic = sink.next().await;
    assert_eq!(epic.path, "/discord/team", "the epic is not held behind the burst's window");
    let burst = sink.next().await;
    assert!(started.elapsed() >= Duration::from_secs(2), "held for its window");
    assert_eq!(burst.path, "/slack/deploys");
    let text = burst.body["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(text.starts_with("*Someone* updated feature <https://app.shortcut.com/acme/story/9|Ship the bridge>\n• *estimate*: 0 → 1 → 2 → 3"), "{text}");
    app.settled().await;
    assert!(sink.take_all().is_empty(), "one message for the whole burst");
    let rows = app.deliveries().await;
    assert_eq!(rows.len(), 2);
    assert_eq!(app.store.parts(rows[0].id).await.unwrap().len(), 2000);
}

#[tokio::test]
async fn events_accepted_but_not_routed_before_a_crash_are_routed_at_start_in_order() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("unrouted");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    // What ingest committed before the process died: the raw events, unrouted.
    {
        let store = store::open(&storage, &dir).unwrap();
        for n in 1..=3 {
            let body = json!({"id": format!("e{n}"), "primary_id": n, "actions": [{
                "id": n, "entity_type": "story", "action": "update", "name": format!("story-{n}"),
                "changes": {"estimate": {"old": 1, "new": 2}}}]})
            .to_string()
            .into_bytes();
            let headers = json!({"payload-signature": sign_hex(SHORTCUT_SECRET, &body)}).to_string();
            let event = NewEvent {
                source: "shortcut".into(),
                event_id: format!("e{n}"),
                received_at: store::now_millis(),
                content_type: Some("application/json".into()),
                headers,
                body,
            };
            assert!(matches!(store.accept(event).await.unwrap(), Accepted::Inserted { .. }));
        }
    }
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";
    let app = spawn_with_storage(&sink.base(), &config_with(rules), Some(&storage)).await;

    let mut seen = Vec::new();
    for _ in 1..=3 {
        let text = sink.next().await.body["text"].as_str().unwrap().to_owned();
        seen.push(
            text.split_whitespace().find(|word| word.starts_with("story-")).unwrap_or(&text).to_owned(),
        );
    }
    assert_eq!(seen, ["story-1", "story-2", "story-3"]);
    app.settled().await;
    assert!(sink.take_all().is_empty());
}

#[tokio::test]
async fn a_preview_piped_into_a_reader_that_stops_early_exits_cleanly() {
    use std::io::BufRead;
    let dir = temp_dir("preview-pipe");
    let config = crate::support::process::config_file(&dir, "", "https://hooks.slack.com/services/T/B/x", "");
    let event = dir.join("event.json");
    std::fs::write(&event, burst_event(500)).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_storybridge"))
        .args(["preview", "--source", "shortcut", "--config"])
        .arg(&config)
        .arg(&event)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: one line read, then the pipe closed under a writer with
    // far more than a pipe's buffer left to write.
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, "event burst from shortcut (shortcut), 500 change(s)\n");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

const EXPLAINED_RULES: &str = "  - name: ready-for-deploy
    when: { entity_type: story, to: { state: Ready for Deploy } }
    send: [deploys]
  - name: reviews
    when: { entity_type: story, to: { state: Ready for Review } }
    send: [deploys]
    stop: true
  - name: comments
    when: { entity_type: story-comment }
    send: [deploys]
";

#[test]
fn preview_explain_says_for_every_rule_whether_it_matched_and_why_not() {
    let dir = temp_dir("preview-explain");
    let config = dir.join("bridge.yaml");
    std::fs::write(&config, config_with(EXPLAINED_RULES)).unwrap();
    let event = dir.join("event.json");
    std::fs::write(&event, fixture("shortcut/zulip_story_update_change_state.json")).unwrap();
    let event = event.to_str().unwrap();
    let output = storybridge(
        &config,
        &["preview", "--source", "shortcut", "--explain", event],
        "http://127.0.0.1:9",
        "sqlite::memory:",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let explained =
        "  rule ready-for-deploy: not matched: to.workflow_state_id: wanted \"Ready for Deploy\", \
                     was \"Ready for Review\"\n  \
                     rule reviews: matched\n  \
                     rule comments: not tried: rule `reviews` above matched and says stop\n  \
                     rule reviews → channel deploys (template default)\n";
    assert!(text.contains(explained), "{text}");

    // Without --explain the verdicts are left out; the JSON always has them.
    let plain = storybridge(
        &config,
        &["preview", "--source", "shortcut", event],
        "http://127.0.0.1:9",
        "sqlite::memory:",
    );
    assert!(!String::from_utf8(plain.stdout).unwrap().contains("not matched"));
    let json = storybridge(
        &config,
        &["preview", "--source", "shortcut", "--json", event],
        "http://127.0.0.1:9",
        "sqlite::memory:",
    );
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        json["changes"][0]["rules"],
        json!([
            {"rule": "ready-for-deploy", "matched": false,
             "why": "to.workflow_state_id: wanted \"Ready for Deploy\", was \"Ready for Review\""},
            {"rule": "reviews", "matched": true},
            {"rule": "comments", "matched": false, "why": "not tried: rule `reviews` above matched and says stop"},
        ])
    );
}

#[tokio::test]
async fn the_admin_preview_says_why_a_comment_matched_no_story_rule() {
    let sink = FakeSink::start().await;
    let yaml = format!("admin_token: \"{TOKEN}\"\n{}", config_with(EXPLAINED_RULES));
    let app = spawn(&sink.base(), &yaml, Options::default()).await;
    let preview: Value = app
        .http
        .post(app.url("/api/preview?source=shortcut"))
        .bearer_auth(TOKEN)
        .body(fixture("shortcut/zulip_story_comment_create.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        preview["changes"][0]["rules"][0],
        json!({"rule": "ready-for-deploy", "matched": false,
               "why": "entity_type: wanted \"story\", was \"story-comment\""})
    );
    assert_eq!(preview["changes"][0]["rules"][2], json!({"rule": "comments", "matched": true}));
    app.settled().await;
    assert!(app.deliveries().await.is_empty(), "a preview sends and stores nothing");
}

#[tokio::test]
async fn check_warns_of_a_state_name_no_stored_event_carried_and_suggests_the_one_it_meant() {
    let dir = temp_dir("check-names");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let sink = FakeSink::start().await;
    let misspelt =
        "  - name: reviews\n    when: { to: { state: Ready for Reveiw } }\n    send: [deploys]\n  \
                    - name: moves\n    when: { changed: [workflow_stat_id] }\n    send: [deploys]\n";
    let app = spawn_with_storage(&sink.base(), &config_with(misspelt), Some(&storage)).await;
    assert_eq!(
        app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await.status(),
        202
    );
    app.routed().await;
    assert!(app.deliveries().await.is_empty(), "the misspelt rule never fires");
    app.stop().await;

    let config = dir.join("bridge.yaml");
    std::fs::write(&config, config_with(misspelt)).unwrap();
    let output = storybridge(&config, &["check"], &sink.base(), &storage);
    assert!(
        output.status.success(),
        "a warning is not an error: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(
            "bridge.yaml: rules[0].when.to.state: \"Ready for Reveiw\" is no workflow-state that names:, people: or \
             any of the 1 stored events has carried (did you mean \"Ready for Review\"?)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "bridge.yaml: rules[1].when.changed: none of the 1 stored shortcut events has changed \
             \"workflow_stat_id\" (did you mean \"workflow_state_id\"?)\n"
        ),
        "{text}"
    );
    // Spelt right, nothing to say about it.
    let fixed = misspelt.replace("Reveiw", "Review").replace("workflow_stat_id", "workflow_state_id");
    std::fs::write(&config, config_with(&fixed)).unwrap();
    let output = storybridge(&config, &["check"], &sink.base(), &storage);
    assert!(!String::from_utf8(output.stdout).unwrap().contains("did you mean"));
}
