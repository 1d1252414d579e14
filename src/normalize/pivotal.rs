//! Pivotal Tracker v5 activity webhooks: one activity per request, whose
//! `changes[]` mix the story it is about with side effects (label counts, the
//! story's `updated_at`) and, for a rejection, the comment that came with it.
//!
//! Pivotal's `url` fields are unreliable (the docs' own example has no host), so
//! links are built from ids.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::time::rfc3339_from_millis;
use super::{
    event_id, id_text, list_delta, string_at, Actor, ActorKind, Change, Delta, Event, FieldChange,
    NormalizeError, Parent, Reference,
};

const TRACKER: &str = "https://www.pivotaltracker.com";

pub fn normalize(
    source: &str,
    payload: Value,
    body_hash: impl FnOnce() -> String,
) -> Result<Event, NormalizeError> {
    let Value::Object(activity) = &payload else {
        unreachable!("normalize() checks the payload is an object");
    };
    let changes: Vec<&Map<String, Value>> = match activity.get("changes") {
        Some(Value::Array(changes)) => changes.iter().filter_map(Value::as_object).collect(),
        Some(_) => return Err(NormalizeError::WrongType { field: "changes", expected: "an array" }),
        None => Vec::new(),
    };
    let kind = string_at(activity, "kind").ok_or(NormalizeError::Missing("kind"))?;
    let resources = primary_resources(activity);
    let by_kind_and_id: Resources =
        resources.iter().map(|r| ((r.entity_type.as_str(), r.id.as_str()), r)).rev().collect();
    let primary = primary_index(&kind, &changes, &by_kind_and_id);
    let story = resources.iter().find(|r| r.entity_type == "story").cloned();

    let performed_by = activity.get("performed_by").and_then(Value::as_object);
    let actor = Actor {
        id: performed_by.and_then(|person| person.get("id")).and_then(id_text),
        name: performed_by.and_then(|person| string_at(person, "name")),
        // An integration (GitHub, Zendesk…) performs activities as itself, not as a person.
        kind: performed_by
            .and_then(|performer| string_at(performer, "kind"))
            .filter(|kind| kind != "person")
            .map(|_| ActorKind::Integration),
    };
    let mut references = resources.clone();
    references.extend(project_reference(activity));
    if let (Some(id), Some(name)) = (&actor.id, &actor.name) {
        references.push(Reference {
            entity_type: "member".into(),
            id: id.clone(),
            name: name.clone(),
            url: None,
            kind: None,
        });
    }

    Ok(Event {
        source: source.to_owned(),
        source_kind: "pivotal",
        id: event_id(string_at(activity, "guid")).unwrap_or_else(body_hash),
        time: activity.get("occurred_at").and_then(Value::as_i64).map(rfc3339_from_millis),
        actor,
        changes: changes
            .iter()
            .enumerate()
            .map(|(index, change)| to_change(change, Some(index) == primary, &by_kind_and_id, story.as_ref()))
            .collect(),
        references,
        summary: string_at(activity, "message"),
        payload,
    })
}

/// The change the activity is about: the first whose kind is the activity's
/// resource (`comment` for `comment_create_activity`), else one naming a primary
/// resource, else the first.
fn primary_index(kind: &str, changes: &[&Map<String, Value>], resources: &Resources) -> Option<usize> {
    let resource = kind.split('_').next().unwrap_or_default();
    let kind_of = |change: &Map<String, Value>| string_at(change, "kind").unwrap_or_default();
    changes
        .iter()
        .position(|change| kind_of(change) == resource)
        .or_else(|| {
            changes.iter().position(|change| {
                let id = change.get("id").and_then(id_text);
                id.is_some_and(|id| resources.contains_key(&(kind_of(change).as_str(), id.as_str())))
            })
        })
        .or(if changes.is_empty() { None } else { Some(0) })
}

