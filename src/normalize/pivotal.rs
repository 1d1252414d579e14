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
    let primary = primary_indexes(&kind, &changes, &resources, &by_kind_and_id);
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
    // Every change that names itself names its id: a label attached in the
    // same activity shows by name in the story's `label_ids`.
    references.extend(changes.iter().filter_map(|change| {
        let new_values = change.get("new_values").and_then(Value::as_object);
        Some(Reference {
            entity_type: string_at(change, "kind")?,
            id: change.get("id").and_then(id_text)?,
            // A task is known by its description.
            name: string_at(change, "name")
                .or_else(|| string_at(change, "description"))
                .or_else(|| new_values.and_then(|values| string_at(values, "description")))?,
            url: None,
            kind: None,
        })
    }));
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
        time: occurred_at(activity),
        actor,
        changes: ordered(
            changes
                .iter()
                .enumerate()
                .map(|(index, change)| {
                    let rank = primary.iter().position(|primary| *primary == index);
                    let mut change = to_change(change, rank.is_some(), &by_kind_and_id, story.as_ref());
                    // A move changes only positions, which messages leave out: say it.
                    if kind == "story_move_activity" && change.primary && change.verb.is_none() {
                        change.verb = Some("moved".into());
                    }
                    (rank, change)
                })
                .collect(),
        ),
        references,
        summary: string_at(activity, "message"),
        payload,
    })
}

/// `occurred_at`: epoch milliseconds, or an ISO-8601 string (as the v5 API
/// also writes it).
fn occurred_at(activity: &Map<String, Value>) -> Option<String> {
    match activity.get("occurred_at")? {
        Value::Number(number) => number.as_i64().map(rfc3339_from_millis),
        Value::String(text) => super::parse_timestamp(text).map(rfc3339_from_millis),
        _ => None,
    }
}

/// The changes the activity is about, in the order the activity lists its
/// primary resources: those whose kind is the activity's resource (`comment`
/// for `comment_create_activity`) and, when several, each that is a primary
/// resource (a bulk move, several stories deleted at once); else every change
/// naming a primary resource; else the first. Labels are never what a story
/// activity is about: their counts move because a story took them.
fn primary_indexes(
    kind: &str,
    changes: &[&Map<String, Value>],
    listed: &[Reference],
    resources: &Resources,
) -> Vec<usize> {
    let resource = kind.split('_').next().unwrap_or_default();
    let kind_of = |change: &Map<String, Value>| string_at(change, "kind").unwrap_or_default();
    let is_resource = |change: &Map<String, Value>| {
        let id = change.get("id").and_then(id_text);
        id.is_some_and(|id| resources.contains_key(&(kind_of(change).as_str(), id.as_str())))
    };
    let of_kind: Vec<usize> = (0..changes.len()).filter(|&i| kind_of(changes[i]) == resource).collect();
    let listed_of_kind: Vec<usize> = of_kind.iter().copied().filter(|&i| is_resource(changes[i])).collect();
    let mut primary = match (listed_of_kind.len(), of_kind.first()) {
        (0, Some(first)) => vec![*first],
        (0, None) => {
            let named: Vec<usize> = (0..changes.len())
                .filter(|&i| {
                    is_resource(changes[i]) && (resource == "label" || kind_of(changes[i]) != "label")
                })
                .collect();
            match named.is_empty() {
                true => (0..changes.len()).find(|&i| kind_of(changes[i]) != "label").into_iter().collect(),
                false => named,
            }
        }
        _ => listed_of_kind,
    };
    if primary.is_empty() && !changes.is_empty() {
        primary.push(0);
    }
    // In the order of `primary_resources`; a change that is none keeps its place.
    let order = |index: usize| {
        let id = changes[index].get("id").and_then(id_text).unwrap_or_default();
        let kind = kind_of(changes[index]);
        listed.iter().position(|r| r.entity_type == kind && r.id == id).unwrap_or(usize::MAX)
    };
    primary.sort_by_key(|&index| (order(index), index));
    primary
}

/// The activity's changes where they were, except that the primary ones
/// take the places of primary changes in their rank's order.
fn ordered(changes: Vec<(Option<usize>, Change)>) -> Vec<Change> {
    let places: Vec<usize> =
        changes.iter().enumerate().filter(|(_, (rank, _))| rank.is_some()).map(|(i, _)| i).collect();
    let mut slots: Vec<Option<Change>> = Vec::with_capacity(changes.len());
    let mut primaries: Vec<(usize, Change)> = Vec::new();
    for (rank, change) in changes {
        match rank {
            Some(rank) => {
                primaries.push((rank, change));
                slots.push(None);
            }
            None => slots.push(Some(change)),
        }
    }
    primaries.sort_by_key(|(rank, _)| *rank);
    for (place, (_, change)) in places.into_iter().zip(primaries) {
        slots[place] = Some(change);
    }
    slots.into_iter().flatten().collect()
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
        // A task or comment has no name of its own: it is spoken of by its story's.
        name: string_at(change, "name")
            .or_else(|| resource.map(|r| r.name.clone()))
            .or_else(|| parent.as_ref().and_then(|p| p.name.clone())),
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
