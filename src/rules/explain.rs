//! Why a rule did not fire, in words an admin can act on: the first matcher
//! of its `when:` that does not hold, what it wanted and what the change had
//! (`to.workflow_state_id: wanted "Ready for Deploy", was "Done"`). Finding
//! the matcher is `Matcher::first_failed`, the same code that routes; only
//! the wording lives here, and it runs only when asked.

use serde_json::Value;

use super::{FieldMatcher, Matcher, Side};
use crate::normalize::{id_text, Change, Delta, Event};
use crate::resolve::Names;

/// A matcher of a `when:` block, named by its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    Source,
    EntityType,
    Action,
    Primary,
    Changed,
    /// The index of the entry in `from:` / `to:`.
    From(usize),
    To(usize),
    Actor,
    IgnoreActor,
    OwnerAdded,
    Label(LabelSide),
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelSide {
    Has,
    Added,
    Removed,
}

/// `"a"`, or `one of "a", "b"`.
fn wanted(values: &[String]) -> String {
    match values {
        [one] => format!("{one:?}"),
        many => format!("one of {}", quoted(many.iter().map(String::as_str))),
    }
}

fn quoted<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values.map(|value| format!("{value:?}")).collect::<Vec<_>>().join(", ")
}

/// A field's value as a message would show it: its resolved name, else its id.
fn shown(names: &Names, field: &str, value: &Value) -> String {
    match names.field_value(field, value) {
        Some(name) => format!("{name:?}"),
        None => match id_text(value) {
            Some(id) => format!("{id:?}"),
            None => value.to_string(),
        },
    }
}

fn shown_all(names: &Names, field: &str, values: &[Value], none: &str) -> String {
    match values {
        [] => none.to_owned(),
        values => values.iter().map(|value| shown(names, field, value)).collect::<Vec<_>>().join(", "),
    }
}

