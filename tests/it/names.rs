//! Names the payload does not carry, from the Shortcut API: resolved, cached,
//! and never a reason to hold a message back.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::app::{config_with, spawn, Options};
use crate::support::fake_tracker::FakeTracker;
use crate::support::{fixture, FakeSink};

const API_TOKEN: &str = "shortcut-api-token";

/// The contract config with an API token on the Shortcut source, and no `people:`
/// (so only the API can name members).
fn config(tracker: &FakeTracker, rules: &str) -> String {
    config_with(rules)
        .replace(
            "    secrets: [\"${SHORTCUT_WEBHOOK_SECRET}\", \"previous-secret\"]",
            &format!(
                "    secrets: [\"${{SHORTCUT_WEBHOOK_SECRET}}\", \"previous-secret\"]\n    api_token: \"{API_TOKEN}\"\n    api_url: \"{}\"",
                tracker.url()
            ),
        )
        .replace("people:\n  5b1fda16-626f-487f-9ecf-f3a4abf42b8b: { name: \"Ada Lovelace\" }\n", "")
}

/// A state change to an id no reference names, by a member no reference names.
fn unnamed_state_change(event_id: &str, label: bool) -> Vec<u8> {
    let mut changes = json!({"workflow_state_id": {"old": 500000008, "new": 500000011}});
    if label {
        changes["label_ids"] = json!({"adds": [77]});
    }
    json!({
        "id": event_id, "primary_id": 9, "member_id": "5b1fda16-626f-487f-9ecf-f3a4abf42b8b",
        "actions": [{"id": 9, "entity_type": "story", "action": "update", "name": "Ship the bridge",
                     "story_type": "feature", "app_url": "https://app.shortcut.com/acme/story/9", "changes": changes}]
    })
    .to_string()
    .into_bytes()
}

const READY_FOR_DEPLOY: &str =
    "  - name: deploy\n    when: { to: { workflow_state_id: \"Ready for Deploy\" } }\n    send: [deploys]\n";

fn section(body: &Value) -> String {
    body["blocks"][0]["text"]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn members_and_workflow_states_resolve_through_the_api_and_rules_match_their_names() {
    let tracker = FakeTracker::start().await;
    let mut sink = FakeSink::start().await;
    let app = spawn(&sink.base(), &config(&tracker, READY_FOR_DEPLOY), Options::default()).await;

    let response = app.post_shortcut(&unnamed_state_change("api-1", true)).await;

    assert_eq!(response.status(), 202);
    // Only the API names the state: the message proves the rule matched that name.
    assert_eq!(
        section(&sink.next().await.body),
        "*Grace Hopper* updated feature <https://app.shortcut.com/acme/story/9|Ship the bridge>\n\
         • *state*: Unscheduled → Ready for Deploy\n• *labels*: added urgent"
    );
    assert!(tracker.tokens().iter().all(|token| token == API_TOKEN), "Shortcut-Token sent");
}

#[tokio::test]
async fn the_cache_holds_so_a_second_event_makes_no_request() {
    let tracker = FakeTracker::start().await;
    let mut sink = FakeSink::start().await;
    let app = spawn(&sink.base(), &config(&tracker, READY_FOR_DEPLOY), Options::default()).await;

    app.post_shortcut(&unnamed_state_change("api-1", true)).await;
    sink.next().await;
    let after_first = tracker.requests();
    assert_eq!(after_first, 3, "members, workflows, one label");
    app.post_shortcut(&unnamed_state_change("api-2", true)).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_update_add_owner.json")).await;

    assert!(section(&sink.next().await.body).contains("Ready for Deploy"));
    assert_eq!(tracker.requests(), after_first, "every name came from the cache");
}

#[tokio::test]
async fn a_slow_api_holds_back_neither_the_sender_nor_the_names() {
    let tracker = FakeTracker::start().await;
    tracker.set_delay(Duration::from_millis(1500));
    let mut sink = FakeSink::start().await;
    let app = spawn(&sink.base(), &config(&tracker, READY_FOR_DEPLOY), Options::default()).await;

    let started = Instant::now();
    let response = app.post_shortcut(&unnamed_state_change("slow-api", true)).await;

    let answered = started.elapsed();
    assert_eq!(response.status(), 202);
    assert!(answered < Duration::from_millis(500), "the sender waited {answered:?} for the tracker API");
    assert_eq!(
        section(&sink.next().await.body),
        "*Grace Hopper* updated feature <https://app.shortcut.com/acme/story/9|Ship the bridge>\n\
         • *state*: Unscheduled → Ready for Deploy\n• *labels*: added urgent",
        "named once the API answered, and routed by the API's state name"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn an_api_outage_still_delivers_promptly_with_the_ids() {
    let tracker = FakeTracker::start().await;
    tracker.set_down(true);
    let mut sink = FakeSink::start().await;
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";
    let app = spawn(&sink.base(), &config(&tracker, rules), Options::default()).await;

    let started = Instant::now();
    let response = app.post_shortcut(&unnamed_state_change("api-down", false)).await;

    assert_eq!(response.status(), 202);
    assert!(started.elapsed() < Duration::from_secs(2), "answered in {:?}", started.elapsed());
    assert_eq!(
        section(&sink.next().await.body),
        "*Someone* updated feature <https://app.shortcut.com/acme/story/9|Ship the bridge>\n• *state*: 500000008 → 500000011"
    );
    assert_eq!(tracker.requests(), 1, "one failure, then the API is left alone for a while");
}

#[tokio::test]
async fn past_its_api_timeout_an_event_goes_out_with_ids_and_the_late_answer_names_the_next() {
    let tracker = FakeTracker::start().await;
    tracker.set_delay(Duration::from_millis(1200));
    let mut sink = FakeSink::start().await;
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";
    let yaml = config(&tracker, rules).replace("    api_url:", "    api_timeout: 200ms\n    api_url:");
    let app = spawn(&sink.base(), &yaml, Options::default()).await;

    let started = Instant::now();
    app.post_shortcut(&unnamed_state_change("late-1", false)).await;
    let first = sink.next().await;
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(1100), "routed after {waited:?}: it waited for the API");
    assert_eq!(
        section(&first.body),
        "*Someone* updated feature <https://app.shortcut.com/acme/story/9|Ship the bridge>\n\
         • *state*: 500000008 → 500000011"
    );

    // The look-up went on past the timeout (members, then workflows, 1.2 s
    // each) and filled the cache.
    while tracker.requests() < 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let asked = tracker.requests();
    app.post_shortcut(&unnamed_state_change("late-2", false)).await;
    assert_eq!(
        section(&sink.next().await.body),
        "*Grace Hopper* updated feature <https://app.shortcut.com/acme/story/9|Ship the bridge>\n\
         • *state*: Unscheduled → Ready for Deploy"
    );
    assert_eq!(tracker.requests(), asked, "named from the cache");
}
