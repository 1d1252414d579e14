//! GitHub, GitLab, Linear and Jira bodies (`tests/fixtures`, with their
//! origins in `tests/fixtures/SOURCES.md`) read into the one event model.

use std::path::PathBuf;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

use super::*;
use crate::config::{GitlabSource, SignedSource, SourceConfig};

fn own(path: &str) -> Value {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path);
    serde_json::from_slice(&std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display())))
        .unwrap()
}

fn read(
    source: &SourceConfig,
    headers: &[(&'static str, &str)],
    payload: Value,
) -> Result<Normalized, NormalizeError> {
    let headers: HeaderMap = headers
        .iter()
        .map(|(name, value)| (HeaderName::from_static(name), HeaderValue::from_str(value).unwrap()))
        .collect();
    let body = serde_json::to_vec(&payload).unwrap();
    normalize("test", source, &headers, &Verified::local_file(body.into()), payload)
}

fn event_of(source: &SourceConfig, headers: &[(&'static str, &str)], payload: Value) -> Event {
    match read(source, headers, payload).expect("normalizes") {
        Normalized::Event(event) => *event,
        Normalized::Ping => panic!("a ping"),
    }
}

fn github(event: &str, payload: Value) -> Event {
    event_of(&SourceConfig::Github(SignedSource::default()), &[("x-github-event", event)], payload)
}

fn gitlab(payload: Value) -> Event {
    event_of(&SourceConfig::Gitlab(GitlabSource::default()), &[], payload)
}

fn linear(payload: Value) -> Event {
    event_of(&SourceConfig::Linear(SignedSource::default()), &[], payload)
}

fn jira(payload: Value) -> Event {
    event_of(&SourceConfig::Jira(SignedSource::default()), &[], payload)
}

fn named(event: &Event, entity_type: &str, id: &str) -> Option<String> {
    event.references.iter().find(|r| r.entity_type == entity_type && r.id == id).map(|r| r.name.clone())
}

#[test]
fn every_own_fixture_normalizes_with_one_primary_change() {
    for (kind, folder) in [("github", "github"), ("gitlab", "gitlab"), ("linear", "linear"), ("jira", "jira")]
    {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(folder);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let payload = own(&format!("{folder}/{name}.json"));
            let normalized = match kind {
                "github" => {
                    let event = match name.as_str() {
                        "pull_request_review_submitted" => "pull_request_review",
                        _ => ["issue_comment", "pull_request", "issues", "ping", "push"]
                            .into_iter()
                            .find(|prefix| name.starts_with(prefix))
                            .unwrap(),
                    };
                    read(
                        &SourceConfig::Github(SignedSource::default()),
                        &[("x-github-event", event)],
                        payload,
                    )
                }
                "gitlab" => read(&SourceConfig::Gitlab(GitlabSource::default()), &[], payload),
                "linear" => read(&SourceConfig::Linear(SignedSource::default()), &[], payload),
                _ => read(&SourceConfig::Jira(SignedSource::default()), &[], payload),
            };
            match normalized.unwrap_or_else(|e| panic!("{name}: {e}")) {
                Normalized::Ping => assert_eq!(name, "ping"),
                Normalized::Event(event) => {
                    assert_eq!(event.changes.iter().filter(|c| c.primary).count(), 1, "{name}");
                    let change = &event.changes[0];
                    assert!(
                        change.url.is_some() || change.parent.as_ref().is_some_and(|p| p.url.is_some()),
                        "{name}"
                    );
                    assert!(event.actor.name.is_some(), "{name}: no actor");
                    assert!(event.time.is_some(), "{name}: no time");
                }
            }
        }
    }
}

#[test]
fn github_labels_and_assignees_are_adds_and_removes_named_by_the_payload() {
    let labeled = github("issues", own("github/issues_labeled.json"));
    let change = &labeled.changes[0];
    assert_eq!((change.entity_type.as_str(), change.action.as_str()), ("issue", "update"));
    assert_eq!(
        change.field("label_ids"),
        Some(&Delta::Set { adds: vec![json!(1362934389)], removes: vec![] })
    );
    assert_eq!(named(&labeled, "label", "1362934389").as_deref(), Some("bug"));
    let unassigned = github("issues", own("github/issues_unassigned.json"));
    assert_eq!(
        unassigned.changes[0].field("owner_ids"),
        Some(&Delta::Set { adds: vec![], removes: vec![json!("Codertocat")] })
    );
    assert_eq!(unassigned.actor.kind, None);
    assert_eq!(named(&unassigned, "project", "186853002").as_deref(), Some("Codertocat/Hello-World"));
}

#[test]
fn github_a_merge_is_a_state_change_said_as_merged_and_a_bot_is_marked() {
    let mut closed = own("github/pull_request_closed.json");
    closed["pull_request"]["merged"] = json!(true);
    closed["sender"]["type"] = json!("Bot");
    let event = github("pull_request", closed);
    let change = &event.changes[0];
    assert_eq!(change.verb.as_deref(), Some("merged"));
    assert_eq!(
        change.field("workflow_state_id"),
        Some(&Delta::Value { old: Some(json!("open")), new: Some(json!("merged")) })
    );
    assert_eq!(event.actor.kind, Some(ActorKind::Bot));
    assert_eq!(event.time.as_deref(), Some("2019-05-15T15:21:18Z"), "the pull request's updated_at");
}

#[test]
fn github_a_comment_on_a_pull_request_hangs_off_the_pull_request() {
    let mut comment = own("github/issue_comment_created.json");
    comment["issue"]["pull_request"] =
        json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"});
    let change = &github("issue_comment", comment).changes[0];
    let parent = change.parent.as_ref().unwrap();
    assert_eq!(
        (parent.entity_type.as_str(), parent.name.as_deref()),
        ("pull_request", Some("#1 Spelling error in the README file"))
    );
    assert_eq!(change.attributes["text"], json!("You are totally right! I'll get this fixed right away."));
}

#[test]
fn github_needs_its_event_header_and_answers_a_ping() {
    let source = SourceConfig::Github(SignedSource::default());
    assert_eq!(
        read(&source, &[], json!({"action": "opened"})).unwrap_err(),
        NormalizeError::Missing("X-GitHub-Event header")
    );
    assert!(matches!(
        read(&source, &[("x-github-event", "ping")], own("github/ping.json")),
        Ok(Normalized::Ping)
    ));
    let push = github(
        "push",
        json!({"ref": "refs/heads/main", "compare": "https://github.com/o/r/compare/a...b",
        "repository": {"id": 1, "full_name": "o/r", "html_url": "https://github.com/o/r"}, "sender": {"login": "ada"}}),
    );
    let change = &push.changes[0];
    assert_eq!(
        (change.entity_type.as_str(), change.verb.as_deref(), change.name.as_deref()),
        ("repository", Some("pushed to"), Some("o/r"))
    );
}

#[test]
fn gitlab_changes_become_old_and_new_and_label_lists_become_adds_and_removes() {
    let mut hook = own("gitlab/issue_hook.json");
    hook["object_attributes"]["action"] = json!("update");
    hook["changes"]["state_id"] = json!({"previous": 1, "current": 2});
    hook["changes"]["title"] = json!({"previous": "Old", "current": "New API: create/update/delete file"});
    let event = gitlab(hook);
    let change = &event.changes[0];
    assert_eq!(change.name.as_deref(), Some("#23 New API: create/update/delete file"));
    assert_eq!(
        change.field("label_ids"),
        Some(&Delta::Set { adds: vec![json!(205)], removes: vec![json!(206)] })
    );
    assert_eq!(named(&event, "label", "205").as_deref(), Some("Platform"));
    assert_eq!(
        change.field("workflow_state_id"),
        Some(&Delta::Value { old: Some(json!("opened")), new: Some(json!("closed")) })
    );
    assert_eq!(
        change.field("name"),
        Some(&Delta::Value {
            old: Some(json!("Old")),
            new: Some(json!("New API: create/update/delete file"))
        })
    );
    assert_eq!(
        change.field("updated_at"),
        Some(&Delta::Value {
            old: Some(json!("2017-09-15 16:50:55 UTC")),
            new: Some(json!("2017-09-15 16:52:00 UTC"))
        })
    );
    assert_eq!(
        (event.actor.id.as_deref(), event.actor.name.as_deref()),
        (Some("root"), Some("Administrator"))
    );
    assert_eq!(event.time.as_deref(), Some("2013-12-03T17:15:43Z"));
}

#[test]
fn gitlab_a_note_hangs_off_its_target_and_times_in_gitlab_format_are_read() {
    let event = gitlab(own("gitlab/note_hook_issue.json"));
    let change = &event.changes[0];
    assert_eq!((change.entity_type.as_str(), change.action.as_str()), ("comment", "create"));
    let parent = change.parent.as_ref().unwrap();
    assert_eq!(parent.name.as_deref(), Some("#17 test"));
    assert_eq!(parent.url.as_deref(), Some("http://example.com/gitlab-org/gitlab-test/issues/17"));
    assert_eq!(event.time.as_deref(), Some("2015-05-17T17:06:40Z"));
    let mut on_mr = own("gitlab/note_hook_issue.json");
    on_mr["object_attributes"]["noteable_type"] = json!("MergeRequest");
    on_mr["merge_request"] = json!({"id": 7, "iid": 1, "title": "Tempora et eos debitis quae laborum et."});
    let parent = gitlab(on_mr).changes[0].parent.clone().unwrap();
    assert_eq!(
        (parent.entity_type.as_str(), parent.name.as_deref()),
        ("merge_request", Some("!1 Tempora et eos debitis quae laborum et."))
    );
    let mut by_token = own("gitlab/note_hook_issue.json");
    by_token["user"]["username"] = json!("project_42_bot_3f2a1b");
    assert_eq!(gitlab(by_token).actor.kind, Some(ActorKind::Bot));
}

#[test]
fn linear_updated_from_holds_the_old_values_and_side_effect_timestamps_are_left_out() {
    let event = linear(own("linear/issue_update_state_labels_assignee.json"));
    let change = &event.changes[0];
    let fields: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["workflow_state_id", "owner_ids", "label_ids", "priority"]);
    assert_eq!(
        change.field("owner_ids"),
        Some(&Delta::Set { adds: vec![json!("5c3c9e1e-7b1f-4b11-8d8c-1d6a3e1f0a42")], removes: vec![] })
    );
    assert_eq!(
        change.field("priority"),
        Some(&Delta::Value { old: Some(json!("Medium")), new: Some(json!("Urgent")) })
    );
    let state = event.references.iter().find(|r| r.entity_type == "workflow-state").unwrap();
    assert_eq!((state.name.as_str(), state.kind.as_deref()), ("In Progress", Some("started")));
    assert_eq!(event.time.as_deref(), Some("2024-01-15T10:00:00Z"));
    let by_integration = linear(own("linear/issue_create_by_integration.json"));
    assert_eq!(by_integration.actor.kind, Some(ActorKind::Integration));
    assert_eq!(
        by_integration.changes[0].attributes["workflow_state_id"],
        json!("0c1b6f34-3f2f-4a7e-9d0b-2b6f7b9e2d11")
    );
}

#[test]
fn linear_a_remove_is_a_delete_and_a_comment_hangs_off_its_issue() {
    let mut removed = own("linear/issue_create_by_integration.json");
    removed["action"] = json!("remove");
    assert_eq!(linear(removed).changes[0].action, "delete");
    let comment = linear(own("linear/comment_create.json"));
    let parent = comment.changes[0].parent.as_ref().unwrap();
    assert_eq!(
        parent.url.as_deref(),
        Some("https://linear.app/acme/issue/ENG-123/fix-login-redirect-on-mobile")
    );
    assert_eq!(
        read(&SourceConfig::Linear(SignedSource::default()), &[], json!({"data": {}})).unwrap_err(),
        NormalizeError::Missing("type")
    );
}

#[test]
fn jira_changelog_items_keep_ids_as_values_and_their_names_as_references() {
    let event = jira(own("jira/mskcc_server_issue_updated_status.json"));
    let change = &event.changes[0];
    assert_eq!(
        change.field("workflow_state_id"),
        Some(&Delta::Value { old: Some(json!("10620")), new: Some(json!("10619")) })
    );
    assert_eq!(named(&event, "workflow-state", "10620").as_deref(), Some("Pipeline Completed; No Failures"));
    assert_eq!(change.url.as_deref(), Some("http://jira.mskcc.org:8090/browse/JIRA-12"));
    assert_eq!(
        (event.actor.id.as_deref(), event.actor.name.as_deref()),
        (Some("s"), Some("Scruffy Scruffington"))
    );
    assert_eq!(event.time.as_deref(), Some("2021-09-07T13:14:25Z"));

    let cloud = jira(own("jira/cloud_issue_updated_assignee_labels.json"));
    let change = &cloud.changes[0];
    assert_eq!(
        change.field("label_ids"),
        Some(&Delta::Set { adds: vec![json!("refunds")], removes: vec![] })
    );
    assert_eq!(
        named(&cloud, "member", "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077").as_deref(),
        Some("Ravi Patel")
    );
    let done =
        cloud.references.iter().find(|r| r.entity_type == "workflow-state" && r.id == "10001").unwrap();
    assert_eq!(done.kind.as_deref(), Some("done"));
}

#[test]
fn jira_comments_read_atlassian_documents_and_app_users_are_bots() {
    let mut body = own("jira/cloud_comment_created_adf.json");
    body["comment"]["updateAuthor"]["accountType"] = json!("app");
    let event = jira(body);
    let change = &event.changes[0];
    assert_eq!(change.attributes["text"], json!("Reproduced on staging.\nLogs attached."));
    assert_eq!(
        change.url.as_deref(),
        Some("https://acme.atlassian.net/browse/PAY-42?focusedCommentId=10100")
    );
    assert_eq!(event.actor.kind, Some(ActorKind::Bot));
    // Jira Server's issue_commented: the comment is the event, the issue update a side effect.
    let mut server = own("jira/mskcc_server_issue_updated_status.json");
    server["issue_event_type_name"] = json!("issue_commented");
    server["comment"] = json!({"id": "5", "body": "Looks good"});
    let event = jira(server);
    let primary: Vec<(&str, bool)> =
        event.changes.iter().map(|c| (c.entity_type.as_str(), c.primary)).collect();
    assert_eq!(primary, [("issue", false), ("comment", true)]);
}

#[test]
fn pivotal_times_are_epoch_milliseconds_or_iso_text() {
    let pivotal = SourceConfig::Pivotal(crate::config::PivotalSource { token: None, allow_unsigned: true });
    let iso = event_of(&pivotal, &[], own("pivotal/task_update_no_name.json"));
    assert_eq!(iso.time.as_deref(), Some("2014-01-29T12:53:20Z"));
    let millis = event_of(&pivotal, &[], own("pivotal/story_create_with_task_and_label.json"));
    assert_eq!(millis.time.as_deref(), Some("2014-01-29T12:53:20Z"));
}

#[test]
fn pivotal_every_primary_resource_is_primary_in_their_order_and_labels_are_side_effects() {
    let pivotal = SourceConfig::Pivotal(crate::config::PivotalSource { token: None, allow_unsigned: true });
    let moved = event_of(&pivotal, &[], own("pivotal/bulk_move_two_stories.json"));
    let primary: Vec<(Option<&str>, bool)> =
        moved.changes.iter().map(|c| (c.entity_id.as_deref(), c.primary)).collect();
    assert_eq!(primary, [(Some("63496066"), true), (Some("63496070"), true)]);
    let created = event_of(&pivotal, &[], own("pivotal/story_create_with_task_and_label.json"));
    let primary: Vec<(&str, bool)> =
        created.changes.iter().map(|c| (c.entity_type.as_str(), c.primary)).collect();
    assert_eq!(primary, [("label", false), ("task", false), ("story", true)]);
    assert_eq!(named(&created, "label", "7849080").as_deref(), Some("frontend"));
}

#[test]
fn shortcut_a_story_delete_drops_its_cascade_but_not_a_deleted_comment_of_its_own() {
    let shortcut =
        SourceConfig::Shortcut(crate::config::ShortcutSource { allow_unsigned: true, ..Default::default() });
    let cascade = event_of(&shortcut, &[], own("shortcut/story_delete_cascade.json"));
    let kept: Vec<&str> = cascade.changes.iter().map(|c| c.entity_type.as_str()).collect();
    assert_eq!(kept, ["story"]);
    let comment_only = json!({"id": "x", "primary_id": 31, "member_id": "m", "actions": [
        {"id": 31, "entity_type": "story-comment", "action": "delete", "story_id": 25}]});
    assert_eq!(
        event_of(&shortcut, &[], comment_only).changes.len(),
        1,
        "a comment deleted on its own is news"
    );
}

#[test]
fn github_a_review_is_said_as_its_verdict_on_the_pull_request_and_a_push_is_about_the_repository() {
    let mut review = own("github/pull_request_review_submitted.json");
    let change = github("pull_request_review", review.clone()).changes.remove(0);
    assert_eq!((change.entity_type.as_str(), change.verb.as_deref()), ("pull_request", Some("reviewed")));
    assert_eq!(change.name.as_deref(), Some("#2 Update the README with new information."));
    review["review"]["state"] = json!("approved");
    assert_eq!(github("pull_request_review", review).changes[0].verb.as_deref(), Some("approved"));
    let push = github("push", own("github/push.json"));
    let change = &push.changes[0];
    assert_eq!(
        (change.entity_type.as_str(), change.verb.as_deref(), change.name.as_deref()),
        ("repository", Some("pushed to"), Some("Codertocat/Hello-World"))
    );
}

#[test]
fn gitlab_a_push_is_about_the_project_and_a_pipeline_says_its_status() {
    let push = gitlab(json!({"object_kind": "push", "event_name": "push", "ref": "refs/heads/master",
        "user_name": "John Smith", "user_username": "jsmith", "project": {"id": 15, "path_with_namespace": "mike/diaspora",
        "web_url": "http://example.com/mike/diaspora"}}));
    let change = &push.changes[0];
    assert_eq!((change.verb.as_deref(), change.name.as_deref()), (Some("pushed to"), Some("mike/diaspora")));
    assert_eq!(push.actor.name.as_deref(), Some("John Smith"));
    let pipeline = gitlab(json!({"object_kind": "pipeline", "object_attributes": {"id": 31,
        "name": "Pipeline for branch: master", "status": "success",
        "url": "http://example.com/gitlab-org/gitlab-test/-/pipelines/31"}}));
    assert_eq!(pipeline.changes[0].verb.as_deref(), Some("reported success on"));
}

#[test]
fn gitlab_new_commits_on_a_merge_request_say_so() {
    let mut hook = own("gitlab/merge_request_hook.json");
    hook["object_attributes"]["action"] = json!("update");
    hook["object_attributes"]["oldrev"] = json!("da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_eq!(gitlab(hook).changes[0].verb.as_deref(), Some("pushed commits to"));
}