fn to_change(
    change: &Map<String, Value>,
    primary: bool,
    resources: &Resources,
    story: Option<&Reference>,
) -> Change {
    let entity_type = string_at(change, "kind").unwrap_or_else(|| "unknown".into());
    let entity_id = change.get("id").and_then(id_text);
    let empty = Map::new();
    let new_values = change.get("new_values").and_then(Value::as_object).unwrap_or(&empty);
    let original_values = change.get("original_values").and_then(Value::as_object).unwrap_or(&empty);
    let resource = entity_id.as_deref().and_then(|id| resources.get(&(entity_type.as_str(), id)).copied());

    let mut attributes = Map::new();
    for key in ["story_type", "text", "description"] {
        if let Some(value) = change.get(key).or_else(|| new_values.get(key)) {
            attributes.insert(key.into(), value.clone());
        }
    }
    let parent = match entity_type.as_str() {
        "story" | "epic" | "project" => None,
        _ => story_parent(new_values, story),
    };
    let fields = field_changes(original_values, new_values);
    Change {
        verb: state_verb(&fields),
        action: string_at(change, "change_type").unwrap_or_else(|| "update".into()),
        name: string_at(change, "name").or_else(|| resource.map(|r| r.name.clone())),
        url: entity_url(&entity_type, entity_id.as_deref())
            .or_else(|| parent.as_ref().and_then(|p| p.url.clone())),
        fields,
        entity_type,
        entity_id,
        primary,
        parent,
        attributes,
    }
}

/// Pivotal sends whole values; id lists (`owner_ids`, `label_ids`) become
/// adds/removes so rules read them as they read Shortcut's.
fn field_changes(original: &Map<String, Value>, new: &Map<String, Value>) -> Vec<FieldChange> {
    let mut fields: Vec<&String> = new.keys().collect();
    fields.extend(original.keys().filter(|key| !new.contains_key(*key)));
    fields
        .into_iter()
        .map(|field| {
            let old = original.get(field);
            let new = new.get(field);
            let delta = match (old, new) {
                (Some(Value::Array(_)) | Some(Value::Null) | None, Some(Value::Array(_)))
                | (Some(Value::Array(_)), Some(Value::Null) | None) => set_delta(old, new),
                _ => Delta::Value { old: old.cloned(), new: new.cloned() },
            };
            FieldChange { field: field.clone(), delta }
        })
        .collect()
}

fn set_delta(old: Option<&Value>, new: Option<&Value>) -> Delta {
    list_delta(items(old), items(new))
}

fn items(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// Pivotal's states are verbs a reader expects to see: "accepted feature X".
fn state_verb(fields: &[FieldChange]) -> Option<String> {
    let state = fields.iter().find(|f| f.field == "current_state")?;
    let Delta::Value { new: Some(Value::String(state)), .. } = &state.delta else { return None };
    ["started", "finished", "delivered", "accepted", "rejected"]
        .into_iter()
        .find(|verb| verb == state)
        .map(str::to_owned)
}

fn story_parent(new_values: &Map<String, Value>, story: Option<&Reference>) -> Option<Parent> {
    let story_id = new_values.get("story_id").and_then(id_text).or_else(|| story.map(|s| s.id.clone()))?;
    let known = story.filter(|s| s.id == story_id);
    Some(Parent {
        entity_type: "story".into(),
        name: known.map(|s| s.name.clone()),
        url: entity_url("story", Some(&story_id)),
        id: story_id,
    })
}

fn entity_url(entity_type: &str, id: Option<&str>) -> Option<String> {
    let path = match entity_type {
        "story" => "story/show",
        "epic" => "epic/show",
        "project" => "n/projects",
        _ => return None,
    };
    Some(format!("{TRACKER}/{path}/{}", id?))
}

/// The primary resources by kind and id, the first of any repeated: an
/// activity of thousands of changes would otherwise search them all for each.
type Resources<'a> = HashMap<(&'a str, &'a str), &'a Reference>;

fn primary_resources(activity: &Map<String, Value>) -> Vec<Reference> {
    activity
        .get("primary_resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter_map(|resource| {
            let entity_type = string_at(resource, "kind")?;
            let id = resource.get("id").and_then(id_text)?;
            Some(Reference {
                url: entity_url(&entity_type, Some(&id)),
                name: string_at(resource, "name")?,
                kind: string_at(resource, "story_type"),
                entity_type,
                id,
            })
        })
        .collect()
}

fn project_reference(activity: &Map<String, Value>) -> Option<Reference> {
    let project = activity.get("project")?.as_object()?;
    let id = project.get("id").and_then(id_text)?;
    Some(Reference {
        entity_type: "project".into(),
        url: entity_url("project", Some(&id)),
        name: string_at(project, "name")?,
        id,
        kind: None,
    })
}
