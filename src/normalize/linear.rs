//! Linear data-change webhooks: `{action, type, data, updatedFrom, actor, url}`.
//! `data` is the entity as it is now; `updatedFrom` holds the previous value
//! of each key that changed. Keys become the bridge's snake-case field names
//! (`stateId` → `workflow_state_id`, `labelIds` → `label_ids` as adds and
//! removes, `assigneeId` → `owner_ids`), so rules read them as they read
//! Shortcut's. The new state, assignee and labels are named by `data`; an old
//! id is named by `names:` in the config, else shown as is.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::{
    event_id, header, id_text, keyed, list_delta, part, reference, required_str, snake_case, text,
    value_change, web_url, Actor, ActorKind, Change, Event, FieldChange, NormalizeError, Parent, Reference,
    DONE,
};

/// Linear's priorities, 0 to 4, by the names its app shows.
const PRIORITIES: &[&str] = &["No priority", "Urgent", "High", "Medium", "Low"];

pub fn normalize(
    source: &str,
    headers: &HeaderMap,
    payload: Value,
    body_hash: impl FnOnce() -> String,
) -> Result<Event, NormalizeError> {
    let entity = required_str(&payload, "type")?;
    let data = match payload.get("data") {
        Some(data @ Value::Object(_)) => data,
        Some(_) => return Err(NormalizeError::WrongType { field: "data", expected: "an object" }),
        None => part(&payload, "data"),
    };
    let mut references = Vec::new();
    name_inlined(data, &mut references);
    let action = match text(&payload, "/action").as_deref() {
        Some("remove") => "delete".to_owned(),
        Some(action) => action.to_owned(),
        None => "update".to_owned(),
    };
    let fields = match payload.get("updatedFrom") {
        Some(Value::Object(previous)) => {
            previous.iter().filter_map(|(key, old)| field_change(key, old, data)).collect()
        }
        _ => Vec::new(),
    };
    let url = web_url(text(&payload, "/url").or_else(|| text(data, "/url")));
    let mut attributes = Map::new();
    // What differs by type: the entity's name for the bridge, its own name, what it belongs to.
    let (entity_type, name, parent) = match entity {
        "Issue" => {
            if let Some(description) = text(data, "/description") {
                attributes.insert("text".into(), description.into());
            }
            if action == "create" {
                start_values(data, &mut attributes);
            }
            ("issue".to_owned(), keyed(text(data, "/identifier"), text(data, "/title")), None)
        }
        "Comment" => {
            if let Some(body) = text(data, "/body") {
                attributes.insert("text".into(), body.into());
            }
            let issue = data.get("issue");
            let parent_id = issue.and_then(|issue| text(issue, "/id")).or_else(|| text(data, "/issueId"));
            let parent =
                parent_id.map(|id| Parent {
                    entity_type: "issue".into(),
                    id,
                    name: issue.and_then(|issue| keyed(text(issue, "/identifier"), text(issue, "/title"))),
                    // A comment's link is its issue's page plus `#comment-<id>`.
                    url: web_url(issue.and_then(|issue| text(issue, "/url")).or_else(|| {
                        url.as_deref().map(|url| url.split('#').next().unwrap_or(url).to_owned())
                    })),
                });
            ("comment".to_owned(), None, parent)
        }
        "IssueLabel" => ("label".to_owned(), text(data, "/name"), None),
        other => (
            snake_case(other).replace('_', "-"),
            ["/name", "/title", "/body"].iter().find_map(|pointer| text(data, pointer)),
            None,
        ),
    };
    let change = Change {
        entity_type,
        action,
        entity_id: text(data, "/id"),
        name,
        url,
        primary: true,
        parent,
        fields,
        verb: None,
        attributes,
    };
    let actor_value = payload.get("actor");
    let actor = Actor {
        id: actor_value.and_then(|actor| text(actor, "/id")),
        name: actor_value.and_then(|actor| text(actor, "/name")),
        kind: match actor_value.and_then(|actor| text(actor, "/type")).as_deref() {
            None | Some("user") => None,
            Some(kind) if kind.to_ascii_lowercase().contains("bot") => Some(ActorKind::Bot),
            // oauthClient, integration, …: automation.
            Some(_) => Some(ActorKind::Integration),
        },
    };
    if let (Some(id), Some(name)) = (&actor.id, &actor.name) {
        references.push(reference("member", id.clone(), name.clone(), None));
    }
    let time = text(&payload, "/createdAt")
        .and_then(|time| super::parse_timestamp(&time))
        .or_else(|| payload.get("webhookTimestamp").and_then(Value::as_i64));
    Ok(Event {
        source: source.to_owned(),
        source_kind: "linear",
        id: event_id(header(headers, &["linear-delivery"])).unwrap_or_else(body_hash),
        time: time.map(super::rfc3339_from_millis),
        actor,
        changes: vec![change],
        references,
        summary: None,
        payload,
    })
}

