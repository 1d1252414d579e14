//! What a hostile sender or a clumsy admin does, and what each now gets: a
//! clear error, the old config kept, nothing lost, the process still serving.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::app::{config_with, spawn, Options, TestApp};
use crate::support::process::temp_dir;
use crate::support::{fixture, FakeSink};

async fn reloads(app: &TestApp, outcome: &str) -> f64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let series = format!("storybridge_config_reloads_total{{outcome=\"{outcome}\"}} ");
    text.lines().find_map(|line| line.strip_prefix(&series)?.parse().ok()).unwrap_or(0.0)
}

async fn wait_for(app: &TestApp, outcome: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while reloads(app, outcome).await < 1.0 {
        assert!(Instant::now() < deadline, "no reload {outcome}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_template_that_includes_itself_is_refused_by_check_and_by_reload() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("include-cycle");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("templates/card.hbs"), "card: {{name}}").unwrap();
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n    template: card\n";
    let yaml = format!("templates: templates\n{}", config_with(rules));
    let app = spawn(
        &sink.base(),
        &yaml,
        Options { config_file: Some(dir.join("bridge.yaml")), ..Default::default() },
    )
    .await;

    std::fs::write(dir.join("templates/card.hbs"), "{{#if name}}{{> card}}{{/if}}").unwrap();
    wait_for(&app, "failure").await;
    let checked = crate::support::process::storybridge(
        &dir.join("bridge.yaml"),
        &["check"],
        &sink.base(),
        "sqlite::memory:",
    );
    assert_eq!(checked.status.code(), Some(1));
    let said = String::from_utf8_lossy(&checked.stderr);
    assert!(said.contains("templates: ") && said.contains("card.hbs: `card` includes itself"), "{said}");

    // The process still serves, on the old template.
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(sink.next().await.body, json!({"text": "card: Add cool feature!"}));
}
