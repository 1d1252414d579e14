use std::path::PathBuf;

use axum::http::HeaderMap;
use serde_json::{json, Value};

use super::*;
use crate::config::{GenericSource, PivotalSource, ShortcutSource, SourceConfig};

fn fixtures(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures").join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect();
    files.sort();
    files
}

fn shortcut() -> SourceConfig {
    SourceConfig::Shortcut(ShortcutSource { allow_unsigned: true, ..Default::default() })
}

fn pivotal() -> SourceConfig {
    SourceConfig::Pivotal(PivotalSource { token: None, allow_unsigned: true })
}

fn run(source: &SourceConfig, body: &[u8]) -> Result<Normalized, NormalizeError> {
    let verified = Verified::local_file(body.to_vec().into());
    let payload: Value = serde_json::from_slice(body).expect("fixture is JSON");
    normalize("test", source, &HeaderMap::new(), &verified, payload)
}

fn event(source: &SourceConfig, body: &[u8]) -> Event {
    match run(source, body).expect("normalizes") {
        Normalized::Event(event) => *event,
        Normalized::Ping => panic!("not a ping"),
    }
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures").join(path)).unwrap()
}

#[test]
fn every_shortcut_fixture_normalizes_with_an_id_and_at_least_one_change() {
    let all = fixtures("shortcut");
    assert!(all.len() >= 30, "fixtures missing: found {}", all.len());
    for (name, body) in all {
        let event = event(&shortcut(), &body);
        assert!(!event.id.is_empty(), "{name}: no id");
        assert!(!event.changes.is_empty(), "{name}: no changes");
        assert!(event.changes.iter().any(|c| c.primary), "{name}: no primary change");
        for change in &event.changes {
            assert_ne!(change.entity_type, "unknown", "{name}: entity type lost");
            assert_ne!(change.action, "unknown", "{name}: action lost");
        }
    }
}

#[test]
fn every_pivotal_fixture_normalizes_with_exactly_one_primary_change() {
    let all = fixtures("pivotal");
    assert!(all.len() >= 14, "fixtures missing: found {}", all.len());
    for (name, body) in all {
        let event = event(&pivotal(), &body);
        assert!(event.id.contains('_'), "{name}: guid expected, got {}", event.id);
        assert_eq!(event.changes.iter().filter(|c| c.primary).count(), 1, "{name}");
        assert!(event.actor.name.is_some(), "{name}: performed_by lost");
        assert!(event.time.as_deref().is_some_and(|t| t.ends_with('Z')), "{name}: time");
    }
}

#[test]
fn a_state_change_keeps_old_and_new_ids_and_the_references_that_name_them() {
    let event = event(&shortcut(), &fixture("shortcut/zulip_story_update_change_state.json"));
    let change = &event.changes[0];
    assert_eq!((change.entity_type.as_str(), change.action.as_str()), ("story", "update"));
    assert_eq!(change.entity_id.as_deref(), Some("11"));
    assert_eq!(change.url.as_deref(), Some("https://app.clubhouse.io/zulip/story/11"));
    assert_eq!(
        change.field("workflow_state_id"),
        Some(&Delta::Value { old: Some(json!(500000008)), new: Some(json!(500000010)) })
    );
    assert_eq!(
        change.field("started_at"),
        Some(&Delta::Value { old: None, new: Some(json!("2018-06-12T15:13:56Z")) })
    );
    assert_eq!(
        change.field("owner_ids"),
        Some(&Delta::Set { adds: vec![json!("5b1fda16-626f-487f-9ecf-f3a4abf42b8b")], removes: vec![] })
    );
    assert!(event.references.iter().any(|r| r.id == "500000010" && r.name == "Ready for Review"));
    assert_eq!(event.actor.id.as_deref(), Some("5b1fda16-626f-487f-9ecf-f3a4abf42b8b"));
}

