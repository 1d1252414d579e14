//! Jira Cloud and Data Center webhooks: `webhookEvent` says what happened
//! (`jira:issue_created`, `jira:issue_updated`, `comment_created`…), and an
//! update's `changelog.items[]` lists each field with both its ids (`from`,
//! `to`) and its display names (`fromString`, `toString`): the names become
//! references, so rules match either.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::{
    event_id, header, id_text, keyed, list_delta, part, reference, required_str, snake_case, text,
    value_change, web_url, Actor, ActorKind, Change, Event, FieldChange, NormalizeError, Parent, Reference,
    DONE,
};

pub fn normalize(
    source: &str,
    headers: &HeaderMap,
    payload: Value,
    body_hash: impl FnOnce() -> String,
) -> Result<Event, NormalizeError> {
    let webhook_event = required_str(&payload, "webhookEvent")?;
    let mut references = Vec::new();
    let issue = part(&payload, "issue");
    let issue_url = browse_url(issue);
    let issue_name = keyed(text(issue, "/key"), text(issue, "/fields/summary"));
    if let Some(status) = issue.pointer("/fields/status") {
        if let (Some(id), Some(name)) = (status.get("id").and_then(id_text), text(status, "/name")) {
            let kind = DONE.filter(|_| text(status, "/statusCategory/key").as_deref() == Some("done"));
            references.push(reference("workflow-state", id, name, kind));
        }
    }
    if let Some(project) = issue.pointer("/fields/project") {
        if let (Some(id), Some(name)) = (project.get("id").and_then(id_text), text(project, "/name")) {
            references.push(reference("project", id, name, None));
        }
    }
    let (family, what) = webhook_event.split_once(':').unwrap_or(("", webhook_event));
    let mut changes = Vec::new();
    match (family, what) {
        ("jira", issue_event) if issue_event.starts_with("issue_") => {
            let action = match issue_event {
                "issue_created" => "create",
                "issue_deleted" => "delete",
                "issue_updated" => "update",
                other => other.strip_prefix("issue_").unwrap_or(other),
            };
            let fields = changelog(&payload, &mut references);
            let mut attributes = Map::new();
            if let Some(description) = issue.pointer("/fields/description").and_then(document_text) {
                attributes.insert("text".into(), description.into());
            }
            if action == "create" {
                start_values(issue, &mut attributes, &mut references);
            }
            // Jira Server still sends a comment inside `jira:issue_updated`
            // (`issue_commented`): the comment is what the event is about.
            let commented = payload.get("comment").is_some()
                && matches!(
                    text(&payload, "/issue_event_type_name").as_deref(),
                    Some("issue_commented" | "issue_comment_edited" | "issue_comment_deleted")
                );
            if !commented || !fields.is_empty() {
                changes.push(Change {
                    entity_type: "issue".into(),
                    action: action.into(),
                    entity_id: issue.get("id").and_then(id_text),
                    name: issue_name.clone(),
                    url: issue_url.clone(),
                    primary: !commented,
                    parent: None,
                    fields,
                    verb: None,
                    attributes,
                });
            }
            if commented {
                let action = match text(&payload, "/issue_event_type_name").as_deref() {
                    Some("issue_comment_edited") => "update",
                    Some("issue_comment_deleted") => "delete",
                    _ => "create",
                };
                changes.push(comment_change(&payload, action, issue, issue_name, issue_url));
            }
        }
        ("", comment_event) if comment_event.starts_with("comment_") => {
            let action = match comment_event {
                "comment_created" => "create",
                "comment_updated" => "update",
                "comment_deleted" => "delete",
                other => other,
            };
            changes.push(comment_change(&payload, action, issue, issue_name, issue_url));
        }
        _ => {
            // Sprints, versions, projects…: named by the object the event carries.
            let entity = webhook_event.split([':', '_']).find(|part| *part != "jira").unwrap_or("event");
            let object = part(&payload, entity);
            changes.push(Change {
                entity_type: entity.into(),
                action: webhook_event.rsplit('_').next().unwrap_or("event").into(),
                entity_id: object.get("id").and_then(id_text),
                name: text(object, "/name").or(issue_name),
                url: issue_url,
                primary: true,
                parent: None,
                fields: Vec::new(),
                verb: None,
                attributes: Map::new(),
            });
        }
    }
    let user = payload
        .get("user")
        .or_else(|| payload.pointer("/comment/updateAuthor"))
        .or_else(|| payload.pointer("/comment/author"));
    let actor = person(user, &mut references);
    Ok(Event {
        source: source.to_owned(),
        source_kind: "jira",
        id: event_id(header(headers, &["x-atlassian-webhook-identifier"])).unwrap_or_else(body_hash),
        time: payload.get("timestamp").and_then(Value::as_i64).map(super::rfc3339_from_millis),
        actor,
        changes,
        references,
        summary: None,
        payload,
    })
}

