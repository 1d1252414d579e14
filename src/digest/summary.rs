//! What a digest says: the message contexts of a period's changes, one item
//! per story with its net movement (Started → Review → Done is one item, moved
//! to Done from Started), grouped by where things moved, then by epic or
//! project, with counts. Pure: the worker hands it the stored contexts.

use serde_json::{json, Value};

use super::Schedule;
use crate::store::Millis;

/// The fields a state lives in, across trackers (as `rules` names them).
const STATE_FIELDS: &[&str] = &["workflow_state_id", "current_state", "epic_state_id", "state"];

/// One story's changes in the period.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    key: String,
    name: Option<String>,
    url: Option<String>,
    entity: Option<String>,
    /// The state it was in before its first move, and after its last.
    from: Option<String>,
    to: Option<String>,
    people: Vec<String>,
    epic: Option<String>,
    project: Option<String>,
    changes: usize,
    comments: usize,
    /// What else changed, by label (`estimate`, `labels`).
    fields: Vec<String>,
}

impl Item {
    fn moved(&self) -> bool {
        self.to.is_some() && self.to != self.from
    }

    fn section(&self) -> Option<&str> {
        self.epic.as_deref().or(self.project.as_deref())
    }

    fn context(&self) -> Value {
        json!({
            "name": self.name,
            "url": self.url,
            "entity": self.entity,
            "from": self.from,
            "to": self.to,
            "moved": self.moved(),
            "by": self.people.join(", "),
            "epic": self.epic,
            "project": self.project,
            "change_count": self.changes,
            "comments": self.comments,
            "fields": self.fields.join(", "),
        })
    }
}

/// The period a digest covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The previous due time (none in the week before: the period is open-ended).
    pub start: Option<Millis>,
    pub end: Millis,
    /// Sent well after it was due: the bridge was down when it was.
    pub late: bool,
}

/// A period's changes, summarized.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Items in the order they are shown: groups in the order they first
    /// moved, sections likewise, the unsectioned and the unmoved last.
    items: Vec<Item>,
    changes: usize,
}

pub fn summarize(parts: &[Value]) -> Summary {
    let mut items: Vec<Item> = Vec::new();
    for part in parts {
        let key = story_key(part);
        let position = match items.iter().position(|item| item.key == key) {
            Some(position) => position,
            None => {
                items.push(Item { key, ..Item::empty() });
                items.len() - 1
            }
        };
        items[position].add(part);
    }
    let changes = parts.len();
    // Stable sorts: within a key, first appearance wins.
    let groups: Vec<Option<String>> = dedup(items.iter().map(group_of));
    let sections: Vec<Option<String>> = dedup(items.iter().map(|item| item.section().map(str::to_owned)));
    let rank = |list: &[Option<String>], value: &Option<String>| {
        let index = list.iter().position(|candidate| candidate == value).unwrap_or(0);
        // Nothing (no group, no section) goes last.
        if value.is_none() {
            usize::MAX
        } else {
            index
        }
    };
    items.sort_by_key(|item| {
        (rank(&groups, &group_of(item)), rank(&sections, &item.section().map(str::to_owned)))
    });
    Summary { items, changes }
}

impl Summary {
    pub fn stories(&self) -> usize {
        self.items.len()
    }

