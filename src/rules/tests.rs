use axum::http::HeaderMap;

use super::*;
use crate::config::{Config, PersonConfig, ShortcutSource, SourceConfig};
use crate::normalize::{normalize, Normalized};
use crate::resolve::{resolve, Directory};
use crate::verify::Verified;

fn event(fixture: &str) -> Event {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures").join(fixture);
    let body = std::fs::read(path).unwrap();
    let source = SourceConfig::Shortcut(ShortcutSource { allow_unsigned: true, ..Default::default() });
    let verified = Verified::local_file(body.clone().into());
    match normalize("shortcut", &source, &HeaderMap::new(), &verified, serde_json::from_slice(&body).unwrap())
    {
        Ok(Normalized::Event(event)) => *event,
        other => panic!("{other:?}"),
    }
}

fn matcher(yaml: &str) -> Matcher {
    Matcher::compile(&serde_yaml::from_str::<WhenConfig>(yaml).expect("valid when"))
}

fn names(event: &Event) -> Names {
    let mut config: Config = serde_yaml::from_str("{}").unwrap();
    config.people.insert(
        "5b1fda16-626f-487f-9ecf-f3a4abf42b8b".into(),
        PersonConfig {
            name: "Ada".into(),
            email: Some("ada@example.com".into()),
            slack: None,
            discord: None,
        },
    );
    resolve(event, &Directory::from_config(&config))
}

fn matches(yaml: &str, fixture: &str) -> bool {
    let event = event(fixture);
    let names = names(&event);
    matcher(yaml).matches(&event, &event.changes[0], &names)
}

const STATE_CHANGE: &str = "shortcut/zulip_story_update_change_state.json";

#[test]
fn to_matches_a_resolved_name_or_the_raw_id() {
    assert!(matches("{ to: { workflow_state_id: Ready for Review } }", STATE_CHANGE));
    assert!(matches("{ to: { workflow_state_id: ready for review } }", STATE_CHANGE));
    assert!(matches("{ to: { workflow_state_id: 500000010 } }", STATE_CHANGE));
    assert!(matches("{ to: { workflow_state_id: [Done, 500000010] } }", STATE_CHANGE));
    assert!(!matches("{ to: { workflow_state_id: Unscheduled } }", STATE_CHANGE));
    assert!(matches("{ from: { workflow_state_id: Unscheduled } }", STATE_CHANGE));
}

#[test]
fn to_on_an_id_list_matches_an_added_member_by_name() {
    assert!(matches("{ to: { owner_ids: Ada } }", STATE_CHANGE));
    assert!(!matches("{ from: { owner_ids: Ada } }", STATE_CHANGE));
}

#[test]
fn to_on_a_field_that_did_not_change_never_matches() {
    assert!(!matches("{ to: { epic_id: 1 } }", STATE_CHANGE));
}

#[test]
fn every_matcher_must_hold() {
    let all = "{ source: shortcut, entity_type: story, action: [create, update], changed: [estimate, workflow_state_id], primary: true }";
    assert!(matches(all, STATE_CHANGE));
    assert!(!matches("{ entity_type: story, action: delete }", STATE_CHANGE));
    assert!(!matches("{ changed: [estimate] }", STATE_CHANGE));
    assert!(matches("{}", STATE_CHANGE), "an empty when matches everything");
}

#[test]
fn not_negates_the_block_inside_it() {
    assert!(!matches(
        "{ entity_type: story, not: { to: { workflow_state_id: Ready for Review } } }",
        STATE_CHANGE
    ));
    assert!(matches("{ entity_type: story, not: { action: delete } }", STATE_CHANGE));
}

#[test]
fn rules_fire_in_order_and_stop_ends_the_list() {
    let event = event(STATE_CHANGE);
    let names = names(&event);
    let rule = |name: &str, stop: bool| Rule {
        name: name.into(),
        when: matcher("{ entity_type: story }"),
        send: vec!["c".into()],
        template: None,
        stop,
        coalesce: None,
    };
    let rules = vec![rule("first", false), rule("second", true), rule("third", false)];
    let fired: Vec<_> =
        matching(&rules, &event, &event.changes[0], &names).iter().map(|r| r.name.clone()).collect();
    assert_eq!(fired, ["first", "second"]);
}

