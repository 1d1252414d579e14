//! GitHub repository and organization webhooks: the event's name is the
//! `X-GitHub-Event` header, what happened is the body's `action`, and
//! `X-GitHub-Delivery` (shared by redeliveries) is the event id.
//!
//! Issues, pull requests and their comments map onto the one model: a close is
//! an update of `workflow_state_id` from `open` to `closed` (or `merged`), a
//! label or assignee is one add or remove of `label_ids` / `owner_ids`, an
//! edit's `changes.*.from` is the old value beside the entity's new one.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::{
    event_id, header, id_text, keyed, named_id, named_ids, part, reference, set_change, text, value_change,
    web_url, Actor, ActorKind, Change, Event, FieldChange, NormalizeError, Normalized, Parent, Reference,
    DONE,
};

pub fn normalize(
    source: &str,
    headers: &HeaderMap,
    payload: Value,
    body_hash: impl FnOnce() -> String,
) -> Result<Normalized, NormalizeError> {
    let name =
        header(headers, &["x-github-event"]).ok_or(NormalizeError::Missing("X-GitHub-Event header"))?;
    if name == "ping" {
        return Ok(Normalized::Ping);
    }
    let action = text(&payload, "/action");
    let mut references = Vec::new();
    let change = match name.as_str() {
        "issues" => item_change("issue", &payload, action.as_deref(), &mut references),
        "pull_request" => item_change("pull_request", &payload, action.as_deref(), &mut references),
        "issue_comment" | "pull_request_review_comment" | "discussion_comment" => {
            comment_change(&payload, action.as_deref())
        }
        "pull_request_review" => review_change(&payload, action.as_deref(), &mut references),
        other => other_change(other, &payload, action.as_deref()),
    };
    if let Some(repository) = payload.get("repository") {
        if let (Some(id), Some(name)) =
            (repository.get("id").and_then(id_text), text(repository, "/full_name"))
        {
            let mut project = reference("project", id, name, None);
            project.url = web_url(text(repository, "/html_url"));
            references.push(project);
        }
    }
    let sender = payload.get("sender");
    let login = sender.and_then(|sender| text(sender, "/login"));
    if let Some(login) = &login {
        references.push(reference("member", login.clone(), login.clone(), None));
    }
    let actor = Actor {
        id: login.clone(),
        name: login,
        kind: match sender.and_then(|sender| text(sender, "/type")).as_deref() {
            Some("Bot") => Some(ActorKind::Bot),
            _ => None,
        },
    };
    // When it happened: the comment's or review's own time, else the
    // entity's last update, else a push's head commit.
    let own = format!("/{name}/updated_at");
    let time = [
        "/comment/updated_at",
        "/review/submitted_at",
        "/issue/updated_at",
        "/pull_request/updated_at",
        own.as_str(),
        "/head_commit/timestamp",
    ]
    .iter()
    .find_map(|pointer| text(&payload, pointer));
    let event = Event {
        source: source.to_owned(),
        source_kind: "github",
        id: event_id(header(headers, &["x-github-delivery"])).unwrap_or_else(body_hash),
        time: time.and_then(|time| super::parse_timestamp(&time)).map(super::rfc3339_from_millis),
        actor,
        changes: vec![change],
        references,
        summary: None,
        payload,
    };
    Ok(Normalized::Event(Box::new(event)))
}

