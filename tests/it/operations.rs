//! Running it like infrastructure: readiness, metrics, the admin API, hot reload.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};
use storybridge::store;
use storybridge::verify::sign_hex;

use crate::support::app::{config_with, spawn, spawn_with_template, Options, TestApp, SHORTCUT_SECRET};
use crate::support::flaky_store::FlakyStore;
use crate::support::process::temp_dir;
use crate::support::{fixture, FakeSink, Reply};

const TOKEN: &str = "admin-token-0123456789abcdef";
const ALL_TO_SLACK: &str = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";

fn with_admin(yaml: &str) -> String {
    format!("admin_token: \"{TOKEN}\"\n{yaml}")
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = app.http.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut request =
        app.http.post(app.url(path)).header("content-type", "application/json").body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The value of one sample, e.g. `storybridge_messages_total{channel="deploys",outcome="dead"}`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn readiness_goes_503_with_the_reason_when_the_store_is_unreachable() {
    let sink = FakeSink::start().await;
    let flaky = FlakyStore::new(store::open("sqlite::memory:", std::path::Path::new(".")).unwrap());
    let options = Options { store: Some(flaky.clone()), ..Default::default() };
    let app = spawn(&sink.base(), &config_with(ALL_TO_SLACK), options).await;

    assert_eq!(get(&app, "/readyz", None).await, (200, json!({"status": "ready"})));
    flaky.down.store(true, Ordering::SeqCst);
    let (status, answer) = get(&app, "/readyz", None).await;
    assert_eq!(status, 503);
    assert_eq!(answer["status"], "unavailable");
    assert!(answer["reasons"][0].as_str().unwrap().starts_with("store unreachable"), "{answer}");
    assert_eq!(get(&app, "/healthz", None).await.0, 200, "alive, just not ready");

    // An event that cannot be stored is refused with 503, so the sender retries.
    assert_eq!(app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await.status(), 503);
    flaky.down.store(false, Ordering::SeqCst);
    assert_eq!(get(&app, "/readyz", None).await.0, 200);
}

#[tokio::test]
async fn every_metric_family_appears_and_moves_when_its_event_happens() {
    let sink = FakeSink::start().await;
    let dir = temp_dir("metrics");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    // Valid JSON for `check`'s sample events; not for this epic.
    std::fs::write(
        dir.join("templates/broken.json.hbs"),
        r#"{"text": "{{name}}"{{#if (eq name "New Epic!")}},{{/if}}}"#,
    )
    .unwrap();
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n\
                 \x20 - name: broken\n    when: { entity_type: epic }\n    send: [team]\n    template: broken\n";
    let yaml = with_admin(&format!("templates: templates\n{}", config_with(rules)));
    let options = Options { config_file: Some(dir.join("bridge.yaml")), ..Default::default() };
    let app = spawn(&sink.base(), &yaml, options).await;

    let before = app.metrics().await;
    assert_eq!(sample(&before, "storybridge_messages_total{channel=\"deploys\",outcome=\"delivered\"}"), 0.0);
    assert!(
        before.contains("storybridge_messages_total{channel=\"deploys\",outcome=\"delivered\"} 0"),
        "primed at zero"
    );

    // Events: accepted, duplicate, bad signature, bad request, too large.
    sink.reply_next([
        Reply::new(429, "").header("retry-after", "0"),
        Reply::new(500, "rollup_error"),
        Reply::new(404, "no_service"),
    ]);
    let create = fixture("shortcut/zulip_story_create.json");
    app.post_shortcut(&create).await;
    app.post_shortcut(&create).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await;
    app.post_shortcut(&fixture("shortcut/zulip_epic_create.json")).await;
    let forged = app.http.post(app.url("/hooks/shortcut")).header("payload-signature", "00").body("{}");
    forged.send().await.unwrap();
    let bad_json = b"{not json";
    let bad = app
        .http
        .post(app.url("/hooks/shortcut"))
        .header("payload-signature", sign_hex(SHORTCUT_SECRET, bad_json));
    bad.body(bad_json.to_vec()).send().await.unwrap();
    app.http.post(app.url("/hooks/shortcut")).body(vec![b' '; 70_000]).send().await.unwrap();
    app.settled().await;
    let (status, _) = post(&app, "/-/reload", Some(TOKEN), "").await;
    assert_eq!(status, 200);

    let after = app.metrics().await;
    for family in [
        "storybridge_events_received",
        "storybridge_messages",
        "storybridge_queue_depth",
        "storybridge_queue_oldest_age_seconds",
        "storybridge_delivery_latency_seconds",
        "storybridge_routing_latency_seconds",
        "storybridge_rule_matches",
        "storybridge_template_errors",
        "storybridge_config_reloads",
    ] {
        assert!(after.contains(&format!("# TYPE {family} ")), "{family} missing:\n{after}");
    }
    let events = |outcome: &str| {
        sample(
            &after,
            &format!("storybridge_events_received_total{{source=\"shortcut\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(events("accepted"), 3.0);
    assert_eq!(events("duplicate"), 1.0);
    assert_eq!(events("bad_signature"), 1.0);
    assert_eq!(events("bad_request"), 1.0);
    assert_eq!(events("too_large"), 1.0);
    let messages = |outcome: &str| {
        sample(&after, &format!("storybridge_messages_total{{channel=\"deploys\",outcome=\"{outcome}\"}}"))
    };
    // create: 429, 500, then delivered; delete: 404, dead; epic: delivered.
    let outcomes = (messages("rate_limited"), messages("retried"), messages("delivered"), messages("dead"));
    assert_eq!(outcomes, (1.0, 1.0, 2.0, 1.0));
    assert_eq!(sample(&after, "storybridge_delivery_latency_seconds_count{channel=\"deploys\"}"), 2.0);
    assert_eq!(
        sample(&after, "storybridge_routing_latency_seconds_count"),
        3.0,
        "each accepted event routed once"
    );
    assert_eq!(sample(&after, "storybridge_queue_depth{channel=\"deploys\"}"), 0.0);
    assert!(after.contains("storybridge_queue_oldest_age_seconds{channel=\"deploys\"} 0"), "{after}");
    assert_eq!(sample(&after, "storybridge_rule_matches_total{rule=\"all\"}"), 3.0);
    assert_eq!(
        sample(&after, "storybridge_template_errors_total{template=\"broken\",channel=\"team\"}"),
        1.0
    );
    assert_eq!(sample(&after, "storybridge_config_reloads_total{outcome=\"success\"}"), 1.0);
}

#[tokio::test]
async fn queue_gauges_count_what_waits() {
    let address = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let app = spawn(&format!("http://{address}"), &config_with(ALL_TO_SLACK), Options::default()).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await;
    app.routed().await;
    let text = app.metrics().await;
    assert_eq!(sample(&text, "storybridge_queue_depth{channel=\"deploys\"}"), 2.0, "{text}");
}

#[tokio::test]
async fn the_admin_api_is_absent_without_a_token_and_refuses_a_wrong_one() {
    let sink = FakeSink::start().await;
    let without = spawn(&sink.base(), &config_with(ALL_TO_SLACK), Options::default()).await;
    assert_eq!(get(&without, "/api/deliveries", Some(TOKEN)).await.0, 404);
    assert_eq!(post(&without, "/-/reload", None, "").await.0, 404);

    let app = spawn(&sink.base(), &with_admin(&config_with(ALL_TO_SLACK)), Options::default()).await;
    assert_eq!(
        get(&app, "/api/deliveries", None).await,
        (401, json!({"error": "missing or wrong admin token"}))
    );
    assert_eq!(get(&app, "/api/deliveries", Some("admin-token-0123456789abcdeX")).await.0, 401);
    assert_eq!(post(&app, "/api/replay", Some("wrong"), "{}").await.0, 401);
    assert_eq!(get(&app, "/api/deliveries", Some(TOKEN)).await, (200, json!([])));
}

#[tokio::test]
async fn the_admin_api_shows_retries_replays_tests_and_previews() {
    let mut sink = FakeSink::start().await;
    sink.reply_next([Reply::new(404, "no_service")]);
    let app = spawn(&sink.base(), &with_admin(&config_with(ALL_TO_SLACK)), Options::default()).await;
    let token = Some(TOKEN);
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    sink.next().await;
    app.settled().await;

    let (status, dead) = get(&app, "/api/deliveries?status=dead&channel=deploys", token).await;
    assert_eq!(status, 200);
    assert_eq!(dead[0]["last_status"], 404);
    assert_eq!(dead[0]["last_error"], "no_service");
    let section = dead[0]["body"]["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(section.contains("Ready for Review"), "the body as JSON: {dead}");

    let (status, event) = get(&app, "/api/events/5b1fe334-1258-408e-85eb-8ecb6acdcc82", token).await;
    assert_eq!(status, 200);
    assert_eq!(event["source"], "shortcut");
    assert_eq!(event["analysis"]["changes"][0]["entity_type"], "story");
    assert_eq!(event["analysis"]["changes"][0]["routes"][0]["rule"], "all");
    assert_eq!(event["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(get(&app, "/api/events/nope", token).await.0, 404);

    let id = dead[0]["id"].as_i64().unwrap();
    assert_eq!(
        post(&app, &format!("/api/deliveries/{id}/retry"), token, "").await,
        (200, json!({"queued": 1}))
    );
    assert!(sink.next().await.body["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("Ready for Review"));
    app.settled().await;
    assert_eq!(
        post(&app, "/api/replay", token, r#"{"channel": "deploys", "since": "1h"}"#).await,
        (200, json!({"queued": 0}))
    );

    let (status, test) = post(&app, "/api/channels/deploys/test", token, "").await;
    assert_eq!((status, &test["outcome"]), (200, &json!("delivered")));
    assert!(sink.next().await.body["text"].as_str().unwrap().starts_with("🔔 storybridge test message"));
    assert_eq!(post(&app, "/api/channels/nope/test", token, "").await.0, 404);

    let body = String::from_utf8(fixture("shortcut/zulip_story_comment_create.json")).unwrap();
    let (status, preview) = post(&app, "/api/preview?source=shortcut", token, &body).await;
    assert_eq!(status, 200);
    assert_eq!(preview["changes"][0]["routes"][0]["channel"], "deploys");
    assert!(preview["changes"][0]["routes"][0]["body"]["text"].as_str().unwrap().contains("commented on"));
    assert_eq!(preview["changes"][1]["routes"], json!([]), "the side effect matches no rule");
    app.settled().await;
    assert_eq!(app.deliveries().await.len(), 1, "a preview stores nothing");
}

#[tokio::test]
async fn an_edit_to_bridge_yaml_takes_effect_without_a_restart_and_a_bad_one_is_rejected() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("reload");
    let file = dir.join("bridge.yaml");
    let epics_only = "  - name: epics\n    when: { entity_type: epic }\n    send: [deploys]\n";
    let app = spawn(
        &sink.base(),
        &config_with(epics_only),
        Options { config_file: Some(file.clone()), ..Default::default() },
    )
    .await;

    assert_eq!(app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await.status(), 202);
    app.routed().await;
    assert_eq!(app.deliveries().await.len(), 0, "no rule for stories yet");

    let with_stories =
        format!("{epics_only}  - name: stories\n    when: {{ entity_type: story }}\n    send: [deploys]\n");
    std::fs::write(&file, config_with(&with_stories)).unwrap();
    app.wait_for_reloads("success", 1.0).await;
    assert_eq!(app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await.status(), 202);
    app.routed().await;
    assert_eq!(app.deliveries().await.len(), 1, "the new rule routes");
    assert!(sink.next().await.body["text"].as_str().unwrap().contains("deleted"));

    // A broken edit: the old rules keep routing.
    std::fs::write(&file, config_with(&with_stories.replace("send: [deploys]\n", "send: [nowhere]\n")))
        .unwrap();
    app.wait_for_reloads("failure", 1.0).await;
    assert_eq!(app.post_shortcut(&fixture("shortcut/zulip_epic_create.json")).await.status(), 202);
    app.routed().await;
    assert_eq!(app.deliveries().await.len(), 2, "the old rules route the epic");
    assert!(sink.next().await.body["text"].as_str().unwrap().contains("New Epic!"));
}

#[tokio::test]
async fn post_reload_answers_with_the_errors_of_a_rejected_config() {
    let sink = FakeSink::start().await;
    let dir = temp_dir("reload-api");
    let file = dir.join("bridge.yaml");
    let yaml = with_admin(&config_with(ALL_TO_SLACK));
    let app =
        spawn(&sink.base(), &yaml, Options { config_file: Some(file.clone()), ..Default::default() }).await;
    std::fs::write(&file, yaml.replace("send: [deploys]", "send: [tem]")).unwrap();

    let (status, answer) = post(&app, "/-/reload", Some(TOKEN), "").await;

    assert_eq!(status, 400);
    assert_eq!(answer["status"], "rejected");
    let errors = answer["errors"].as_array().unwrap();
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .ends_with("rules[0].send[0]: unknown channel `tem` (known: deploys, team)"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_template_edit_changes_the_next_message_without_a_restart() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("template-reload");
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n    template: short\n";
    let app = spawn_with_template(&sink.base(), &dir, "short.hbs", "v1: {{name}}", rules).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(sink.next().await.body, json!({"text": "v1: Add cool feature!"}));

    std::fs::write(dir.join("templates/short.hbs"), "v2: {{name}}").unwrap();
    app.wait_for_reloads("success", 1.0).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await;
    assert_eq!(sink.next().await.body, json!({"text": "v2: New random story"}));
}

#[tokio::test]
async fn with_admin_listen_the_api_is_served_only_on_its_own_listener() {
    let sink = FakeSink::start().await;
    let options = Options { admin_listener: true, ..Default::default() };
    let app = spawn(&sink.base(), &with_admin(&config_with(ALL_TO_SLACK)), options).await;
    let admin = app.admin_address.unwrap();

    assert_eq!(get(&app, "/api/deliveries", Some(TOKEN)).await.0, 404, "not on the public listener");
    let on_admin =
        app.http.get(format!("http://{admin}/api/deliveries")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(on_admin.status(), 200);
    for probe in ["/healthz", "/readyz"] {
        let on_admin = app.http.get(format!("http://{admin}{probe}")).send().await.unwrap();
        assert_eq!(
            (on_admin.status().as_u16(), get(&app, probe, None).await.0),
            (200, 200),
            "{probe} is on both"
        );
    }
    let metrics = app.http.get(format!("http://{admin}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert_eq!(get(&app, "/metrics", None).await.0, 404, "metrics only on the admin listener");
    let console = app.http.get(format!("http://{admin}/console")).send().await.unwrap();
    assert_eq!(console.status(), 200, "the console lives with the API");
    assert_eq!(
        app.http.get(app.url("/console")).send().await.unwrap().status(),
        404,
        "not on the public listener"
    );
}

#[tokio::test]
async fn a_config_saved_by_rename_is_reloaded_and_watched_again() {
    let sink = FakeSink::start().await;
    let dir = temp_dir("rename-save");
    let file = dir.join("bridge.yaml");
    let epics = "  - name: epics\n    when: { entity_type: epic }\n    send: [deploys]\n";
    let app = spawn(
        &sink.base(),
        &config_with(epics),
        Options { config_file: Some(file.clone()), ..Default::default() },
    )
    .await;

    // Editors write a new file and rename it over the old one; twice, to show
    // the watch follows the new file.
    for (round, rule) in ["stories", "tasks"].iter().enumerate() {
        let rules =
            format!("{epics}  - name: {rule}\n    when: {{ entity_type: story }}\n    send: [deploys]\n");
        let saved = dir.join(format!(".bridge.yaml.swp{round}"));
        std::fs::write(&saved, config_with(&rules)).unwrap();
        std::fs::rename(&saved, &file).unwrap();
        app.wait_for_reloads("success", round as f64 + 1.0).await;
    }
    // The second save's rule is live: primed at zero, then matching a story.
    let text = app.metrics().await;
    assert!(text.contains("storybridge_rule_matches_total{rule=\"tasks\"} 0\n"), "{text}");
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    app.settled().await;
    let text = app.metrics().await;
    assert_eq!(sample(&text, "storybridge_rule_matches_total{rule=\"tasks\"}"), 1.0, "{text}");
}

fn channel<'a>(channels: &'a Value, name: &str) -> &'a Value {
    channels.as_array().unwrap().iter().find(|channel| channel["name"] == name).unwrap()
}

#[tokio::test]
async fn a_paused_channel_holds_its_messages_until_resumed_and_says_why() {
    let mut sink = FakeSink::start().await;
    let app = spawn(&sink.base(), &with_admin(&config_with(ALL_TO_SLACK)), Options::default()).await;
    let token = Some(TOKEN);
    assert_eq!(post(&app, "/api/channels/deploys/pause", None, "").await.0, 401);
    assert_eq!(post(&app, "/api/channels/nope/pause", token, "").await.0, 404);
    assert_eq!(post(&app, "/api/channels/deploys/pause", token, "{not json").await.0, 400);
    let (status, paused) =
        post(&app, "/api/channels/deploys/pause", token, r#"{"reason": "release freeze"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        paused,
        json!({"name": "deploys", "kind": "slack", "pending": 0, "oldest_pending_s": null,
               "paused": {"by": "admin", "reason": "release freeze"}})
    );

    assert_eq!(app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await.status(), 202);
    app.routed().await;
    assert!(
        sink.next_within(std::time::Duration::from_millis(1500)).await.is_none(),
        "paused: nothing is sent"
    );
    let (status, channels) = get(&app, "/api/channels", token).await;
    assert_eq!(status, 200);
    let deploys = channel(&channels, "deploys");
    assert_eq!((&deploys["pending"], &deploys["paused"]["reason"]), (&json!(1), &json!("release freeze")));
    assert!(deploys["oldest_pending_s"].as_f64().unwrap() >= 1.0, "{deploys}");
    assert_eq!(channel(&channels, "team")["paused"], Value::Null);

    let (status, resumed) = post(&app, "/api/channels/deploys/resume", token, "").await;
    assert_eq!((status, &resumed["paused"]), (200, &Value::Null));
    assert!(
        sink.next().await.body["text"].as_str().unwrap().contains("created"),
        "the held message goes out"
    );
    app.settled().await;
    assert_eq!(channel(&get(&app, "/api/channels", token).await.1, "deploys")["pending"], 0);
}

#[tokio::test]
async fn storybridge_pause_and_resume_beside_the_running_bridge() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("pause-cli");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let app = spawn(
        &sink.base(),
        &config_with(ALL_TO_SLACK),
        Options { storage: Some(storage.clone()), ..Default::default() },
    )
    .await;
    let config = dir.join("bridge.yaml");
    std::fs::write(&config, config_with(ALL_TO_SLACK)).unwrap();
    let base = sink.base();
    let cli = |arguments: &[&str]| {
        let output = crate::support::process::storybridge(&config, arguments, &base, &storage);
        assert!(output.status.success(), "{arguments:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let paused = cli(&["pause", "deploys", "--reason", "release freeze"]);
    assert_eq!(
        paused,
        "CHANNEL  KIND   PENDING  OLDEST  PAUSED\ndeploys  slack  0        -       by admin: release freeze\n"
    );
    // The running bridge's worker reads the pause with each batch it claims.
    assert_eq!(app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await.status(), 202);
    app.routed().await;
    assert!(sink.next_within(std::time::Duration::from_millis(1500)).await.is_none(), "paused from the CLI");
    let listed = cli(&["channels"]);
    assert!(listed.contains("deploys  slack    1 "), "{listed}");
    assert!(listed.contains("by admin: release freeze\nteam     discord  0        -       no\n"), "{listed}");
    assert!(cli(&["resume", "deploys"]).ends_with("  no\n"));
    assert!(sink.next().await.body["text"].as_str().unwrap().contains("created"));
    let unknown = crate::support::process::storybridge(&config, &["pause", "nope"], &sink.base(), &storage);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no channel named `nope`"));
}