#[test]
fn actor_and_ignore_actor_match_by_id_name_or_email() {
    assert!(matches("{ actor: Ada }", STATE_CHANGE));
    assert!(matches("{ actor: [someone, ADA@example.com] }", STATE_CHANGE));
    assert!(matches("{ actor: 5b1fda16-626f-487f-9ecf-f3a4abf42b8b }", STATE_CHANGE));
    assert!(!matches("{ actor: Grace }", STATE_CHANGE));
    assert!(!matches("{ ignore_actor: [ada@example.com] }", STATE_CHANGE), "muted");
    assert!(matches("{ ignore_actor: [deploy-bot] }", STATE_CHANGE));
}

#[test]
fn owner_added_matches_the_people_a_change_adds() {
    assert!(matches("{ owner_added: Ada }", STATE_CHANGE));
    assert!(!matches("{ owner_added: Grace }", STATE_CHANGE));
    assert!(!matches("{ owner_added: Ada }", "shortcut/zulip_story_update_change_type.json"));
}

#[test]
fn labels_match_when_added_removed_or_present() {
    let added = "shortcut/zulip_story_update_add_label.json";
    let removed = "shortcut/zulip_story_update_remove_label.json";
    assert!(matches("{ label: { added: mockup } }", added));
    assert!(!matches("{ label: { removed: mockup } }", added));
    assert!(matches("{ label: { removed: mockup } }", removed));
    assert!(matches("{ label: { has: MOCKUP } }", added));
    assert!(!matches("{ label: { has: mockup } }", removed));
}

#[test]
fn the_words_a_message_shows_name_the_fields_of_every_tracker() {
    assert!(matches("{ to: { state: Ready for Review } }", STATE_CHANGE));
    assert!(matches("{ from: { status: Unscheduled }, changed: state }", STATE_CHANGE));
    assert!(matches("{ to: { owners: Ada } }", STATE_CHANGE));
    assert!(matches("{ changed: [assignees] }", STATE_CHANGE));
    assert!(!matches("{ changed: [labels] }", STATE_CHANGE));
    // Each name the admin wrote must hold: `state` and `labels` are two conditions.
    assert!(!matches("{ to: { state: Ready for Review, labels: Ready for Review } }", STATE_CHANGE));
    assert!(matches("{ changed: [labels] }", "shortcut/zulip_story_update_add_label.json"));
}

#[test]
fn bots_and_integrations_are_matched_by_kind() {
    let vcs = "shortcut/zulip_vcs_github_branch_create.json";
    assert!(matches("{ actor: integration }", vcs));
    assert!(!matches("{ ignore_actor: [bot, integration] }", vcs));
    assert!(!matches("{ actor: bot }", vcs));
    assert!(matches("{ ignore_actor: [bot, integration] }", STATE_CHANGE), "a member is neither");
}

fn why_not(yaml: &str, fixture: &str) -> Option<String> {
    let event = event(fixture);
    let names = names(&event);
    let matcher = matcher(yaml);
    let why = matcher.explain(&event, &event.changes[0], &names);
    assert_eq!(
        why.is_none(),
        matcher.matches(&event, &event.changes[0], &names),
        "explain and matches disagree"
    );
    why
}

