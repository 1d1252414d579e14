//! GitLab project and group webhooks. What the body is comes from its own
//! `object_kind` (issue, work_item, merge_request, note…), not from
//! `X-Gitlab-Event`: integrations send every kind as `Service Hook`.
//!
//! `changes.<field>.{previous,current}` are the old and new values; label,
//! assignee and reviewer lists become adds/removes; `state_id` becomes
//! `workflow_state_id` by its name (`opened`, `closed`, `merged`, `locked`).

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::{
    event_id, header, id_text, keyed, list_delta, named_ids, part, reference, required_str, text,
    value_change, web_url, Actor, ActorKind, Change, Event, FieldChange, NormalizeError, Parent, Reference,
    DONE,
};

/// `state_id` values, as GitLab's `Issuable::STATE_ID_MAP` numbers them.
const STATES: &[(i64, &str, Option<&str>)] =
    &[(1, "opened", None), (2, "closed", DONE), (3, "merged", DONE), (4, "locked", None)];

pub fn normalize(
    source: &str,
    headers: &HeaderMap,
    payload: Value,
    body_hash: impl FnOnce() -> String,
) -> Result<Event, NormalizeError> {
    let kind = required_str(&payload, "object_kind")?;
    let mut references: Vec<Reference> =
        STATES.iter().map(|(_, name, done)| reference("workflow-state", *name, *name, *done)).collect();
    let change = match kind {
        "issue" | "work_item" | "merge_request" => item_change(kind, &payload, &mut references),
        "note" => note_change(&payload),
        other => other_change(other, &payload),
    };
    if let Some(project) = payload.get("project") {
        if let (Some(id), Some(name)) =
            (project.get("id").and_then(id_text), text(project, "/path_with_namespace"))
        {
            let mut reference = reference("project", id, name, None);
            reference.url = web_url(text(project, "/web_url"));
            references.push(reference);
        }
    }
    // Pushes name their pusher at the top level, everything else in `user`.
    let user = payload.get("user");
    let username = user.and_then(|user| text(user, "/username")).or_else(|| text(&payload, "/user_username"));
    let name = user
        .and_then(|user| text(user, "/name"))
        .or_else(|| text(&payload, "/user_name"))
        .or_else(|| username.clone());
    if let (Some(username), Some(name)) = (&username, &name) {
        references.push(reference("member", username.clone(), name.clone(), None));
    }
    let actor = Actor {
        kind: username.as_deref().filter(|username| is_bot_user(username)).map(|_| ActorKind::Bot),
        id: username,
        name,
    };
    let time = text(&payload, "/object_attributes/updated_at")
        .and_then(|time| super::parse_timestamp(&time))
        .map(super::rfc3339_from_millis);
    Ok(Event {
        source: source.to_owned(),
        source_kind: "gitlab",
        id: event_id(header(headers, &["idempotency-key", "x-gitlab-event-uuid"])).unwrap_or_else(body_hash),
        time,
        actor,
        changes: vec![change],
        references,
        summary: None,
        payload,
    })
}

/// Project and group access tokens act as bot users named
/// `project_<id>_bot_<random>` / `group_<id>_bot_<random>`.
fn is_bot_user(username: &str) -> bool {
    (username.starts_with("project_") || username.starts_with("group_")) && username.contains("_bot")
}