/// A Jira user: Cloud names people by `accountId`, Data Center by `name`/`key`.
/// App users (`accountType: app`) are automation.
fn person(user: Option<&Value>, references: &mut Vec<Reference>) -> Actor {
    let Some(user) = user else { return Actor::default() };
    let id = ["/accountId", "/name", "/key"].iter().find_map(|pointer| text(user, pointer));
    let name = text(user, "/displayName").or_else(|| id.clone());
    if let (Some(id), Some(name)) = (&id, &name) {
        references.push(reference("member", id.clone(), name.clone(), None));
    }
    let kind = (text(user, "/accountType").as_deref() == Some("app")).then_some(ActorKind::Bot);
    Actor { id, name, kind }
}

/// `changelog.items[]`, one field each. Status and assignee keep their ids as
/// values and name them by `fromString`/`toString`; labels arrive as one
/// space-separated string each side and become adds/removes.
fn changelog(payload: &Value, references: &mut Vec<Reference>) -> Vec<FieldChange> {
    let items = payload.pointer("/changelog/items").and_then(Value::as_array);
    let mut fields = Vec::new();
    for item in items.into_iter().flatten() {
        let Some(field) = text(item, "/field") else { continue };
        let (from, to) = (item.get("from").filter(|v| !v.is_null()), item.get("to").filter(|v| !v.is_null()));
        let (from_string, to_string) = (text(item, "/fromString"), text(item, "/toString"));
        let mut name = |entity_type: &str, id: Option<&Value>, name: &Option<String>| {
            if let (Some(id), Some(name)) = (id.and_then(id_text), name) {
                references.push(reference(entity_type, id, name.clone(), None));
            }
        };
        let field_id = text(item, "/fieldId").unwrap_or_else(|| field.to_ascii_lowercase());
        match field_id.as_str() {
            "status" => {
                name("workflow-state", from, &from_string);
                name("workflow-state", to, &to_string);
                fields.push(value_change("workflow_state_id", from.cloned(), to.cloned()));
            }
            "assignee" => {
                name("member", from, &from_string);
                name("member", to, &to_string);
                let one = |value: Option<&Value>| value.cloned().into_iter().collect::<Vec<_>>();
                let delta = list_delta(&one(from), &one(to));
                fields.push(FieldChange { field: "owner_ids".into(), delta });
            }
            "labels" => {
                let words = |text: &Option<String>| -> Vec<Value> {
                    text.iter().flat_map(|t| t.split_whitespace()).map(|w| Value::String(w.into())).collect()
                };
                fields.push(FieldChange {
                    field: "label_ids".into(),
                    delta: list_delta(&words(&from_string), &words(&to_string)),
                });
            }
            "summary" => {
                fields.push(value_change("name", from_string.map(Value::from), to_string.map(Value::from)))
            }
            "description" => fields.push(value_change(
                "description",
                from_string.map(Value::from),
                to_string.map(Value::from),
            )),
            "duedate" => fields.push(value_change("due_date", from.cloned(), to.cloned())),
            _ => {
                // Priority, resolution, sprint, fix version…: the names are what a reader and a rule know.
                let old = from_string.map(Value::from).or_else(|| from.cloned());
                let new = to_string.map(Value::from).or_else(|| to.cloned());
                fields.push(value_change(&snake_case(&field), old, new));
            }
        }
    }
    fields
}