#[test]
fn a_rule_that_does_not_match_says_which_matcher_failed_and_what_the_change_had() {
    let why = |yaml| why_not(yaml, STATE_CHANGE).expect("does not match");
    assert_eq!(
        why("{ to: { workflow_state_id: Ready for Deploy } }"),
        r#"to.workflow_state_id: wanted "Ready for Deploy", was "Ready for Review""#
    );
    assert_eq!(
        why("{ from: { state: [Started, Done] } }"),
        r#"from.workflow_state_id: wanted one of "Started", "Done", was "Unscheduled""#
    );
    assert_eq!(
        why("{ to: { epic_id: Launch } }"),
        r#"to.epic_id: wanted "Launch", but the change does not change it (it changes started, workflow_state_id, started_at, owner_ids)"#
    );
    assert_eq!(
        why("{ action: [create, delete] }"),
        r#"action: wanted one of "create", "delete", was "update""#
    );
    assert_eq!(why("{ source: github }"), r#"source: wanted "github", was "shortcut" (a shortcut source)"#);
    assert_eq!(why("{ changed: [label_ids] }").split(", but").next(), Some(r#"changed: wanted "label_ids""#));
    assert_eq!(why("{ owner_added: Grace }"), r#"owner_added: wanted "Grace", added "Ada""#);
    assert_eq!(
        why("{ primary: false }"),
        "primary: wanted a side effect (primary: false), was the event's own change"
    );
    assert_eq!(why("{ not: { entity_type: story } }"), "not: the change matches what `not:` excludes");
    assert_eq!(why("{ label: { added: bug } }"), r#"label.added: wanted "bug", added none"#);
    // The first that fails is named, in the order routing tries them.
    assert!(why("{ entity_type: epic, to: { state: Done } }").starts_with("entity_type: "));
}

#[test]
fn why_not_names_the_entity_type_and_labels_as_the_tracker_sent_them() {
    assert_eq!(
        why_not("{ entity_type: story }", "shortcut/zulip_story_comment_create.json").unwrap(),
        r#"entity_type: wanted "story", was "story-comment""#
    );
    assert_eq!(
        why_not("{ label: { added: bug } }", "shortcut/zulip_story_update_add_label.json").unwrap(),
        r#"label.added: wanted "bug", added "mockup""#
    );
    assert_eq!(why_not("{ label: { added: mockup } }", "shortcut/zulip_story_update_add_label.json"), None);
    assert_eq!(why_not("{ to: { state: Ready for Review } }", STATE_CHANGE), None);
}

fn compiled(yaml: &str) -> Vec<Rule> {
    serde_yaml::from_str::<Vec<crate::config::RuleConfig>>(yaml)
        .expect("valid rules")
        .iter()
        .map(Rule::compile)
        .collect()
}

fn unseen(rules_yaml: &str, seen: &lint::Seen) -> Vec<String> {
    lint::unseen_names(&compiled(rules_yaml), seen)
}

#[test]
fn a_state_name_no_stored_event_carried_is_named_with_the_nearest_known_one() {
    let event = event(STATE_CHANGE);
    let mut config: Config = serde_yaml::from_str("{}").unwrap();
    config.people.insert(
        "5b1fda16-626f-487f-9ecf-f3a4abf42b8b".into(),
        PersonConfig { name: "Ada".into(), email: None, slack: None, discord: None },
    );
    let mut seen = lint::Seen::from_config(&config);
    seen.add_event(&event, &names(&event));
    let rules = "
- { name: typo, when: { to: { state: Ready for Reveiw } }, send: [c] }
- { name: right, when: { to: { state: ready for review }, from: { workflow_state_id: Unscheduled } }, send: [c] }
- { name: by-id, when: { to: { workflow_state_id: 500000099 } }, send: [c] }
- { name: person, when: { actor: Adda, ignore_actor: [bot] }, send: [c] }
- { name: nested, when: { not: { to: { state: Shipped } } }, send: [c] }
- { name: labels, when: { label: { added: bug } }, send: [c] }
";
    assert_eq!(
        unseen(rules, &seen),
        [
            "rules[0].when.to.state: \"Ready for Reveiw\" is no workflow-state that names:, people: or any of the 1 \
             stored events has carried (did you mean \"Ready for Review\"?)",
            "rules[3].when.actor: \"Adda\" is no person that names:, people: or any of the 1 stored events has carried \
             (did you mean \"Ada\"?)",
            "rules[4].when.not.to.state: \"Shipped\" is no workflow-state that names:, people: or any of the 1 stored \
             events has carried",
        ],
        "no labels are known at all, so `bug` is not judged; a number is taken for an id"
    );
    // With nothing stored and nothing configured, nothing is judged.
    assert!(unseen(rules, &lint::Seen::default()).is_empty());
}

#[test]
fn a_field_no_stored_event_of_the_rules_sources_changed_is_named_with_the_nearest() {
    let event = event(STATE_CHANGE);
    let mut seen = lint::Seen::default();
    seen.add_event(&event, &names(&event));
    let config: Config = serde_yaml::from_str(
        "sources:\n  shortcut: { kind: shortcut, secrets: [a] }\n  github: { kind: github, secrets: [b] }\n",
    )
    .unwrap();
    let rules = compiled(
        "
- { name: typo, when: { changed: [workflow_stat_id] }, send: [c] }
- { name: word, when: { changed: [state], to: { owners: Ada } }, send: [c] }
- { name: other, when: { to: { estimate: 3 } }, send: [c] }
- { name: github-only, when: { source: github, changed: [milestone] }, send: [c] }
",
    );
    assert_eq!(
        lint::unseen_fields(&rules, &seen, &config.sources),
        [
            "rules[0].when.changed: none of the 1 stored shortcut events has changed \"workflow_stat_id\" (did you \
             mean \"workflow_state_id\"?)",
            "rules[2].when.to.estimate: none of the 1 stored shortcut events has changed \"estimate\"",
        ],
        "no github event is stored, so a github-only rule is not judged"
    );
}
