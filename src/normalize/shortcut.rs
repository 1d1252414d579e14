//! Shortcut (formerly Clubhouse) webhook v1: an envelope of `actions`, each a
//! change to one entity, and optional `references` naming the ids they use.
//!
//! Every action becomes a [`Change`]. An event with `primary_id` is about that
//! action; the others are its side effects (a story's `comment_ids` growing, a
//! story moved by a GitHub branch). An event without it is a batch: every action
//! is primary.

use serde_json::{Map, Value};

use super::{
    id_text, parse_field_changes, string_at, Actor, Change, Delta, Event, NormalizeError, Parent, Reference,
};

/// Keys of an action that the model already holds elsewhere; the rest become attributes.
const MODELLED_KEYS: &[&str] = &["id", "entity_type", "action", "name", "app_url", "changes"];

/// Entity types that hang off a story and say so only indirectly.
const STORY_CHILDREN: &[&str] =
    &["story-comment", "story-task", "branch", "pull-request", "commit", "story-link"];

pub fn normalize(
    source: &str,
    payload: Value,
    body_hash: impl FnOnce() -> String,
) -> Result<Event, NormalizeError> {
    let Value::Object(envelope) = &payload else {
        unreachable!("normalize() checks the payload is an object");
    };
    let actions = match envelope.get("actions") {
        Some(Value::Array(actions)) => actions,
        Some(_) => return Err(NormalizeError::WrongType { field: "actions", expected: "an array" }),
        None => return Err(NormalizeError::Missing("actions")),
    };
    let actions: Vec<&Map<String, Value>> = actions
        .iter()
        .map(|action| {
            action.as_object().ok_or(NormalizeError::WrongType { field: "actions[]", expected: "an object" })
        })
        .collect::<Result<_, _>>()?;

    let primary_id = envelope.get("primary_id").and_then(id_text);
    let references = references(envelope, &actions);
    let changes = actions
        .iter()
        .map(|action| to_change(action, primary_id.as_deref(), &actions, &references))
        .collect();

    Ok(Event {
        source: source.to_owned(),
        source_kind: "shortcut",
        id: string_at(envelope, "id").unwrap_or_else(body_hash),
        time: string_at(envelope, "changed_at"),
        actor: Actor { id: string_at(envelope, "member_id"), name: string_at(envelope, "actor_name") },
        changes,
        references,
        summary: None,
        payload,
    })
}

fn to_change(
    action: &Map<String, Value>,
    primary_id: Option<&str>,
    actions: &[&Map<String, Value>],
    references: &[Reference],
) -> Change {
    let entity_id = action.get("id").and_then(id_text);
    let entity_type = string_at(action, "entity_type").unwrap_or_else(|| "unknown".into());
    let primary = match primary_id {
        Some(primary) => entity_id.as_deref() == Some(primary),
        None => true,
    };
    let parent = if STORY_CHILDREN.contains(&entity_type.as_str()) {
        entity_id.as_deref().and_then(|id| find_story(action, id, actions, references))
    } else {
        None
    };
    let attributes = action
        .iter()
        .filter(|(key, _)| !MODELLED_KEYS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Change {
        action: string_at(action, "action").unwrap_or_else(|| "unknown".into()),
        // Pull requests carry a `title`, not a `name`.
        name: string_at(action, "name").or_else(|| string_at(action, "title")),
        url: string_at(action, "app_url").or_else(|| string_at(action, "url")),
        fields: parse_field_changes(action.get("changes")),
        entity_type,
        entity_id,
        primary,
        parent,
        attributes,
    }
}

/// The story a child entity belongs to: its `story_id` when sent, else the story
/// action in the same event whose id lists (`comment_ids`, `branch_ids`…) gained it.
fn find_story(
    child: &Map<String, Value>,
    child_id: &str,
    actions: &[&Map<String, Value>],
    references: &[Reference],
) -> Option<Parent> {
    let stories =
        actions.iter().filter(|action| action.get("entity_type").and_then(Value::as_str) == Some("story"));
    let by_story_id = child.get("story_id").and_then(id_text);
    let story = match &by_story_id {
        Some(story_id) => {
            stories.clone().find(|story| story.get("id").and_then(id_text).as_deref() == Some(story_id))
        }
        None => stories.clone().find(|story| lists_id(story, child_id)),
    };
    if let Some(story) = story {
        return Some(Parent {
            entity_type: "story".into(),
            id: story.get("id").and_then(id_text)?,
            name: string_at(story, "name"),
            url: string_at(story, "app_url"),
        });
    }
    let story_id = by_story_id?;
    let reference = references.iter().find(|r| r.entity_type == "story" && r.id == story_id);
    Some(Parent {
        entity_type: "story".into(),
        name: reference.map(|r| r.name.clone()),
        url: reference.and_then(|r| r.url.clone()),
        id: story_id,
    })
}

fn lists_id(story: &Map<String, Value>, child_id: &str) -> bool {
    parse_field_changes(story.get("changes")).iter().any(|change| match &change.delta {
        Delta::Set { adds, removes } => {
            adds.iter().chain(removes).any(|id| id_text(id).as_deref() == Some(child_id))
        }
        Delta::Value { .. } => false,
    })
}

/// The envelope's `references`, then every named action, so a label created in
/// the same event (sent as an action, not a reference) still resolves.
fn references(envelope: &Map<String, Value>, actions: &[&Map<String, Value>]) -> Vec<Reference> {
    let listed = envelope.get("references").and_then(Value::as_array).into_iter().flatten();
    let named_actions = actions.iter().copied();
    listed
        .filter_map(Value::as_object)
        .chain(named_actions)
        .filter_map(|item| {
            Some(Reference {
                entity_type: string_at(item, "entity_type")?,
                id: item.get("id").and_then(id_text)?,
                name: string_at(item, "name").or_else(|| string_at(item, "title"))?,
                url: string_at(item, "app_url").or_else(|| string_at(item, "url")),
                kind: string_at(item, "type"),
            })
        })
        .collect()
}