/// An issue or a pull request: both carry `number`, `title`, `html_url`,
/// `labels`, `assignees` and `state`.
fn item_change(
    entity_type: &str,
    payload: &Value,
    action: Option<&str>,
    references: &mut Vec<Reference>,
) -> Change {
    let item = part(payload, entity_type);
    let merged = item.get("merged").and_then(Value::as_bool) == Some(true);
    let state = |name: &str| Some(Value::String(name.to_owned()));
    let mut attributes = Map::new();
    if let Some(body) = text(item, "/body") {
        attributes.insert("text".into(), body.into());
    }
    let labels = named_ids(item.get("labels"), "/id", "/name", "label", references);
    let owners = named_ids(item.get("assignees"), "/login", "/login", "member", references);
    for (state_name, kind) in [("open", None), ("closed", DONE), ("merged", DONE)] {
        references.push(reference("workflow-state", state_name, state_name, kind));
    }
    let (action, verb, fields): (&str, Option<&str>, Vec<FieldChange>) = match action.unwrap_or("") {
        "opened" => {
            attributes.insert("label_ids".into(), Value::Array(labels));
            attributes.insert("owner_ids".into(), Value::Array(owners));
            ("create", Some("opened"), Vec::new())
        }
        "edited" => ("update", None, edits(payload, item)),
        "closed" => (
            "update",
            Some(if merged { "merged" } else { "closed" }),
            vec![value_change(
                "workflow_state_id",
                state("open"),
                state(if merged { "merged" } else { "closed" }),
            )],
        ),
        "reopened" => (
            "update",
            Some("reopened"),
            vec![value_change("workflow_state_id", state("closed"), state("open"))],
        ),
        "deleted" => ("delete", None, Vec::new()),
        "labeled" | "unlabeled" => {
            let label =
                payload.get("label").and_then(|entry| named_id(entry, "/id", "/name", "label", references));
            let (adds, removes) = split(action == Some("labeled"), label);
            ("update", None, vec![set_change("label_ids", adds, removes)])
        }
        "assigned" | "unassigned" => {
            let assignee = payload
                .get("assignee")
                .and_then(|entry| named_id(entry, "/login", "/login", "member", references));
            let (adds, removes) = split(action == Some("assigned"), assignee);
            ("update", None, vec![set_change("owner_ids", adds, removes)])
        }
        "review_requested" | "review_request_removed" => {
            let reviewer = payload
                .get("requested_reviewer")
                .and_then(|entry| named_id(entry, "/login", "/login", "member", references))
                .or_else(|| {
                    payload
                        .get("requested_team")
                        .and_then(|entry| named_id(entry, "/slug", "/name", "member", references))
                });
            let requested = action == Some("review_requested");
            let (adds, removes) = split(requested, reviewer);
            let verb = if requested { "requested a review of" } else { "withdrew a review request from" };
            ("update", Some(verb), vec![set_change("reviewer_ids", adds, removes)])
        }
        "synchronize" => ("update", Some("pushed commits to"), Vec::new()),
        "ready_for_review" => ("update", Some("marked ready for review"), Vec::new()),
        "converted_to_draft" => ("update", Some("turned into a draft"), Vec::new()),
        // milestoned, locked, pinned, transferred…: GitHub's own word reads well.
        other => (if other.is_empty() { "update" } else { other }, None, Vec::new()),
    };
    let number = item.get("number").and_then(id_text).map(|number| format!("#{number}"));
    Change {
        entity_type: entity_type.into(),
        action: action.into(),
        entity_id: item.get("id").and_then(id_text),
        name: keyed(number, text(item, "/title")),
        url: web_url(text(item, "/html_url")),
        primary: true,
        parent: None,
        fields,
        verb: verb.map(str::to_owned),
        attributes,
    }
}

/// `changes.title.from` / `changes.body.from`: the old value; the new one is the entity's.
fn edits(payload: &Value, item: &Value) -> Vec<FieldChange> {
    let Some(Value::Object(changes)) = payload.get("changes") else { return Vec::new() };
    changes
        .iter()
        .map(|(field, change)| {
            let (ours, now) = match field.as_str() {
                "title" => ("name", item.get("title")),
                "body" => ("description", item.get("body")),
                "base" => ("base", item.pointer("/base/ref")),
                other => (other, item.get(other)),
            };
            let old = change.get("from").map(|from| match from {
                Value::Object(object) => object.get("ref").cloned().unwrap_or(Value::Null),
                other => other.clone(),
            });
            value_change(ours, old, now.cloned())
        })
        .collect()
}

