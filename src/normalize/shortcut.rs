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
    let owners = [Owners::of("story", &actions, &references), Owners::of("epic", &actions, &references)];
    let deleted_stories = deleted(&actions, "story");
    let changes = actions
        .iter()
        .filter_map(|action| to_change(action, primary_id.as_deref(), &owners, &deleted_stories))
        .collect();

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

/// The ids of the `entity_type` entities this event deletes.
fn deleted(actions: &[&Map<String, Value>], entity_type: &str) -> Vec<String> {
    actions
        .iter()
        .filter(|action| {
            action.get("entity_type").and_then(Value::as_str) == Some(entity_type)
                && action.get("action").and_then(Value::as_str) == Some("delete")
        })
        .filter_map(|action| action.get("id").and_then(id_text))
        .collect()
}

/// `None` for a child deleted because its story was (the story's delete
/// cascades to its comments and tasks): that is the story's deletion, already
/// a change of its own, not something anyone did to the comment.
fn to_change(
    action: &Map<String, Value>,
    primary_id: Option<&str>,
    owners: &[Owners; 2],
    deleted_stories: &[String],
) -> Option<Change> {
    let entity_id = action.get("id").and_then(id_text);
    let entity_type = string_at(action, "entity_type").unwrap_or_else(|| "unknown".into());
    let primary = match primary_id {
        Some(primary) => entity_id.as_deref() == Some(primary),
        None => true,
    };
    let [stories, epics] = owners;
    let parent = if STORY_CHILDREN.contains(&entity_type.as_str()) {
        entity_id.as_deref().and_then(|id| stories.parent_of(action, id))
    } else if entity_type == "epic-comment" {
        entity_id.as_deref().and_then(|id| epics.parent_of(action, id))
    } else {
        None
    };
    let action_name = string_at(action, "action").unwrap_or_else(|| "unknown".into());
    let what_the_event_is_about = primary_id.is_some() && primary;
    if action_name == "delete" && !what_the_event_is_about {
        let cascaded = STORY_CHILDREN.contains(&entity_type.as_str())
            && match &parent {
                Some(parent) => deleted_stories.contains(&parent.id),
                // A child that names no story, deleted with a story: the cascade.
                None => !deleted_stories.is_empty(),
            };
        if cascaded {
            return None;
        }
    }
    let attributes = action
        .iter()
        .filter(|(key, _)| !MODELLED_KEYS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Some(Change {
        action: action_name,
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
    })
}

/// The event's stories (or epics), found by id, by the child ids their id
/// lists (`comment_ids`, `branch_ids`…) gained or lost, and by the references
/// that name them. Built once: a batch of thousands of comments would otherwise
/// search every action for each comment (4,000 took 1.4 s).
struct Owners<'a> {
    /// `story` or `epic`.
    entity_type: &'static str,
    by_id: HashMap<String, &'a Map<String, Value>>,
    by_child: HashMap<String, &'a Map<String, Value>>,
    referenced: HashMap<&'a str, &'a Reference>,
}

impl<'a> Owners<'a> {
    fn of(
        entity_type: &'static str,
        actions: &[&'a Map<String, Value>],
        references: &'a [Reference],
    ) -> Self {
        let mut owners = Owners {
            entity_type,
            by_id: HashMap::new(),
            by_child: HashMap::new(),
            referenced: HashMap::new(),
        };
        let owner_actions = actions
            .iter()
            .filter(|action| action.get("entity_type").and_then(Value::as_str) == Some(entity_type));
        // In action order, the first owner wins, as a search in order would find it.
        for owner in owner_actions {
            if let Some(id) = owner.get("id").and_then(id_text) {
                owners.by_id.entry(id).or_insert(owner);
            }
            for change in parse_field_changes(owner.get("changes")) {
                if let Delta::Set { adds, removes } = &change.delta {
                    for child in adds.iter().chain(removes).filter_map(id_text) {
                        owners.by_child.entry(child).or_insert(owner);
                    }
                }
            }
        }
        for reference in references.iter().filter(|r| r.entity_type == entity_type) {
            owners.referenced.entry(reference.id.as_str()).or_insert(reference);
        }
        owners
    }

    /// The owner a child entity belongs to: its `story_id` / `epic_id` when
    /// sent, else the owner action in the same event whose id lists gained (or
    /// lost) it, else the owner its link names (`…/epic/17/comment/42`).
    fn parent_of(&self, child: &Map<String, Value>, child_id: &str) -> Option<Parent> {
        let id_key = format!("{}_id", self.entity_type);
        let by_owner_id = child.get(&id_key).and_then(id_text);
        let owner = match &by_owner_id {
            Some(owner_id) => self.by_id.get(owner_id),
            None => self.by_child.get(child_id),
        };
        if let Some(owner) = owner {
            return Some(Parent {
                entity_type: self.entity_type.into(),
                id: owner.get("id").and_then(id_text)?,
                name: string_at(owner, "name"),
                url: web_url(string_at(owner, "app_url")),
            });
        }
        let owner_id = by_owner_id.or_else(|| self.id_in_link(child))?;
        if let Some(owner) = self.by_id.get(&owner_id) {
            return Some(Parent {
                entity_type: self.entity_type.into(),
                name: string_at(owner, "name"),
                url: web_url(string_at(owner, "app_url")),
                id: owner_id,
            });
        }
        let reference = self.referenced.get(owner_id.as_str());
        Some(Parent {
            entity_type: self.entity_type.into(),
            name: reference.map(|r| r.name.clone()),
            url: reference.and_then(|r| r.url.clone()).or_else(|| self.link_of(child, &owner_id)),
            id: owner_id,
        })
    }

    /// `https://app.shortcut.com/acme/epic/17/comment/42` → `17`.
    fn id_in_link(&self, child: &Map<String, Value>) -> Option<String> {
        let url = url::Url::parse(&string_at(child, "app_url")?).ok()?;
        let mut segments = url.path_segments()?;
        segments.find(|segment| *segment == self.entity_type)?;
        segments
            .next()
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
    }

    /// The owner's own page, cut from the child's link.
    fn link_of(&self, child: &Map<String, Value>, owner_id: &str) -> Option<String> {
        let link = string_at(child, "app_url")?;
        let marker = format!("/{}/{owner_id}", self.entity_type);
        let end = link.find(&marker)? + marker.len();
        web_url(Some(link[..end].to_owned()))
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
