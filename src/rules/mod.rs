//! Routing: which rules fire for a change. Rules are compiled from the config
//! once; matching is pure and sees the names `resolve` found.

use serde_json::Value;

use crate::config::{RuleConfig, WhenConfig};
use crate::normalize::{id_text, Change, Delta, Event};
use crate::resolve::Names;

/// A rule from `bridge.yaml`, ready to match.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub when: Matcher,
    /// Channel names, checked at load to exist and to be listed once each.
    pub send: Vec<String>,
    pub template: Option<String>,
    pub stop: bool,
    pub coalesce: Option<std::time::Duration>,
}

/// A `when:` block: every matcher it sets must hold; an empty one matches all.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    source: Option<Vec<String>>,
    entity_type: Option<Vec<String>>,
    action: Option<Vec<String>>,
    changed: Option<Vec<String>>,
    /// `changed:` as the rule writes it (`state`), for `check`'s warnings.
    changed_as_written: Vec<String>,
    /// Each entry holds for any of its fields (`state` is Shortcut's
    /// `workflow_state_id` and Pivotal's `current_state`).
    from: Vec<FieldMatcher>,
    to: Vec<FieldMatcher>,
    primary: Option<bool>,
    actor: Option<Vec<String>>,
    owner_added: Option<Vec<String>>,
    label_has: Option<Vec<String>>,
    label_added: Option<Vec<String>>,
    label_removed: Option<Vec<String>>,
    ignore_actor: Option<Vec<String>>,
    not: Option<Box<Matcher>>,
}

/// One entry of `from:` or `to:`: the field as the rule names it, the fields
/// that name stands for, the values wanted.
#[derive(Debug, Clone)]
struct FieldMatcher {
    named: String,
    fields: Vec<String>,
    wanted: Vec<String>,
}

impl Rule {
    pub fn compile(config: &RuleConfig) -> Self {
        Rule {
            name: config.name.clone(),
            when: Matcher::compile(&config.when),
            send: config.send.clone(),
            template: config.template.clone(),
            stop: config.stop,
            coalesce: config.coalesce.map(|window| window.0),
        }
    }
}

impl Matcher {
    fn compile(when: &WhenConfig) -> Self {
        let values = |values: &Option<crate::config::Values>| values.as_ref().map(|v| v.0.clone());
        let pairs = |map: &Option<std::collections::BTreeMap<String, crate::config::Values>>| {
            map.iter()
                .flatten()
                .map(|(field, wanted)| FieldMatcher {
                    named: field.clone(),
                    fields: fields_named(field),
                    wanted: wanted.0.clone(),
                })
                .collect()
        };
        let changed =
            when.changed.as_ref().map(|fields| fields.0.iter().flat_map(|f| fields_named(f)).collect());
        Matcher {
            source: values(&when.source),
            entity_type: values(&when.entity_type),
            action: values(&when.action),
            changed,
            changed_as_written: when.changed.as_ref().map(|fields| fields.0.clone()).unwrap_or_default(),
            from: pairs(&when.from),
            to: pairs(&when.to),
            primary: when.primary,
            actor: values(&when.actor),
            owner_added: values(&when.owner_added),
            label_has: when.label.as_ref().and_then(|label| values(&label.has)),
            label_added: when.label.as_ref().and_then(|label| values(&label.added)),
            label_removed: when.label.as_ref().and_then(|label| values(&label.removed)),
            ignore_actor: values(&when.ignore_actor),
            not: when.not.as_deref().map(|inner| Box::new(Matcher::compile(inner))),
        }
    }

    pub fn matches(&self, event: &Event, change: &Change, names: &Names) -> bool {
        self.first_failed(event, change, names).is_none()
    }

    /// The first of this block's matchers that does not hold for `change`, in
    /// the order they are tried (none: the block matches). `explain` words it.
    pub fn first_failed(&self, event: &Event, change: &Change, names: &Names) -> Option<Failed> {
        let one_of = |wanted: &Option<Vec<String>>, actual: &[&str]| match wanted {
            None => true,
            Some(wanted) => {
                wanted.iter().any(|want| actual.iter().any(|have| want.eq_ignore_ascii_case(have)))
            }
        };
        // Each set matcher that does not hold, in the order routing tries them.
        let fails = |wanted: &Option<Vec<String>>, holds: &dyn Fn(&[String]) -> bool| {
            wanted.as_deref().is_some_and(|wanted| !holds(wanted))
        };
        let field = |matchers: &[FieldMatcher], side: Side| {
            matchers.iter().position(|matcher| {
                !matcher.fields.iter().any(|field| field_matches(change, names, field, &matcher.wanted, side))
            })
        };
        if !one_of(&self.source, &[&event.source, event.source_kind]) {
            return Some(Failed::Source);
        }
        if !one_of(&self.entity_type, &[&change.entity_type]) {
            return Some(Failed::EntityType);
        }
        if !one_of(&self.action, &[&change.action]) {
            return Some(Failed::Action);
        }
        if self.primary.is_some_and(|primary| primary != change.primary) {
            return Some(Failed::Primary);
        }
        if fails(&self.changed, &|fields| fields.iter().any(|f| change.field(f).is_some())) {
            return Some(Failed::Changed);
        }
        if let Some(index) = field(&self.from, Side::Old) {
            return Some(Failed::From(index));
        }
        if let Some(index) = field(&self.to, Side::New) {
            return Some(Failed::To(index));
        }
        if fails(&self.actor, &|wanted| is_actor(event, names, wanted)) {
            return Some(Failed::Actor);
        }
        if fails(&self.ignore_actor, &|ignored| !is_actor(event, names, ignored)) {
            return Some(Failed::IgnoreActor);
        }
        if fails(&self.owner_added, &|wanted| owner_added(change, names, wanted)) {
            return Some(Failed::OwnerAdded);
        }
        if fails(&self.label_added, &|wanted| labels(change, names, Side::New, false, wanted)) {
            return Some(Failed::Label(LabelSide::Added));
        }
        if fails(&self.label_removed, &|wanted| labels(change, names, Side::Old, false, wanted)) {
            return Some(Failed::Label(LabelSide::Removed));
        }
        if fails(&self.label_has, &|wanted| labels(change, names, Side::New, true, wanted)) {
            return Some(Failed::Label(LabelSide::Has));
        }
        if self.not.as_ref().is_some_and(|inner| inner.matches(event, change, names)) {
            return Some(Failed::Not);
        }
        None
    }
}

