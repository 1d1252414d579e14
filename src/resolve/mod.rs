//! Names for the ids a change carries: first the event's own `references`, then
//! `names:` and `people:` from the config, then the tracker's API (Shortcut,
//! with `api_token`), else nothing (templates show the id).
//!
//! Resolution runs before the rules, so `to: { workflow_state_id: "Ready for
//! Deploy" }` can match a name as well as a raw id. `resolve` does no I/O;
//! `with_api` adds what the API knows within a time budget.

mod shortcut_api;

use std::collections::HashMap;
use std::sync::Arc;

pub use shortcut_api::ShortcutApi;

use serde_json::Value;

use crate::config::{Config, PersonConfig};
use crate::normalize::{id_text, Event};

/// Fields that hold tracker members rather than ids of their own entity type.
const MEMBER_FIELDS: &[&str] = &[
    "owner_ids",
    "follower_ids",
    "requested_by_id",
    "author_id",
    "member_id",
    "mention_ids",
    "owned_by_id",
    "person_id",
    "requested_by",
    "reviewer_ids",
];

/// Names that do not depend on the event: `names:` and `people:` from the config.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    names: HashMap<(String, String), String>,
    /// `people:` by every key that finds them: tracker id and e-mail.
    people: Arc<HashMap<String, Arc<PersonConfig>>>,
}

impl Directory {
    pub fn from_config(config: &Config) -> Self {
        let mut names = HashMap::new();
        for (entity_type, ids) in &config.names {
            for (id, name) in ids {
                names.insert((entity_type.clone(), id.clone()), name.clone());
            }
        }
        let mut people = HashMap::new();
        for (id, person) in &config.people {
            names.insert(("member".into(), id.clone()), person.name.clone());
            let person = Arc::new(person.clone());
            people.insert(id.clone(), person.clone());
            if let Some(email) = &person.email {
                names.insert(("member".into(), email.clone()), person.name.clone());
                people.insert(email.to_lowercase(), person);
            }
        }
        Directory { names, people: Arc::new(people) }
    }
}

/// The names known for one event.
#[derive(Debug, Clone, Default)]
pub struct Names {
    names: HashMap<(String, String), String>,
    people: Arc<HashMap<String, Arc<PersonConfig>>>,
    /// Workflow states' types (`unstarted`, `started`, `done`) by id.
    state_kinds: HashMap<String, String>,
    actor: Option<String>,
}

impl Names {
    /// The name of `id` taken as an entity of `entity_type` (`workflow-state`, `member`…).
    pub fn entity(&self, entity_type: &str, id: &str) -> Option<&str> {
        self.names.get(&(entity_type.to_owned(), id.to_owned())).map(String::as_str)
    }

    /// The name of a value held in `field`, e.g. `workflow_state_id: 500000010`.
    pub fn field_value(&self, field: &str, value: &Value) -> Option<&str> {
        let entity_type = entity_type_of_field(field)?;
        self.entity(&entity_type, &id_text(value)?)
    }

    /// A person from `people:`, by tracker id or e-mail.
    pub fn person(&self, id: &str) -> Option<&PersonConfig> {
        self.people.get(id).or_else(|| self.people.get(&id.to_lowercase())).map(|person| &**person)
    }

    /// Whether the member `id` is `wanted`: by id, name (any case) or e-mail.
    pub fn is_person(&self, id: &str, wanted: &str) -> bool {
        id == wanted
            || self.entity("member", id).is_some_and(|name| name.eq_ignore_ascii_case(wanted))
            || self
                .person(id)
                .and_then(|p| p.email.as_deref())
                .is_some_and(|email| email.eq_ignore_ascii_case(wanted))
    }

    /// A workflow state's type (`done`…), when the event's references say.
    pub fn state_kind(&self, state: &Value) -> Option<&str> {
        self.state_kinds.get(&id_text(state)?).map(String::as_str)
    }

    /// Adds names found elsewhere (the API), where nothing named them yet.
    pub fn add_fallback(&mut self, found: Vec<((String, String), String)>, event: &Event) {
        for (key, name) in found {
            self.names.entry(key).or_insert(name);
        }
        if self.actor.is_none() {
            if let Some(id) = &event.actor.id {
                self.actor = self.names.get(&("member".to_owned(), id.clone())).cloned();
            }
        }
    }

    /// Every (entity type, id) and its name known for this event.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.names.iter().map(|((entity_type, id), name)| (entity_type.as_str(), id.as_str(), name.as_str()))
    }

    /// Who did it, as a person would want to read it.
    pub fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }
}