fn item_change(kind: &str, payload: &Value, references: &mut Vec<Reference>) -> Change {
    let attrs = part(payload, "object_attributes");
    let merge_request = kind == "merge_request";
    let entity_type = match (kind, text(attrs, "/type").as_deref()) {
        ("merge_request", _) => "merge_request".to_owned(),
        ("work_item", Some("Epic")) => "epic".to_owned(),
        _ => "issue".to_owned(),
    };
    let mut fields: Vec<FieldChange> = match payload.get("changes") {
        Some(Value::Object(changes)) => {
            changes.iter().filter_map(|(field, change)| field_change(field, change, references)).collect()
        }
        _ => Vec::new(),
    };
    let state = |name: &str| Some(Value::String(name.to_owned()));
    let mut set_state = |old: &str, new: &str| {
        if !fields.iter().any(|f| f.field == "workflow_state_id") {
            fields.push(value_change("workflow_state_id", state(old), state(new)));
        }
    };
    let mut attributes = Map::new();
    let sent_action = text(attrs, "/action");
    let (action, verb) = match sent_action.as_deref() {
        Some("open") => {
            let labels = payload.get("labels").or_else(|| attrs.get("labels"));
            attributes.insert("label_ids".into(), Value::Array(labels_of(labels, references)));
            let assignees = payload.get("assignees");
            attributes.insert("owner_ids".into(), Value::Array(people_of(assignees, references)));
            // What an opened issue starts with is in its attributes; `changes`
            // then only repeats them (and GitLab's own example contradicts itself there).
            fields.clear();
            ("create", Some("opened"))
        }
        Some("close") => {
            set_state("opened", "closed");
            ("update", Some("closed"))
        }
        Some("reopen") => {
            set_state("closed", "opened");
            ("update", Some("reopened"))
        }
        Some("merge") => {
            set_state("opened", "merged");
            ("update", Some("merged"))
        }
        Some("approved" | "approval") => ("update", Some("approved")),
        Some("unapproved" | "unapproval") => ("update", Some("withdrew approval of")),
        // New commits on a merge request's branch come as an update with `oldrev`.
        Some("update") if merge_request && attrs.get("oldrev").is_some_and(|rev| !rev.is_null()) => {
            ("update", Some("pushed commits to"))
        }
        Some("update") | None => ("update", None),
        Some(other) => (other, None),
    };
    if let Some(description) = text(attrs, "/description") {
        attributes.insert("text".into(), description.into());
    }
    if let Some(work_item_type) = text(attrs, "/type") {
        attributes.insert("work_item_type".into(), work_item_type.into());
    }
    let key = attrs
        .get("iid")
        .and_then(id_text)
        .map(|iid| format!("{}{iid}", if merge_request { "!" } else { "#" }));
    Change {
        entity_type,
        action: action.into(),
        entity_id: attrs.get("id").and_then(id_text),
        name: keyed(key, text(attrs, "/title")),
        url: web_url(text(attrs, "/url")),
        primary: true,
        parent: None,
        fields,
        verb: verb.map(str::to_owned),
        attributes,
    }
}

/// Reads the ids out of a list of labels or people, naming each.
type Reader = fn(Option<&Value>, &mut Vec<Reference>) -> Vec<Value>;

/// One entry of `changes`, in the bridge's field names.
fn field_change(field: &str, change: &Value, references: &mut Vec<Reference>) -> Option<FieldChange> {
    let previous = change.get("previous").cloned();
    let current = change.get("current").cloned();
    let lists = |read: Reader, references: &mut Vec<Reference>| {
        let old = read(previous.as_ref(), references);
        let new = read(current.as_ref(), references);
        list_delta(&old, &new)
    };
    let (ours, delta) = match field {
        "labels" => ("label_ids", lists(labels_of, references)),
        "assignees" => ("owner_ids", lists(people_of, references)),
        "reviewers" => ("reviewer_ids", lists(people_of, references)),
        // The numeric forms repeat `assignees` / `reviewers`, which have names.
        "assignee_id" | "assignee_ids" | "reviewer_ids" => return None,
        "state_id" => {
            let name = |value: Option<Value>| {
                let number = value.as_ref().and_then(Value::as_i64)?;
                STATES.iter().find(|(id, ..)| *id == number).map(|(_, name, _)| Value::String((*name).into()))
            };
            return Some(value_change("workflow_state_id", name(previous), name(current)));
        }
        "title" => return Some(value_change("name", previous, current)),
        other => return Some(value_change(other, previous, current)),
    };
    Some(FieldChange { field: ours.into(), delta })
}

/// Label ids of a list of label objects, naming each by its title.
fn labels_of(labels: Option<&Value>, references: &mut Vec<Reference>) -> Vec<Value> {
    named_ids(labels, "/id", "/title", "label", references)
}

