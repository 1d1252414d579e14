//! What the bridge has seen of a story, for its live card: every change about
//! it, or about its comments and tasks, folded in as the router meets them
//! (acceptance order), and the context the `card` template draws it from.
//! Trackers that send only what changed (Shortcut) fill a story in as they
//! go; those that send the whole entity (GitHub, GitLab, Linear, Jira) fill
//! it at once.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::context::{color_of, done, entity_label, fact_values, ids_in};
use crate::normalize::{id_text, Change, Delta, Event};
use crate::resolve::Names;

/// How many of a channel's latest messages about a story its card lists.
pub const RECENT: usize = 5;

/// A story as its card shows it. Stored as JSON between events: every field
/// defaults, so a state written by an older bridge still reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoryState {
    pub name: Option<String>,
    pub url: Option<String>,
    /// As a reader says it: `bug`, `issue`, `pull request`.
    pub entity: Option<String>,
    pub story_type: Option<String>,
    pub state: Option<String>,
    /// The state is a done one (a done workflow state, Pivotal's accepted).
    pub done: bool,
    pub project: Option<String>,
    pub epic: Option<String>,
    pub owners: Vec<Named>,
    pub labels: Vec<Named>,
    pub deleted: bool,
    /// When the last change folded in happened, and who made it.
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

/// An id with the name it had when last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub id: String,
    pub name: String,
}

impl StoryState {
    /// Folds in one change of `event` about this story: the story's own
    /// change sets what it carries; a comment's or task's names the story if
    /// nothing has yet.
    pub fn fold(&mut self, event: &Event, change: &Change, names: &Names) {
        match &change.parent {
            None => self.fold_own(event, change, names),
            Some(parent) => {
                self.name = self.name.take().or_else(|| parent.name.clone());
                self.url = self.url.take().or_else(|| parent.url.clone());
                if self.entity.is_none() {
                    self.entity = Some(parent.entity_type.replace(['-', '_'], " "));
                }
            }
        }
        if event.time.is_some() {
            self.updated_at = event.time.clone();
        }
        let actor = names.actor().or(event.actor.name.as_deref()).or(event.actor.id.as_deref());
        self.updated_by = actor.map(str::to_owned).or(self.updated_by.take());
    }

    fn fold_own(&mut self, event: &Event, change: &Change, names: &Names) {
        if change.name.is_some() {
            self.name = change.name.clone();
        }
        if change.url.is_some() {
            self.url = change.url.clone();
        }
        self.entity = Some(entity_label(change));
        let facts = fact_values(event, change, names);
        let set = |slot: &mut Option<String>, value: Option<String>| {
            if value.is_some() {
                *slot = value;
            }
        };
        set(&mut self.story_type, facts.story_type);
        set(&mut self.project, facts.project);
        set(&mut self.epic, facts.epic);
        if facts.state.is_some() {
            self.state = facts.state;
            self.done = done(change, names).unwrap_or(self.done);
        }
        fold_ids(&mut self.owners, change, "owner_ids", |id| names.entity("member", id));
        fold_ids(&mut self.labels, change, "label_ids", |id| names.field_value("label_ids", &json!(id)));
        match change.action.as_str() {
            "delete" => self.deleted = true,
            "create" => self.deleted = false,
            _ => {}
        }
    }

    /// The state as the card template sees it (`story`): its fields, the
    /// facts worth a line each, and a colour for a Discord embed.
    pub fn context(&self) -> Value {
        let names =
            |list: &[Named]| list.iter().map(|named| named.name.as_str()).collect::<Vec<_>>().join(", ");
        let facts: Vec<Value> = [
            ("State", self.state.clone()),
            ("Owners", Some(names(&self.owners))),
            ("Type", self.story_type.clone().or_else(|| self.entity.clone())),
            ("Labels", Some(names(&self.labels))),
            ("Epic", self.epic.clone()),
            ("Project", self.project.clone()),
        ]
        .into_iter()
        .filter_map(|(label, value)| {
            let value = value.filter(|value| !value.is_empty())?;
            Some(json!({ "label": label, "value": value }))
        })
        .collect();
        let kind = if self.deleted { "delete" } else { "update" };
        let mut story = serde_json::to_value(self).expect("a story state serializes");
        story["facts"] = Value::Array(facts);
        story["color"] = json!(color_of(kind, self.story_type.as_deref(), self.done));
        story
    }
}