#[test]
fn a_removed_value_reads_as_old_only() {
    let event = event(&shortcut(), &fixture("shortcut/zulip_story_update_remove_estimate.json"));
    assert!(matches!(event.changes[0].field("estimate"), Some(Delta::Value { old: Some(_), new: None })));
}

#[test]
fn a_comment_is_primary_and_finds_its_story_through_comment_ids() {
    let event = event(&shortcut(), &fixture("shortcut/zulip_story_comment_create.json"));
    let comment = &event.changes[0];
    assert_eq!(comment.entity_type, "story-comment");
    assert!(comment.primary);
    assert_eq!(comment.attributes["text"], json!("Just leaving a comment here!"));
    let parent = comment.parent.as_ref().expect("story found");
    assert_eq!((parent.id.as_str(), parent.name.as_deref()), ("11", Some("Add cool feature!")));
    assert!(!event.changes[1].primary, "the story's comment_ids change is a side effect");
}

#[test]
fn a_child_finds_the_first_story_that_lists_it_or_names_it_or_a_reference() {
    let body = json!({
        "id": "e", "actions": [
            {"id": 1, "entity_type": "story", "action": "update", "name": "first",
             "changes": {"task_ids": {"adds": [7]}}},
            {"id": 2, "entity_type": "story", "action": "update", "name": "second",
             "changes": {"task_ids": {"adds": [7]}}},
            {"id": 7, "entity_type": "story-task", "action": "create"},
            {"id": 8, "entity_type": "story-task", "action": "create", "story_id": 2},
            {"id": 9, "entity_type": "story-comment", "action": "create", "story_id": 3},
        ],
        "references": [{"id": 3, "entity_type": "story", "name": "only referenced"}]
    });
    let event = event(&shortcut(), body.to_string().as_bytes());
    let parent_names: Vec<Option<&str>> =
        event.changes[2..].iter().map(|c| c.parent.as_ref().and_then(|p| p.name.as_deref())).collect();
    assert_eq!(parent_names, [Some("first"), Some("second"), Some("only referenced")]);
}

#[test]
fn an_event_without_primary_id_is_a_batch_of_primary_changes() {
    let event = event(&shortcut(), &fixture("shortcut/zulip_story_update_multiple_at_once.json"));
    let ids: Vec<_> = event.changes.iter().map(|c| c.entity_id.clone().unwrap()).collect();
    assert_eq!(ids, ["17", "26", "27", "28", "29"]);
    assert!(event.changes.iter().all(|c| c.primary));
}

#[test]
fn a_label_created_in_the_same_event_names_the_added_id() {
    let event = event(&shortcut(), &fixture("shortcut/zulip_story_update_add_label_created_inline.json"));
    assert!(event.references.iter().any(|r| r.entity_type == "label" && r.id == "12135" && r.name == "sad"));
}

#[test]
fn an_actor_name_in_the_envelope_is_kept() {
    let event = event(&shortcut(), &fixture("shortcut/dewiz_story_update_ready_for_review_actor_name.json"));
    assert_eq!(event.actor.name.as_deref(), Some("Ephy"));
}

#[test]
fn vcs_events_without_member_or_references_still_normalize() {
    let event = event(&shortcut(), &fixture("shortcut/zulip_vcs_github_pull_request_comment.json"));
    let pull_request = &event.changes[0];
    assert_eq!(
        (pull_request.entity_type.as_str(), pull_request.action.as_str()),
        ("pull-request", "comment")
    );
    assert_eq!(pull_request.name.as_deref(), Some("Two"));
    assert_eq!(pull_request.parent.as_ref().map(|p| p.id.as_str()), Some("15"));
    assert_eq!(event.actor.id, None);
}

#[test]
fn reference_ids_may_be_strings_or_numbers() {
    let body = br#"{"id":"e","actions":[{"id":"7","entity_type":"story","action":"update",
        "changes":{"workflow_state_id":{"old":"1","new":2}}}],
        "references":[{"id":"2","entity_type":"workflow-state","name":"Done"},{"id":1,"entity_type":"workflow-state","name":"Todo"}]}"#;
    let event = event(&shortcut(), body);
    assert_eq!(event.changes[0].entity_id.as_deref(), Some("7"));
    assert_eq!(event.references.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["2", "1"]);
}

