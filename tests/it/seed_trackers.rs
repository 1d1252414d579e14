//! Shortcut and Pivotal shapes that came out wrong, one class each: what the
//! channel receives for them now. The bundled rules: every primary change,
//! and state changes that ride along on another one.

use crate::support::app::PIVOTAL_TOKEN;
use crate::support::{fixture, own_fixture, spawn_app, FakeSink, TestApp};

const BUNDLED_RULES: &str = r#"
  - { name: everything, when: { primary: true }, send: [deploys] }
  - { name: state-changes, when: { primary: false, entity_type: story, changed: [workflow_state_id] }, send: [deploys] }
"#;

/// The Slack texts (headline and details) for one event, in the order sent.
async fn texts(app: &TestApp, sink: &mut FakeSink, posted: reqwest::Response) -> Vec<String> {
    assert_eq!(posted.status(), 202);
    app.routed().await;
    app.settled().await;
    sink.take_all()
        .iter()
        .map(|received| {
            let blocks = received.body["blocks"].as_array().cloned().unwrap_or_default();
            blocks.iter().filter_map(|block| block["text"]["text"].as_str()).collect::<Vec<_>>().join("\n")
        })
        .collect()
}

#[tokio::test]
async fn a_shortcut_epic_comment_names_its_epic() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, BUNDLED_RULES).await;
    let epic = "<https://app.shortcut.com/zulip/epic/17|Clubhouse Fork>";
    let posted = app.post_shortcut(&own_fixture("shortcut/epic_comment_create.json")).await;
    assert_eq!(
        texts(&app, &mut sink, posted).await,
        [format!(
            "💬 *Ada Lovelace* commented on {epic}\n> Can we split this epic before the next planning?"
        )]
    );
    // No epic action in the event: the reference, found through the comment's link.
    let posted = app.post_shortcut(&own_fixture("shortcut/epic_comment_create_reference_only.json")).await;
    assert_eq!(
        texts(&app, &mut sink, posted).await,
        [format!("💬 *Ada Lovelace* commented on {epic}\n> Agreed.")]
    );
}

#[tokio::test]
async fn a_shortcut_story_delete_is_one_message_and_a_task_delete_names_its_story() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, BUNDLED_RULES).await;
    let posted = app.post_shortcut(&own_fixture("shortcut/story_delete_cascade.json")).await;
    assert_eq!(
        texts(&app, &mut sink, posted).await,
        ["🗑️ *Ada Lovelace* deleted feature *New random story*"]
    );
    let stored = app.store.events("5c182454-1f6d-4c08-8d41-dfa5409386b3").await.unwrap();
    assert_eq!(stored.len(), 1, "the cascade is not routed, but the event is kept whole");

    let posted = app.post_shortcut(&own_fixture("shortcut/zulip_story_task_delete.json")).await;
    assert_eq!(
        texts(&app, &mut sink, posted).await,
        ["☑️ *Ada Lovelace* deleted a task from <https://app.clubhouse.io/zulip/story/11|Add cool feature!>: Added a new task"]
    );
}

async fn post_pivotal(app: &TestApp, body: &[u8]) -> reqwest::Response {
    app.post_pivotal(body, PIVOTAL_TOKEN).await
}

#[tokio::test]
async fn a_pivotal_bulk_move_is_a_message_per_story_in_the_order_listed() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, BUNDLED_RULES).await;
    let posted = post_pivotal(&app, &own_fixture("pivotal/bulk_move_two_stories.json")).await;
    assert_eq!(
        texts(&app, &mut sink, posted).await,
        [
            "*Leo Franchi* moved feature <https://www.pivotaltracker.com/story/show/63496066|Pivotal Test>",
            "*Leo Franchi* moved feature <https://www.pivotaltracker.com/story/show/63496070|Second story moved>",
        ]
    );
}

#[tokio::test]
async fn a_pivotal_create_names_its_label_and_task_and_the_label_is_a_side_effect() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, BUNDLED_RULES).await;
    let posted = post_pivotal(&app, &own_fixture("pivotal/story_create_with_task_and_label.json")).await;
    assert_eq!(
        texts(&app, &mut sink, posted).await,
        ["✨ *Leo Franchi* created feature <https://www.pivotaltracker.com/story/show/63500001|Empty inbox screen>\n\
          • *project*: Hard Code\n• *state*: unscheduled\n• *requester*: Leo Franchi\n• *labels*: frontend\n\
          • *tasks*: Draw the empty state\n• *due date*: 2014-02-01"]
    );
}

#[tokio::test]
async fn a_pivotal_task_update_takes_its_story_name() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, BUNDLED_RULES).await;
    let body = own_fixture("pivotal/task_update_no_name.json");
    let posted = post_pivotal(&app, &body).await;
    assert_eq!(
        texts(&app, &mut sink, posted).await,
        ["☑️ *Leo Franchi* completed a task on <https://www.pivotaltracker.com/story/show/63500001|Empty inbox screen>: \
          Draw the empty state"]
    );
    let stored = app.store.events("1287429_121").await.unwrap();
    assert_eq!(stored.len(), 1);
}

#[tokio::test]
async fn a_shortcut_epic_state_change_says_it_once() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, BUNDLED_RULES).await;
    let posted = app.post_shortcut(&fixture("shortcut/zulip_epic_update_change_state.json")).await;
    let texts = texts(&app, &mut sink, posted).await;
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].matches("state").count(), 1, "{}", texts[0]);
}