/// Applies a change to an id list (owners, labels): adds and removes, or a
/// new whole list (in the change, or in what the tracker sent of the entity).
fn fold_ids<'n>(
    list: &mut Vec<Named>,
    change: &Change,
    field: &str,
    name_of: impl Fn(&str) -> Option<&'n str>,
) {
    let named = |id: String| Named { name: name_of(&id).unwrap_or(&id).to_owned(), id };
    match change.field(field) {
        Some(Delta::Set { adds, removes }) => {
            let removed: Vec<String> = removes.iter().filter_map(id_text).collect();
            list.retain(|named| !removed.contains(&named.id));
            for id in adds.iter().filter_map(id_text) {
                if !list.iter().any(|named| named.id == id) {
                    list.push(named(id));
                }
            }
        }
        _ => {
            let whole = change.field(field).is_some() || change.attributes.contains_key(field);
            if whole {
                *list = ids_in(change, field, true).into_iter().map(named).collect();
            }
        }
    }
}

/// The card template's context: the latest message's own (so its partials
/// describe the latest change), with `story` and `recent`, the channel's
/// latest messages about the story, newest first.
pub fn card_context(story: &StoryState, latest: Value, recent: Vec<Value>) -> Value {
    let mut context = match latest {
        Value::Object(_) => latest,
        _ => json!({}),
    };
    context["story"] = story.context();
    context["recent"] = Value::Array(recent);
    context["card"] = Value::Bool(true);
    context
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{Actor, FieldChange, Parent};

    fn event(changes: Vec<Change>) -> Event {
        Event {
            source: "s".into(),
            source_kind: "shortcut",
            id: "e".into(),
            time: Some("2026-12-01T10:00:00Z".into()),
            actor: Actor { id: Some("m1".into()), name: Some("Ada".into()), kind: None },
            changes,
            references: Vec::new(),
            summary: None,
            payload: Value::Null,
        }
    }

    fn change(action: &str, fields: Vec<(&str, Delta)>) -> Change {
        Change {
            entity_type: "story".into(),
            action: action.into(),
            entity_id: Some("11".into()),
            name: Some("Add cool feature".into()),
            url: Some("https://example.com/story/11".into()),
            primary: true,
            parent: None,
            fields: fields
                .into_iter()
                .map(|(field, delta)| FieldChange { field: field.into(), delta })
                .collect(),
            verb: None,
            attributes: serde_json::Map::new(),
        }
    }

    fn set(adds: &[&str], removes: &[&str]) -> Delta {
        Delta::Set {
            adds: adds.iter().map(|id| json!(id)).collect(),
            removes: removes.iter().map(|id| json!(id)).collect(),
        }
    }

    #[test]
    fn owners_and_labels_follow_adds_and_removes_and_a_state_its_last_move() {
        let names = Names::default();
        let mut story = StoryState::default();
        for change in [
            change(
                "update",
                vec![
                    ("owner_ids", set(&["ada", "bob"], &[])),
                    ("workflow_state_id", Delta::Value { old: None, new: Some(json!("Started")) }),
                ],
            ),
            change("update", vec![("owner_ids", set(&["cy"], &["ada"])), ("label_ids", set(&["l1"], &[]))]),
            change(
                "update",
                vec![(
                    "workflow_state_id",
                    Delta::Value { old: Some(json!("Started")), new: Some(json!("Review")) },
                )],
            ),
        ] {
            story.fold(&event(vec![change.clone()]), &change, &names);
        }
        let ids = |list: &[Named]| list.iter().map(|named| named.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&story.owners), ["bob", "cy"]);
        assert_eq!(ids(&story.labels), ["l1"]);
        assert_eq!(story.state.as_deref(), Some("Review"));
        assert_eq!(story.updated_by.as_deref(), Some("Ada"));
        let facts = story.context()["facts"].clone();
        assert_eq!(facts[0], json!({"label": "State", "value": "Review"}));
        assert_eq!(facts[1], json!({"label": "Owners", "value": "bob, cy"}));
    }

    #[test]
    fn a_comment_names_a_story_nothing_named_yet_and_a_delete_marks_it() {
        let names = Names::default();
        let mut story = StoryState::default();
        let mut comment = change("create", Vec::new());
        comment.entity_type = "story-comment".into();
        comment.parent = Some(Parent {
            entity_type: "story".into(),
            id: "11".into(),
            name: Some("From the comment".into()),
            url: None,
        });
        story.fold(&event(vec![comment.clone()]), &comment, &names);
        assert_eq!(
            (story.name.as_deref(), story.entity.as_deref()),
            (Some("From the comment"), Some("story"))
        );
        let deleted = change("delete", Vec::new());
        story.fold(&event(vec![deleted.clone()]), &deleted, &names);
        assert!(story.deleted);
        assert_eq!(story.context()["color"], json!(0x95A5A6));
    }

    #[test]
    fn a_state_written_by_an_older_bridge_still_reads() {
        let story: StoryState = serde_json::from_str(r#"{"name": "Old", "unknown": 1}"#).unwrap();
        assert_eq!(story.name.as_deref(), Some("Old"));
    }
}