#[test]
fn unknown_entity_types_and_actions_are_kept() {
    let body = br#"{"id":"e","actions":[{"id":1,"entity_type":"objective","action":"archive"}]}"#;
    let event = event(&shortcut(), body);
    assert_eq!(
        (event.changes[0].entity_type.as_str(), event.changes[0].action.as_str()),
        ("objective", "archive")
    );
}

#[test]
fn shapes_that_are_not_events_are_refused() {
    assert_eq!(run(&shortcut(), b"[1]").unwrap_err(), NormalizeError::NotAnObject("an array"));
    assert_eq!(run(&shortcut(), br#"{"id":"x"}"#).unwrap_err(), NormalizeError::Missing("actions"));
    assert_eq!(
        run(&shortcut(), br#"{"actions":{}}"#).unwrap_err(),
        NormalizeError::WrongType { field: "actions", expected: "an array" }
    );
    assert_eq!(
        run(&shortcut(), br#"{"actions":[1]}"#).unwrap_err(),
        NormalizeError::WrongType { field: "actions[]", expected: "an object" }
    );
    assert_eq!(run(&pivotal(), br#"{"guid":"1_1"}"#).unwrap_err(), NormalizeError::Missing("kind"));
}

#[test]
fn pivotal_picks_the_story_it_is_about_and_builds_its_link() {
    let event = event(&pivotal(), &fixture("pivotal/docs_v5_story_accepted_darth_vader.json"));
    let story = &event.changes[0];
    assert!(story.primary);
    assert_eq!(story.url.as_deref(), Some("https://www.pivotaltracker.com/story/show/563"));
    assert_eq!(
        story.field("current_state"),
        Some(&Delta::Value { old: Some(json!("delivered")), new: Some(json!("accepted")) })
    );
    assert_eq!(event.actor.name.as_deref(), Some("Darth Vader"));
    assert_eq!(event.time.as_deref(), Some("2013-10-23T22:53:46Z"));
}

#[test]
fn pivotal_comment_activity_is_about_the_comment_on_its_story() {
    let event = event(&pivotal(), &fixture("pivotal/zulip_v5_comment_create.json"));
    let primary = event.changes.iter().find(|c| c.primary).unwrap();
    assert_eq!((primary.entity_type.as_str(), primary.action.as_str()), ("comment", "create"));
    assert_eq!(primary.parent.as_ref().and_then(|p| p.name.as_deref()), Some("Story of the Year"));
    assert_eq!(primary.attributes["text"], json!("A comment on the story"));
}

#[test]
fn pivotal_id_lists_become_adds_and_removes() {
    let event = event(&pivotal(), &fixture("pivotal/joshlong_v5_story_started_with_label_counts.json"));
    let story = event.changes.iter().find(|c| c.primary).unwrap();
    assert!(
        matches!(story.field("owner_ids"), Some(Delta::Set { adds, removes }) if adds.len() == 1 && removes.is_empty())
    );
}

#[test]
fn pivotal_id_list_changes_keep_each_list_order_and_tell_numbers_from_strings() {
    let body = json!({
        "kind": "story_update_activity", "guid": "g",
        "changes": [{"kind": "story", "id": 1, "change_type": "update",
                     "original_values": {"label_ids": [5, 3, 9, "4"]},
                     "new_values": {"label_ids": [4, 9, 8, 2]}}]
    });
    let event = event(&pivotal(), body.to_string().as_bytes());
    let Some(Delta::Set { adds, removes }) = event.changes[0].field("label_ids") else { panic!("a set") };
    assert_eq!(
        (adds.clone(), removes.clone()),
        (vec![json!(4), json!(8), json!(2)], vec![json!(5), json!(3), json!("4")])
    );
}

#[test]
fn generic_events_read_common_fields_and_acknowledge_pings() {
    let mut config = GenericSource {
        signature: None,
        secrets: vec![],
        allow_unsigned: true,
        event_type: Some(crate::config::Locator { header: Some("x-event".into()), pointer: None }),
        event_id: None,
        fields: Default::default(),
    };
    // A list is tried in order: an issue's title, else a pull request's.
    config.fields.name =
        Some(crate::config::Pointers(vec!["/pull_request/title".into(), "/issue/title".into()]));
    let source = SourceConfig::Generic(Box::new(config));
    let mut headers = HeaderMap::new();
    headers.insert("x-event", "issues".parse().unwrap());
    let body = br#"{"action":"opened","issue":{"title":"Fix it"},"html_url":"https://x.test/1","sender":{"login":"octo"}}"#;
    let verified = Verified::local_file(body.to_vec().into());
    let Normalized::Event(event) =
        normalize("gh", &source, &headers, &verified, serde_json::from_slice(body).unwrap()).unwrap()
    else {
        panic!("expected an event");
    };
    let change = &event.changes[0];
    assert_eq!((change.entity_type.as_str(), change.action.as_str()), ("issues", "opened"));
    assert_eq!(change.name.as_deref(), Some("Fix it"));
    assert_eq!(change.url.as_deref(), Some("https://x.test/1"));
    assert_eq!(event.actor.name.as_deref(), Some("octo"));
    assert_eq!(event.id.len(), 64, "no event_id configured: a hash of the body");

    let pull =
        json!({"action": "closed", "pull_request": {"title": "Merge it"}, "issue": {"title": "Not this"}});
    let Ok(Normalized::Event(event)) = normalize("gh", &source, &headers, &verified, pull) else {
        panic!("event")
    };
    assert_eq!(event.changes[0].name.as_deref(), Some("Merge it"));

    headers.insert("x-event", "ping".parse().unwrap());
    assert!(matches!(normalize("gh", &source, &headers, &verified, json!({})), Ok(Normalized::Ping)));
}

mod properties {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;
    use crate::config::{load_str, ConfigOrigin};
    use crate::pipeline::route;
    use crate::Bridge;

    /// Keys trackers use, so generated objects often look almost like events.
    const KEYS: &str = "(id|actions|changes|references|entity_type|action|primary_id|member_id|name|app_url|\
                        old|new|adds|removes|kind|guid|performed_by|primary_resources|new_values|\
                        original_values|change_type|story_id|workflow_state_id|owner_ids|label_ids|[a-z_]{1,8})";

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 96, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(KEYS, inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn bridge() -> &'static Bridge {
        static BRIDGE: std::sync::OnceLock<Bridge> = std::sync::OnceLock::new();
        BRIDGE.get_or_init(build_bridge)
    }

    fn build_bridge() -> Bridge {
        let yaml = "sources:\n  shortcut: { kind: shortcut, allow_unsigned: true }\n  pivotal: { kind: pivotal, allow_unsigned: true }\n\
                    channels:\n  s: { kind: slack, url: \"https://hooks.slack.com/x\" }\n  d: { kind: discord, url: \"https://discord.com/x\" }\n\
                    rules:\n  - { name: all, when: {}, send: [s, d] }\n";
        let origin = ConfigOrigin { name: "t.yaml".into(), base_dir: ".".into() };
        Bridge::build(load_str(yaml, &origin, &|_| None).unwrap(), origin).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        /// Any JSON: normalize answers Ok or an error, and whatever it accepts
        /// routes and renders without a panic.
        #[test]
        fn normalize_and_route_never_panic(payload in json()) {
            let bridge = bridge();
            for source in ["shortcut", "pivotal"] {
                let body = payload.to_string().into_bytes();
                let verified = Verified::local_file(body.into());
                let config = &bridge.config.sources[source];
                if let Ok(Normalized::Event(event)) = normalize(source, config, &HeaderMap::new(), &verified, payload.clone()) {
                    let _ = route(bridge, &event);
                }
            }
        }
    }
}