/// Builds the names for `event`. References win over the config: they are what
/// the tracker called things at the moment of the event.
pub fn resolve(event: &Event, directory: &Directory) -> Names {
    let mut names = directory.names.clone();
    let mut state_kinds = HashMap::new();
    for reference in &event.references {
        names.insert((reference.entity_type.clone(), reference.id.clone()), reference.name.clone());
        if let (Some(kind), "workflow-state") = (&reference.kind, reference.entity_type.as_str()) {
            state_kinds.insert(reference.id.clone(), kind.clone());
        }
    }
    let actor = event.actor.name.clone().or_else(|| {
        let id = event.actor.id.as_ref()?;
        names.get(&("member".to_owned(), id.clone())).cloned()
    });
    Names { names, people: directory.people.clone(), state_kinds, actor }
}

/// Attributes of a created entity worth a name (the rest of a change's ids are
/// in its fields).
pub const NAMED_ATTRIBUTES: &[&str] = &[
    "workflow_state_id",
    "epic_state_id",
    "project_id",
    "epic_id",
    "iteration_id",
    "group_id",
    "owner_ids",
    "label_ids",
    "requested_by_id",
];

/// What the API named: (entity type, id) → name.
type Found = Vec<((String, String), String)>;

/// Names from the config and payload, and the API's look-up for the rest
/// under way: several events' look-ups run at once, then each is finished.
pub struct PendingNames {
    names: Names,
    lookup: Option<tokio::task::JoinHandle<Found>>,
}

pub fn start_lookup(event: &Event, directory: &Directory, api: Option<Arc<ShortcutApi>>) -> PendingNames {
    let names = resolve(event, directory);
    let wanted = match &api {
        Some(_) => unnamed(event, &names),
        None => Vec::new(),
    };
    let lookup = match (api, wanted.is_empty()) {
        (Some(api), false) => Some(tokio::spawn(async move { api.names(wanted).await })),
        _ => None,
    };
    PendingNames { names, lookup }
}

impl PendingNames {
    /// The names, with what the API found by `deadline`. The sender never
    /// waits for this (it was answered when the event was stored); a look-up
    /// still running at the deadline goes on and fills the cache.
    pub async fn finish(self, event: &Event, deadline: tokio::time::Instant) -> Names {
        let PendingNames { mut names, lookup } = self;
        let Some(lookup) = lookup else { return names };
        match tokio::time::timeout_at(deadline, lookup).await {
            Ok(Ok(found)) => names.add_fallback(found, event),
            _ => {
                tracing::info!(event_id = %event.id, "tracker API too slow (api_timeout): routing with the names known")
            }
        }
        names
    }
}

/// The (entity type, id) pairs an event mentions that nothing has named yet.
pub fn unnamed(event: &Event, names: &Names) -> Vec<(String, String)> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    // A set beside the list: a batch can mention thousands of ids.
    let mut seen = std::collections::HashSet::new();
    let mut want = |entity_type: String, value: &Value| {
        if let Some(id) = id_text(value) {
            let key = (entity_type, id);
            if names.entity(&key.0, &key.1).is_none() && seen.insert(key.clone()) {
                wanted.push(key);
            }
        }
    };
    if let Some(actor) = &event.actor.id {
        if event.actor.name.is_none() {
            want("member".into(), &Value::String(actor.clone()));
        }
    }
    for change in &event.changes {
        for field in &change.fields {
            let Some(entity_type) = entity_type_of_field(&field.field) else { continue };
            let values: Vec<&Value> = match &field.delta {
                crate::normalize::Delta::Value { old, new } => old.iter().chain(new).collect(),
                crate::normalize::Delta::Set { adds, removes } => adds.iter().chain(removes).collect(),
            };
            for value in values {
                want(entity_type.clone(), value);
            }
        }
        for key in NAMED_ATTRIBUTES {
            let (Some(value), Some(entity_type)) = (change.attributes.get(*key), entity_type_of_field(key))
            else {
                continue;
            };
            match value {
                Value::Array(items) => items.iter().for_each(|item| want(entity_type.clone(), item)),
                single => want(entity_type, single),
            }
        }
    }
    wanted
}

/// `workflow_state_id` → `workflow-state`, `label_ids` → `label`, `owner_ids` → `member`.
pub fn entity_type_of_field(field: &str) -> Option<String> {
    if MEMBER_FIELDS.contains(&field) {
        return Some("member".into());
    }
    let stem = field.strip_suffix("_ids").or_else(|| field.strip_suffix("_id"))?;
    Some(stem.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_map_to_reference_entity_types() {
        assert_eq!(entity_type_of_field("workflow_state_id").as_deref(), Some("workflow-state"));
        assert_eq!(entity_type_of_field("label_ids").as_deref(), Some("label"));
        assert_eq!(entity_type_of_field("pull_request_ids").as_deref(), Some("pull-request"));
        assert_eq!(entity_type_of_field("owner_ids").as_deref(), Some("member"));
        assert_eq!(entity_type_of_field("estimate"), None);
    }
}