fn comment_change(payload: &Value, action: Option<&str>) -> Change {
    let comment = part(payload, "comment");
    let (item_key, item) = ["issue", "pull_request", "discussion"]
        .into_iter()
        .find_map(|key| Some((key, payload.get(key)?)))
        .unwrap_or(("issue", &Value::Null));
    // An issue's comment on a pull request: GitHub models a PR as an issue.
    let parent_type =
        if item_key == "issue" && item.get("pull_request").is_some() { "pull_request" } else { item_key };
    let number = item.get("number").and_then(id_text).map(|number| format!("#{number}"));
    let parent = item.get("id").and_then(id_text).map(|id| Parent {
        entity_type: parent_type.into(),
        id,
        name: keyed(number, text(item, "/title")),
        url: web_url(text(item, "/html_url")),
    });
    let mut attributes = Map::new();
    if let Some(body) = text(comment, "/body") {
        attributes.insert("text".into(), body.into());
    }
    let (action, fields) = match action.unwrap_or("created") {
        "created" => ("create", Vec::new()),
        "edited" => (
            "update",
            vec![value_change(
                "text",
                payload.pointer("/changes/body/from").cloned(),
                comment.get("body").cloned(),
            )],
        ),
        "deleted" => ("delete", Vec::new()),
        other => (other, Vec::new()),
    };
    Change {
        entity_type: "comment".into(),
        action: action.into(),
        entity_id: comment.get("id").and_then(id_text),
        name: None,
        url: web_url(text(comment, "/html_url")),
        primary: true,
        parent,
        fields,
        verb: None,
        attributes,
    }
}

/// A review of a pull request: about the pull request, said as its verdict.
fn review_change(payload: &Value, action: Option<&str>, references: &mut Vec<Reference>) -> Change {
    let mut change = item_change("pull_request", payload, None, references);
    let review = part(payload, "review");
    let verdict = text(review, "/state").map(|state| state.to_ascii_lowercase());
    change.action = action.unwrap_or("submitted").into();
    change.verb = Some(
        match (action, verdict.as_deref()) {
            (Some("dismissed"), _) => "dismissed a review of",
            (Some("edited"), _) => "edited a review of",
            (_, Some("approved")) => "approved",
            (_, Some("changes_requested")) => "requested changes on",
            _ => "reviewed",
        }
        .into(),
    );
    change.fields.clear();
    change.attributes.clear();
    if let Some(body) = text(review, "/body") {
        change.attributes.insert("text".into(), body.into());
    }
    if let Some(url) = web_url(text(review, "/html_url")) {
        change.url = Some(url);
    }
    change
}

/// Any other event (push, release, workflow_run…): its name and action, and
/// whatever names it. An event with no object of its own (push, fork, star) is
/// about the repository.
fn other_change(name: &str, payload: &Value, action: Option<&str>) -> Change {
    let entity = payload.get(name).filter(|entity| entity.is_object());
    let find = |pointers: &[&str]| {
        entity.and_then(|entity| pointers.iter().find_map(|pointer| text(entity, pointer)))
    };
    let (entity_type, verb) = match (entity, name) {
        (Some(_), _) => (name.to_owned(), action.map(str::to_owned)),
        (None, "push") => ("repository".to_owned(), Some("pushed to".to_owned())),
        (None, "fork") => ("repository".to_owned(), Some("forked".to_owned())),
        (None, "star" | "watch") => ("repository".to_owned(), Some("starred".to_owned())),
        (None, other) => ("repository".to_owned(), Some(format!("sent {} for", other.replace('_', " ")))),
    };
    Change {
        verb,
        entity_type,
        action: action.unwrap_or(name).into(),
        entity_id: entity.and_then(|entity| entity.get("id")).and_then(id_text),
        name: find(&["/title", "/name", "/tag_name"]).or_else(|| text(payload, "/repository/full_name")),
        url: web_url(
            find(&["/html_url"])
                .or_else(|| text(payload, "/compare"))
                .or_else(|| text(payload, "/repository/html_url")),
        ),
        primary: true,
        parent: None,
        fields: Vec::new(),
        attributes: Map::new(),
    }
}

fn split(adding: bool, value: Option<Value>) -> (Vec<Value>, Vec<Value>) {
    let values: Vec<Value> = value.into_iter().collect();
    if adding {
        (values, Vec::new())
    } else {
        (Vec::new(), values)
    }
}
