//! Shortcut (formerly Clubhouse) webhook v1: an envelope of `actions`, each a
//! change to one entity, and optional `references` naming the ids they use.
//!
//! Every action becomes a [`Change`]. An event with `primary_id` is about that
//! action; the others are its side effects (a story's `comment_ids` growing, a
//! story moved by a GitHub branch). An event without it is a batch: every action
//! is primary.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{
    event_id, id_text, parse_field_changes, string_at, web_url, Actor, ActorKind, Change, Delta, Event,
    NormalizeError, Parent, Reference,
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
    let stories = Stories::of(&actions, &references);
    let changes = actions.iter().map(|action| to_change(action, primary_id.as_deref(), &stories)).collect();

    Ok(Event {
        source: source.to_owned(),
        source_kind: "shortcut",
        id: event_id(string_at(envelope, "id")).unwrap_or_else(body_hash),
        time: string_at(envelope, "changed_at"),
        actor: Actor {
            id: string_at(envelope, "member_id"),
            name: string_at(envelope, "actor_name"),
            // Shortcut's VCS and integration events are nobody's doing: no member.
            kind: (!envelope.contains_key("member_id")).then_some(ActorKind::Integration),
        },
        changes,
        references,
        summary: None,
        payload,
    })
}

fn to_change(action: &Map<String, Value>, primary_id: Option<&str>, stories: &Stories) -> Change {
    let entity_id = action.get("id").and_then(id_text);
    let entity_type = string_at(action, "entity_type").unwrap_or_else(|| "unknown".into());
    let primary = match primary_id {
        Some(primary) => entity_id.as_deref() == Some(primary),
        None => true,
    };
    let parent = if STORY_CHILDREN.contains(&entity_type.as_str()) {
        entity_id.as_deref().and_then(|id| stories.parent_of(action, id))
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
        url: web_url(string_at(action, "app_url").or_else(|| string_at(action, "url"))),
        fields: parse_field_changes(action.get("changes")),
        verb: None,
        entity_type,
        entity_id,
        primary,
        parent,
        attributes,
    }
}

/// The event's stories, found by id, by the child ids their id lists
/// (`comment_ids`, `branch_ids`…) gained or lost, and by the references that
/// name them. Built once: a batch of thousands of comments would otherwise
/// search every action for each comment (4,000 took 1.4 s).
struct Stories<'a> {
    by_id: HashMap<String, &'a Map<String, Value>>,
    by_child: HashMap<String, &'a Map<String, Value>>,
    referenced: HashMap<&'a str, &'a Reference>,
}

impl<'a> Stories<'a> {
    fn of(actions: &[&'a Map<String, Value>], references: &'a [Reference]) -> Self {
        let mut stories =
            Stories { by_id: HashMap::new(), by_child: HashMap::new(), referenced: HashMap::new() };
        let story_actions = actions
            .iter()
            .filter(|action| action.get("entity_type").and_then(Value::as_str) == Some("story"));
        // In action order, the first story wins, as a search in order would find it.
        for story in story_actions {
            if let Some(id) = story.get("id").and_then(id_text) {
                stories.by_id.entry(id).or_insert(story);
            }
            for change in parse_field_changes(story.get("changes")) {
                if let Delta::Set { adds, removes } = &change.delta {
                    for child in adds.iter().chain(removes).filter_map(id_text) {
                        stories.by_child.entry(child).or_insert(story);
                    }
                }
            }
        }
        for reference in references.iter().filter(|r| r.entity_type == "story") {
            stories.referenced.entry(reference.id.as_str()).or_insert(reference);
        }
        stories
    }

    /// The story a child entity belongs to: its `story_id` when sent, else the
    /// story action in the same event whose id lists gained (or lost) it.
    fn parent_of(&self, child: &Map<String, Value>, child_id: &str) -> Option<Parent> {
        let by_story_id = child.get("story_id").and_then(id_text);
        let story = match &by_story_id {
            Some(story_id) => self.by_id.get(story_id),
            None => self.by_child.get(child_id),
        };
        if let Some(story) = story {
            return Some(Parent {
                entity_type: "story".into(),
                id: story.get("id").and_then(id_text)?,
                name: string_at(story, "name"),
                url: web_url(string_at(story, "app_url")),
            });
        }
        let story_id = by_story_id?;
        let reference = self.referenced.get(story_id.as_str());
        Some(Parent {
            entity_type: "story".into(),
            name: reference.map(|r| r.name.clone()),
            url: reference.and_then(|r| r.url.clone()),
            id: story_id,
        })
    }
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
                url: web_url(string_at(item, "app_url").or_else(|| string_at(item, "url"))),
                kind: string_at(item, "type"),
            })
        })
        .collect()
}