    /// The template context with the first `shown` items (`more` counts the rest).
    /// The template context with `shown` stories in all, shared out among
    /// the groups in turn (so every group shows some before any shows many);
    /// each group and the whole count what they leave out (`more`).
    pub fn context(&self, shown: usize, channel: &str, schedule: &Schedule, period: Period) -> Value {
        let mut keys: Vec<Option<String>> = Vec::new();
        let mut members: Vec<Vec<&Item>> = Vec::new();
        for item in &self.items {
            let group = group_of(item);
            match keys.iter().position(|key| *key == group) {
                Some(index) => members[index].push(item),
                None => {
                    keys.push(group);
                    members.push(vec![item]);
                }
            }
        }
        let mut quota = vec![0; members.len()];
        let mut left = shown.min(self.items.len());
        while left > 0 {
            for (index, group) in members.iter().enumerate() {
                if left > 0 && quota[index] < group.len() {
                    quota[index] += 1;
                    left -= 1;
                }
            }
        }
        let groups: Vec<Value> = keys
            .iter()
            .zip(&members)
            .zip(&quota)
            .map(|((key, items), quota)| {
                let mut sections: Vec<Value> = Vec::new();
                for item in &items[..*quota] {
                    let section = item.section();
                    if sections.last().is_none_or(|last| last["name"] != json!(section)) {
                        sections.push(json!({ "name": section, "items": [] }));
                    }
                    let listed =
                        sections.last_mut().expect("pushed")["items"].as_array_mut().expect("an array");
                    listed.push(item.context());
                }
                json!({
                    "name": key, "moved": key.is_some(), "count": items.len(),
                    "more": items.len() - quota, "sections": sections
                })
            })
            .collect();
        let time = crate::normalize::rfc3339_from_millis;
        json!({
            "channel": channel,
            "late": period.late,
            "empty": self.items.is_empty(),
            "period": {
                "start": period.start.map(time),
                "end": time(period.end),
                "start_local": period.start.map(|start| schedule.local_text(start)),
                "end_local": schedule.local_text(period.end),
                "day": schedule.local_day(period.end),
                "timezone": schedule.timezone_name,
            },
            "stories": self.items.len(),
            "moved": self.items.iter().filter(|item| item.moved()).count(),
            "change_count": self.changes,
            "groups": groups,
            "more": self.items.len().saturating_sub(shown),
        })
    }
}

impl Item {
    fn empty() -> Item {
        Item {
            key: String::new(),
            name: None,
            url: None,
            entity: None,
            from: None,
            to: None,
            people: Vec::new(),
            epic: None,
            project: None,
            changes: 0,
            comments: 0,
            fields: Vec::new(),
        }
    }

    /// Folds one message's context in.
    fn add(&mut self, part: &Value) {
        let text = |value: &Value| value.as_str().filter(|text| !text.is_empty()).map(str::to_owned);
        self.name = text(&part["subject"]["name"]).or(self.name.take());
        self.url = text(&part["subject"]["url"]).or(self.url.take());
        let child = part["kind"] == "comment" || part["kind"] == "task";
        let entity = if child { &part["parent"]["entity"] } else { &part["entity"] };
        self.entity = text(entity).or(self.entity.take());
        if let Some(person) = text(&part["actor"]["name"]) {
            if !self.people.contains(&person) {
                self.people.push(person);
            }
        }
        for fact in part["facts"].as_array().into_iter().flatten() {
            match fact["label"].as_str() {
                Some("Epic") => self.epic = text(&fact["value"]).or(self.epic.take()),
                Some("Project") => self.project = text(&fact["value"]).or(self.project.take()),
                _ => {}
            }
        }
        self.changes += 1;
        if part["kind"] == "comment" {
            self.comments += 1;
        }
        for entry in part["change_list"].as_array().into_iter().flatten() {
            let field = entry["field"].as_str().unwrap_or("");
            if STATE_FIELDS.contains(&field) && entry["kind"] == "value" {
                if self.to.is_none() {
                    self.from = text(&entry["old"]);
                }
                self.to = text(&entry["new"]);
            } else if let Some(label) = text(&entry["label"]) {
                if !self.fields.contains(&label) {
                    self.fields.push(label);
                }
            }
        }
    }
}

/// Where an item is grouped: the state it moved to, or nowhere (it changed
/// but did not move, or moved back where it was).
fn group_of(item: &Item) -> Option<String> {
    item.moved().then(|| item.to.clone()).flatten()
}

/// The story a message is about: a comment's or task's, else its entity.
fn story_key(part: &Value) -> String {
    let source = part["source"].as_str().unwrap_or("");
    let id = |value: &Value| match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    match part.get("parent").filter(|parent| parent.is_object()) {
        Some(parent) => format!("{source}:{}:{}", id(&parent["entity_type"]), id(&parent["id"])),
        None => format!("{source}:{}:{}", id(&part["entity_type"]), id(&part["id"])),
    }
}