/// The event's actor is one of `wanted` (id, name, e-mail; or the actor's name
/// as the payload gave it; or `bot` / `integration`, by the tracker's mark).
fn is_actor(event: &Event, names: &Names, wanted: &[String]) -> bool {
    wanted.iter().any(|want| {
        event.actor.id.as_deref().is_some_and(|id| names.is_person(id, want))
            || names.actor().is_some_and(|name| name.eq_ignore_ascii_case(want))
            || event.actor.kind.is_some_and(|kind| kind.as_str().eq_ignore_ascii_case(want))
    })
}

/// The fields a name in `changed:`, `from:` or `to:` stands for: the bridge's
/// own (`workflow_state_id`), or the word a message shows (`state`, `labels`,
/// `owners`), which covers every tracker's spelling of it.
pub fn fields_named(name: &str) -> Vec<String> {
    let fields: &[&str] = match name.to_ascii_lowercase().as_str() {
        "state" | "status" => &["workflow_state_id", "current_state", "epic_state_id", "state", "status"],
        "labels" | "label" => &["label_ids"],
        "owners" | "owner" | "assignees" | "assignee" => &["owner_ids", "owned_by_id"],
        "reviewers" | "reviewer" => &["reviewer_ids"],
        "title" => &["name"],
        _ => return vec![name.to_owned()],
    };
    fields.iter().map(|field| (*field).to_owned()).collect()
}

fn owner_added(change: &Change, names: &Names, wanted: &[String]) -> bool {
    let added: Vec<String> = match change.field("owner_ids") {
        Some(Delta::Set { adds, .. }) => adds.iter().filter_map(id_text).collect(),
        _ => match change.field("owned_by_id") {
            Some(Delta::Value { new: Some(owner), .. }) => id_text(owner).into_iter().collect(),
            _ => Vec::new(),
        },
    };
    added.iter().any(|id| wanted.iter().any(|want| names.is_person(id, want)))
}

/// Labels added (`New`) or removed (`Old`) by the change; with `or_present`,
/// also the labels a created entity starts with.
fn labels(change: &Change, names: &Names, side: Side, or_present: bool, wanted: &[String]) -> bool {
    let mut ids: Vec<&Value> = match (change.field("label_ids"), side) {
        (Some(Delta::Set { adds, .. }), Side::New) => adds.iter().collect(),
        (Some(Delta::Set { removes, .. }), Side::Old) => removes.iter().collect(),
        _ => Vec::new(),
    };
    if or_present {
        if let Some(Value::Array(present)) = change.attributes.get("label_ids") {
            ids.extend(present);
        }
    }
    ids.iter().any(|id| {
        wanted.iter().any(|want| {
            id_text(id).is_some_and(|text| &text == want)
                || names.field_value("label_ids", id).is_some_and(|name| name.eq_ignore_ascii_case(want))
        })
    })
}

#[derive(Clone, Copy)]
enum Side {
    Old,
    New,
}

/// `to:` matches a scalar's new value or any id added to a list; `from:` the old
/// value or any id removed. A value matches by raw id or by resolved name.
fn field_matches(change: &Change, names: &Names, field: &str, wanted: &[String], side: Side) -> bool {
    let value_matches = |value: &Value| {
        wanted.iter().any(|want| {
            id_text(value).is_some_and(|id| &id == want)
                || names.field_value(field, value).is_some_and(|name| name.eq_ignore_ascii_case(want))
        })
    };
    match (change.field(field), side) {
        (Some(Delta::Value { new: Some(value), .. }), Side::New)
        | (Some(Delta::Value { old: Some(value), .. }), Side::Old) => value_matches(value),
        (Some(Delta::Set { adds, .. }), Side::New) => adds.iter().any(value_matches),
        (Some(Delta::Set { removes, .. }), Side::Old) => removes.iter().any(value_matches),
        _ => false,
    }
}

/// The rules that fire for `change`, in config order, up to and including the
/// first that says `stop: true`.
pub fn matching<'a>(rules: &'a [Rule], event: &Event, change: &Change, names: &Names) -> Vec<&'a Rule> {
    let mut fired = Vec::new();
    for rule in rules {
        if rule.when.matches(event, change, names) {
            fired.push(rule);
            if rule.stop {
                break;
            }
        }
    }
    fired
}

mod explain;
pub mod lint;
pub use explain::{verdicts, Failed, LabelSide, Outcome, Verdict};

#[cfg(test)]
mod tests;