/// Usernames of a list of users, naming each by their display name.
fn people_of(people: Option<&Value>, references: &mut Vec<Reference>) -> Vec<Value> {
    named_ids(people, "/username", "/name", "member", references)
}

/// A comment on an issue, merge request, commit or snippet; the payload names
/// its target under the target's own key.
fn note_change(payload: &Value) -> Change {
    let attrs = part(payload, "object_attributes");
    let note_url = text(attrs, "/url");
    // The note's link is its target's page plus `#note_<id>`.
    let target_url = note_url.as_deref().map(|url| url.split('#').next().unwrap_or(url).to_owned());
    let parent = match text(attrs, "/noteable_type").as_deref() {
        Some("Issue") => payload.get("issue").map(|issue| {
            let key = issue.get("iid").and_then(id_text).map(|iid| format!("#{iid}"));
            ("issue", issue, keyed(key, text(issue, "/title")), text(issue, "/url").or(target_url.clone()))
        }),
        Some("MergeRequest") => payload.get("merge_request").map(|mr| {
            let key = mr.get("iid").and_then(id_text).map(|iid| format!("!{iid}"));
            ("merge_request", mr, keyed(key, text(mr, "/title")), text(mr, "/url").or(target_url.clone()))
        }),
        Some("Commit") => payload.get("commit").map(|commit| {
            let short = text(commit, "/id").map(|id| id.chars().take(8).collect::<String>());
            let title =
                text(commit, "/message").and_then(|message| message.lines().next().map(str::to_owned));
            ("commit", commit, keyed(short, title), text(commit, "/url").or(target_url.clone()))
        }),
        Some("Snippet") => payload.get("snippet").map(|snippet| {
            ("snippet", snippet, text(snippet, "/title"), text(snippet, "/url").or(target_url.clone()))
        }),
        _ => None,
    }
    .and_then(|(entity_type, target, name, url)| {
        Some(Parent {
            entity_type: entity_type.into(),
            id: target.get("id").and_then(id_text)?,
            name,
            url: web_url(url),
        })
    });
    let mut attributes = Map::new();
    if let Some(note) = text(attrs, "/note") {
        attributes.insert("text".into(), note.into());
    }
    Change {
        entity_type: "comment".into(),
        action: text(attrs, "/action").unwrap_or_else(|| "create".into()),
        entity_id: attrs.get("id").and_then(id_text),
        name: None,
        url: web_url(note_url),
        primary: true,
        parent,
        fields: Vec::new(),
        verb: None,
        attributes,
    }
}

/// Pushes, pipelines, releases…: their kind, action or status, and a name.
/// A push is about the repository; a status is said as one (`reported failed on`).
fn other_change(kind: &str, payload: &Value) -> Change {
    let attrs = payload.get("object_attributes");
    let find =
        |pointers: &[&str]| attrs.and_then(|attrs| pointers.iter().find_map(|pointer| text(attrs, pointer)));
    let action =
        find(&["/action"]).or_else(|| text(payload, "/event_name")).unwrap_or_else(|| kind.to_owned());
    let (entity_type, verb) = match (kind, find(&["/status"])) {
        ("push", _) => ("repository".to_owned(), Some("pushed to".to_owned())),
        ("tag_push", _) => ("repository".to_owned(), Some("pushed a tag to".to_owned())),
        (_, Some(status)) => (kind.to_owned(), Some(format!("reported {} on", status.replace('_', " ")))),
        _ => (kind.to_owned(), None),
    };
    let name = match entity_type.as_str() {
        "repository" => None,
        _ => find(&["/title", "/name"]).or_else(|| text(payload, "/ref")),
    };
    Change {
        verb,
        entity_type,
        action,
        entity_id: attrs.and_then(|attrs| attrs.get("id")).and_then(id_text),
        name: name.or_else(|| text(payload, "/project/path_with_namespace")),
        url: web_url(find(&["/url"]).or_else(|| text(payload, "/project/web_url"))),
        primary: true,
        parent: None,
        fields: Vec::new(),
        attributes: Map::new(),
    }
}