fn dedup<T: PartialEq>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message context as the router keeps it, cut to what a digest reads.
    fn part(story: u32, state: Option<(&str, &str)>, by: &str, epic: Option<&str>) -> Value {
        let change_list = match state {
            Some((old, new)) => {
                json!([{"field": "workflow_state_id", "label": "state", "kind": "value", "old": old, "new": new}])
            }
            None => json!([{"field": "estimate", "label": "estimate", "kind": "value", "new": "3"}]),
        };
        let facts = match epic {
            Some(epic) => json!([{"label": "Epic", "value": epic}]),
            None => json!([]),
        };
        json!({
            "source": "shortcut", "entity_type": "story", "id": story, "kind": "update", "entity": "feature",
            "subject": {"name": format!("Story {story}"), "url": format!("https://example.com/story/{story}")},
            "actor": {"name": by}, "change_list": change_list, "facts": facts
        })
    }

    fn schedule() -> Schedule {
        Schedule::from_config(&serde_yaml::from_str("{ at: \"09:30\", timezone: Europe/Berlin }").unwrap())
            .unwrap()
    }

    const PERIOD: Period = Period { start: Some(1_795_600_000_000), end: 1_795_686_400_000, late: false };

    #[test]
    fn a_story_s_moves_collapse_to_its_net_movement_grouped_where_it_ended() {
        let parts = [
            part(1, Some(("Started", "Review")), "Ada", Some("Billing")),
            part(2, Some(("Todo", "Started")), "Bob", None),
            part(1, Some(("Review", "Done")), "Bob", Some("Billing")),
            part(3, None, "Ada", None),
            part(4, Some(("Todo", "Done")), "Cy", Some("Search")),
            part(5, Some(("Done", "Review")), "Ada", None),
            part(5, Some(("Review", "Done")), "Ada", None),
        ];
        let context = summarize(&parts).context(100, "standup", &schedule(), PERIOD);
        assert_eq!(
            (context["stories"].clone(), context["moved"].clone(), context["change_count"].clone()),
            (json!(5), json!(3), json!(7))
        );
        let groups: Vec<(Value, Value)> = context["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["name"].clone(), g["count"].clone()))
            .collect();
        assert_eq!(
            groups,
            [(json!("Done"), json!(2)), (json!("Started"), json!(1)), (json!(null), json!(2))]
        );
        let done = &context["groups"][0]["sections"];
        assert_eq!(done[0]["name"], "Billing");
        assert_eq!(done[0]["items"][0]["name"], "Story 1");
        assert_eq!(
            (done[0]["items"][0]["from"].clone(), done[0]["items"][0]["to"].clone()),
            (json!("Started"), json!("Done"))
        );
        assert_eq!(done[0]["items"][0]["by"], "Ada, Bob");
        assert_eq!(done[1]["name"], "Search");
        // Story 5 moved and came back: it changed, but did not move.
        let other = &context["groups"][2]["sections"][0]["items"];
        assert_eq!(
            other.as_array().unwrap().iter().map(|i| i["name"].clone()).collect::<Vec<_>>(),
            [json!("Story 3"), json!("Story 5")]
        );
        assert_eq!(other[0]["fields"], "estimate");
        assert_eq!(context["period"]["end_local"], "2026-11-26 10:46 CET", "09:46 UTC in Berlin");
    }

    #[test]
    fn a_period_cut_short_counts_what_it_left_out_but_keeps_every_group_s_count() {
        let parts: Vec<Value> = (0..10).map(|n| part(n, Some(("Todo", "Done")), "Ada", None)).collect();
        let context = summarize(&parts).context(3, "standup", &schedule(), PERIOD);
        assert_eq!(context["more"], 7);
        assert_eq!(context["groups"][0]["count"], 10);
        assert_eq!(context["groups"][0]["sections"][0]["items"].as_array().unwrap().len(), 3);
        let empty = summarize(&[]).context(100, "standup", &schedule(), PERIOD);
        assert_eq!((empty["empty"].clone(), empty["groups"].clone()), (json!(true), json!([])));
    }

    #[test]
    fn a_comment_counts_toward_its_story() {
        let mut comment = json!({
            "source": "shortcut", "entity_type": "story-comment", "id": 12, "kind": "comment",
            "parent": {"entity_type": "story", "id": "1", "entity": "story"},
            "subject": {"name": "Story 1", "url": "https://example.com/story/1"}, "actor": {"name": "Bob"}
        });
        let parts = [part(1, Some(("Todo", "Done")), "Ada", None), comment.take()];
        let context = summarize(&parts).context(100, "standup", &schedule(), PERIOD);
        assert_eq!(context["stories"], 1, "{context}");
        let item = &context["groups"][0]["sections"][0]["items"][0];
        assert_eq!(
            (item["comments"].clone(), item["change_count"].clone(), item["by"].clone()),
            (json!(1), json!(2), json!("Ada, Bob"))
        );
    }
}