/// What a created issue starts with: status, assignee, labels, priority.
fn start_values(issue: &Value, attributes: &mut Map<String, Value>, references: &mut Vec<Reference>) {
    if let Some(status) = issue.pointer("/fields/status/id").and_then(id_text) {
        attributes.insert("workflow_state_id".into(), status.into());
    }
    if let Some(assignee) = issue.pointer("/fields/assignee").filter(|v| !v.is_null()) {
        let person = person(Some(assignee), references);
        if let Some(id) = person.id {
            attributes.insert("owner_ids".into(), Value::Array(vec![id.into()]));
        }
    }
    if let Some(Value::Array(labels)) = issue.pointer("/fields/labels") {
        if !labels.is_empty() {
            attributes.insert("label_ids".into(), Value::Array(labels.clone()));
        }
    }
    if let Some(project) = issue.pointer("/fields/project/id").and_then(id_text) {
        attributes.insert("project_id".into(), project.into());
    }
}

fn comment_change(
    payload: &Value,
    action: &str,
    issue: &Value,
    issue_name: Option<String>,
    issue_url: Option<String>,
) -> Change {
    let comment = part(payload, "comment");
    let id = comment.get("id").and_then(id_text);
    let mut attributes = Map::new();
    if let Some(body) = comment.get("body").and_then(document_text) {
        attributes.insert("text".into(), body.into());
    }
    let url = match (&issue_url, &id) {
        (Some(url), Some(id)) => Some(format!("{url}?focusedCommentId={id}")),
        _ => None,
    };
    Change {
        entity_type: "comment".into(),
        action: action.into(),
        entity_id: id,
        name: None,
        url,
        primary: true,
        parent: issue.get("id").and_then(id_text).map(|id| Parent {
            entity_type: "issue".into(),
            id,
            name: issue_name,
            url: issue_url,
        }),
        fields: Vec::new(),
        verb: None,
        attributes,
    }
}

/// The issue's page: its `self` REST link names the site, `/browse/KEY` the page.
fn browse_url(issue: &Value) -> Option<String> {
    let key = text(issue, "/key")?;
    let api = url::Url::parse(&text(issue, "/self")?).ok()?;
    let path = api.path();
    // Data Center may live under a context path: keep what precedes /rest/.
    let base = path.find("/rest/").map_or("", |at| &path[..at]);
    let mut page = api.clone();
    page.set_path(&format!("{base}/browse/{key}"));
    page.set_query(None);
    web_url(Some(page.to_string()))
}

/// A comment or description: plain text (REST v2, Data Center) or an Atlassian
/// Document (REST v3), whose text nodes are joined, a paragraph a line.
fn document_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
        Value::Object(_) => {
            let mut out = String::new();
            collect_text(value, &mut out, 0);
            let out = out.trim().to_owned();
            (!out.is_empty()).then_some(out)
        }
        _ => None,
    }
}

fn collect_text(node: &Value, out: &mut String, depth: usize) {
    // Documents nest a few levels; a hostile one must not exhaust the stack.
    if depth > 64 {
        return;
    }
    if let Some(text) = node.get("text").and_then(Value::as_str) {
        out.push_str(text);
    }
    if node.get("type").and_then(Value::as_str) == Some("hardBreak") {
        out.push('\n');
    }
    for child in node.get("content").and_then(Value::as_array).into_iter().flatten() {
        collect_text(child, out, depth + 1);
    }
    if matches!(node.get("type").and_then(Value::as_str), Some("paragraph" | "heading" | "listItem")) {
        out.push('\n');
    }
}
