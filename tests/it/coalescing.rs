//! One message per burst: changes to the same entity within `coalesce` become
//! one message that lists them all, held durably until the window closes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use storybridge::verify::sign_hex;

use crate::support::app::{config_with, spawn_with_storage, TestApp, SHORTCUT_SECRET};
use crate::support::FakeSink;

const COALESCED: &str = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n    coalesce: 2s\n";

/// Change `n` of a burst on story 9: three state moves, an estimate, a label.
fn change(n: usize) -> Vec<u8> {
    let changes = match n {
        1 => json!({"workflow_state_id": {"old": 1, "new": 2}}),
        2 => json!({"workflow_state_id": {"old": 2, "new": 3}}),
        3 => json!({"workflow_state_id": {"old": 3, "new": 4}}),
        4 => json!({"estimate": {"new": 3}}),
        _ => json!({"label_ids": {"adds": [77]}}),
    };
    json!({
        "id": format!("burst-{n}"), "primary_id": 9,
        "actions": [{"id": 9, "entity_type": "story", "action": "update", "name": "Ship the bridge",
                     "story_type": "feature", "app_url": "https://app.shortcut.com/acme/story/9", "changes": changes}],
        "references": [
            {"id": 1, "entity_type": "workflow-state", "name": "Todo"},
            {"id": 2, "entity_type": "workflow-state", "name": "Started"},
            {"id": 3, "entity_type": "workflow-state", "name": "Review"},
            {"id": 4, "entity_type": "workflow-state", "name": "Done"},
            {"id": 77, "entity_type": "label", "name": "urgent"}
        ]
    })
    .to_string()
    .into_bytes()
}

async fn post(app: &TestApp, body: Vec<u8>) -> Value {
    let signature = sign_hex(SHORTCUT_SECRET, &body);
    let response = app
        .http
        .post(app.url("/hooks/shortcut"))
        .header("payload-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

const ALL_FIVE: &str = "*Someone* updated feature <https://app.shortcut.com/acme/story/9|Ship the bridge>\n\
                        • *state*: Todo → Started → Review → Done\n• *estimate*: 3\n• *labels*: added urgent";

#[tokio::test]
async fn five_changes_to_one_story_inside_the_window_become_one_message_listing_all_five() {
    let mut sink = FakeSink::start().await;
    let app = spawn_with_storage(&sink.base(), &config_with(COALESCED), None).await;

    let started = Instant::now();
    for n in 1..=5 {
        assert_eq!(post(&app, change(n)).await["status"], "accepted");
    }
    app.routed().await;
    let queued = app.deliveries().await;
    assert_eq!(queued.len(), 1, "one message for the burst");
    assert!(queued[0].needs_render(), "rendered when its window closes, not at each join");

    let message = sink.next().await;
    let held = started.elapsed();
    assert!(held >= Duration::from_millis(1900) && held < Duration::from_secs(4), "held for {held:?}");
    assert_eq!(message.body["blocks"][0]["text"]["text"], json!(ALL_FIVE));
    app.settled().await;
    assert!(sink.take_all().is_empty(), "one message for the burst");
}

#[tokio::test]
async fn a_burst_waiting_in_its_window_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("storybridge-coalesce-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let mut sink = FakeSink::start().await;
    let app = spawn_with_storage(&sink.base(), &config_with(COALESCED), Some(&storage)).await;
    for n in 1..=3 {
        post(&app, change(n)).await;
    }
    app.stop().await;
    assert!(sink.take_all().is_empty(), "still inside the window");

    let app = spawn_with_storage(&sink.base(), &config_with(COALESCED), Some(&storage)).await;
    for n in 4..=5 {
        post(&app, change(n)).await;
    }
    assert_eq!(sink.next().await.body["blocks"][0]["text"]["text"], json!(ALL_FIVE));
    app.settled().await;
    assert!(sink.take_all().is_empty());
}