/// One key of `updatedFrom`, beside its new value in `data`. Timestamps and
/// sort orders move as side effects of other changes and are left out.
fn field_change(key: &str, old: &Value, data: &Value) -> Option<FieldChange> {
    if key.ends_with("At") || key.to_ascii_lowercase().ends_with("sortorder") || key == "sortOrder" {
        return None;
    }
    let new = data.get(key).cloned();
    let list = |old: &Value, new: Option<&Value>| {
        let items = |value: Option<&Value>| value.and_then(Value::as_array).cloned().unwrap_or_default();
        list_delta(&items(Some(old)), &items(new))
    };
    let single_to_set = |old: &Value, new: Option<Value>| {
        let some = |value: Option<Value>| value.filter(|v| !v.is_null()).into_iter().collect::<Vec<_>>();
        let (old, new) = (some(Some(old.clone())), some(new));
        list_delta(&old, &new)
    };
    let (field, delta) = match key {
        "stateId" => ("workflow_state_id", None),
        "assigneeId" => ("owner_ids", Some(single_to_set(old, new.clone()))),
        "labelIds" => ("label_ids", Some(list(old, new.as_ref()))),
        "subscriberIds" => ("follower_ids", Some(list(old, new.as_ref()))),
        "title" => ("name", None),
        "priority" => {
            let named = |value: &Value| {
                value
                    .as_u64()
                    .and_then(|n| PRIORITIES.get(n as usize))
                    .map(|name| Value::String((*name).into()))
            };
            return Some(value_change("priority", named(old), new.as_ref().and_then(named)));
        }
        _ => ("", None),
    };
    let field = if field.is_empty() { snake_case(key) } else { field.to_owned() };
    Some(match delta {
        Some(delta) => FieldChange { field, delta },
        None => value_change(&field, Some(old.clone()), new),
    })
}

/// Names `data` carries for its ids: the state (with its type), assignee,
/// labels, team, project and cycle.
fn name_inlined(data: &Value, references: &mut Vec<Reference>) {
    if let Some(state) = data.get("state") {
        if let (Some(id), Some(name)) = (text(state, "/id"), text(state, "/name")) {
            let kind = match text(state, "/type").as_deref() {
                Some("completed") => DONE,
                Some("started") => Some("started"),
                Some("canceled") => Some("canceled"),
                _ => Some("unstarted"),
            };
            references.push(reference("workflow-state", id, name, kind));
        }
    }
    for (key, entity_type) in [
        ("assignee", "member"),
        ("creator", "member"),
        ("team", "team"),
        ("project", "project"),
        ("cycle", "cycle"),
    ] {
        let Some(entity) = data.get(key) else { continue };
        let name = text(entity, "/name")
            .or_else(|| entity.get("number").and_then(id_text).map(|n| format!("Cycle {n}")));
        if let (Some(id), Some(name)) = (text(entity, "/id"), name) {
            references.push(reference(entity_type, id, name, None));
        }
    }
    for label in data.get("labels").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(id), Some(name)) = (text(label, "/id"), text(label, "/name")) {
            references.push(reference("label", id, name, None));
        }
    }
}

/// What a created issue starts with, under the bridge's names, for the
/// message's details and `label: { has: … }`.
fn start_values(data: &Value, attributes: &mut Map<String, Value>) {
    if let Some(state) = data.get("stateId").filter(|v| !v.is_null()) {
        attributes.insert("workflow_state_id".into(), state.clone());
    }
    if let Some(assignee) = data.get("assigneeId").filter(|v| !v.is_null()) {
        attributes.insert("owner_ids".into(), Value::Array(vec![assignee.clone()]));
    }
    if let Some(Value::Array(labels)) = data.get("labelIds") {
        if !labels.is_empty() {
            attributes.insert("label_ids".into(), Value::Array(labels.clone()));
        }
    }
    if let Some(project) = data.get("projectId").filter(|v| !v.is_null()) {
        attributes.insert("project_id".into(), project.clone());
    }
}