/// What the change changed, for a reason that says it lacks a field.
fn fields_of(change: &Change) -> String {
    match change.fields.as_slice() {
        [] => "it changes no field".to_owned(),
        fields => format!(
            "it changes {}",
            fields.iter().map(|field| field.field.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

impl Matcher {
    /// Why this block does not match `change`, or `None` when it does.
    pub fn explain(&self, event: &Event, change: &Change, names: &Names) -> Option<String> {
        let failed = self.first_failed(event, change, names)?;
        Some(self.reason(failed, event, change, names))
    }

    fn reason(&self, failed: Failed, event: &Event, change: &Change, names: &Names) -> String {
        let list = |values: &Option<Vec<String>>| wanted(values.as_deref().unwrap_or_default());
        let actor = || match (names.actor(), event.actor.id.as_deref()) {
            (Some(name), _) => format!("{name:?}"),
            (None, Some(id)) => format!("{id:?}"),
            (None, None) => "unknown".to_owned(),
        };
        match failed {
            Failed::Source => format!(
                "source: wanted {}, was {:?} (a {} source)",
                list(&self.source),
                event.source,
                event.source_kind
            ),
            Failed::EntityType => {
                format!("entity_type: wanted {}, was {:?}", list(&self.entity_type), change.entity_type)
            }
            Failed::Action => format!("action: wanted {}, was {:?}", list(&self.action), change.action),
            Failed::Primary => match change.primary {
                true => {
                    "primary: wanted a side effect (primary: false), was the event's own change".to_owned()
                }
                false => "primary: wanted the event's own change, was a side effect of it".to_owned(),
            },
            Failed::Changed => format!("changed: wanted {}, but {}", list(&self.changed), fields_of(change)),
            Failed::From(index) => self.field_reason("from", &self.from[index], change, names, Side::Old),
            Failed::To(index) => self.field_reason("to", &self.to[index], change, names, Side::New),
            Failed::Actor => format!("actor: wanted {}, was {}", list(&self.actor), actor()),
            Failed::IgnoreActor => {
                format!("ignore_actor: the actor {} is one of {}", actor(), quoted_list(&self.ignore_actor))
            }
            Failed::OwnerAdded => {
                let added: Vec<Value> = match change.field("owner_ids") {
                    Some(Delta::Set { adds, .. }) => adds.clone(),
                    _ => match change.field("owned_by_id") {
                        Some(Delta::Value { new: Some(owner), .. }) => vec![owner.clone()],
                        _ => Vec::new(),
                    },
                };
                format!(
                    "owner_added: wanted {}, added {}",
                    list(&self.owner_added),
                    shown_all(names, "owner_ids", &added, "no owner")
                )
            }
            Failed::Label(side) => {
                let (key, wanted_labels) = match side {
                    LabelSide::Has => ("label.has", &self.label_has),
                    LabelSide::Added => ("label.added", &self.label_added),
                    LabelSide::Removed => ("label.removed", &self.label_removed),
                };
                let (adds, removes) = match change.field("label_ids") {
                    Some(Delta::Set { adds, removes }) => (adds.as_slice(), removes.as_slice()),
                    _ => (&[][..], &[][..]),
                };
                let had = match side {
                    LabelSide::Removed => {
                        format!("removed {}", shown_all(names, "label_ids", removes, "none"))
                    }
                    LabelSide::Added => format!("added {}", shown_all(names, "label_ids", adds, "none")),
                    LabelSide::Has => {
                        let mut present: Vec<Value> = adds.to_vec();
                        if let Some(Value::Array(labels)) = change.attributes.get("label_ids") {
                            present.extend(labels.iter().cloned());
                        }
                        format!("has {}", shown_all(names, "label_ids", &present, "none"))
                    }
                };
                format!("{key}: wanted {}, {had}", list(wanted_labels))
            }
            Failed::Not => match &self.not {
                Some(_) => "not: the change matches what `not:` excludes".to_owned(),
                None => unreachable!("`not` fails only when set"),
            },
        }
    }

    fn field_reason(
        &self,
        key: &str,
        matcher: &FieldMatcher,
        change: &Change,
        names: &Names,
        side: Side,
    ) -> String {
        let Some((field, delta)) =
            matcher.fields.iter().find_map(|field| change.field(field).map(|delta| (field, delta)))
        else {
            return format!(
                "{key}.{}: wanted {}, but the change does not change it ({})",
                matcher.named,
                wanted(&matcher.wanted),
                fields_of(change)
            );
        };
        let was = match (delta, side) {
            (Delta::Value { new: Some(value), .. }, Side::New)
            | (Delta::Value { old: Some(value), .. }, Side::Old) => {
                format!("was {}", shown(names, field, value))
            }
            (Delta::Value { .. }, Side::New) => "was cleared".to_owned(),
            (Delta::Value { .. }, Side::Old) => "was unset before".to_owned(),
            (Delta::Set { adds, .. }, Side::New) => {
                format!("added {}", shown_all(names, field, adds, "none"))
            }
            (Delta::Set { removes, .. }, Side::Old) => {
                format!("removed {}", shown_all(names, field, removes, "none"))
            }
        };
        format!("{key}.{field}: wanted {}, {was}", wanted(&matcher.wanted))
    }
}

fn quoted_list(values: &Option<Vec<String>>) -> String {
    quoted(values.iter().flatten().map(String::as_str))
}

/// What one rule made of one change, as `preview` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub rule: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Matched,
    /// The first matcher that failed, in words.
    NotMatched(String),
    /// A rule above matched and says `stop: true`.
    NotTried {
        stopped_by: String,
    },
}

/// Every rule's verdict on `change`, in config order: the same decisions as
/// `matching`, each with its reason.
pub fn verdicts(rules: &[super::Rule], event: &Event, change: &Change, names: &Names) -> Vec<Verdict> {
    let mut stopped_by: Option<&str> = None;
    rules
        .iter()
        .map(|rule| {
            let outcome = match stopped_by {
                Some(stopper) => Outcome::NotTried { stopped_by: stopper.to_owned() },
                None => match rule.when.explain(event, change, names) {
                    Some(why) => Outcome::NotMatched(why),
                    None => {
                        if rule.stop {
                            stopped_by = Some(&rule.name);
                        }
                        Outcome::Matched
                    }
                },
            };
            Verdict { rule: rule.name.clone(), outcome }
        })
        .collect()
}

impl Verdict {
    /// Why the rule did not fire; `None` when it did.
    pub fn why(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Matched => None,
            Outcome::NotMatched(why) => Some(why.clone()),
            Outcome::NotTried { stopped_by } => {
                Some(format!("not tried: rule `{stopped_by}` above matched and says stop"))
            }
        }
    }

    /// `{"rule", "matched"}`, with `why` when it did not.
    pub fn to_json(&self) -> Value {
        match self.why() {
            None => serde_json::json!({ "rule": self.rule, "matched": true }),
            Some(why) => serde_json::json!({ "rule": self.rule, "matched": false, "why": why }),
        }
    }
}
