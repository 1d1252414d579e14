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
}

/// A `when:` block: every matcher it sets must hold; an empty one matches all.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    source: Option<Vec<String>>,
    entity_type: Option<Vec<String>>,
    action: Option<Vec<String>>,
    changed: Option<Vec<String>>,
    from: Vec<(String, Vec<String>)>,
    to: Vec<(String, Vec<String>)>,
    primary: Option<bool>,
    not: Option<Box<Matcher>>,
}

impl Rule {
    pub fn compile(config: &RuleConfig) -> Self {
        Rule {
            name: config.name.clone(),
            when: Matcher::compile(&config.when),
            send: config.send.clone(),
            template: config.template.clone(),
            stop: config.stop,
        }
    }
}

impl Matcher {
    fn compile(when: &WhenConfig) -> Self {
        let values = |values: &Option<crate::config::Values>| values.as_ref().map(|v| v.0.clone());
        let pairs = |map: &Option<std::collections::BTreeMap<String, crate::config::Values>>| {
            map.iter().flatten().map(|(field, wanted)| (field.clone(), wanted.0.clone())).collect()
        };
        Matcher {
            source: values(&when.source),
            entity_type: values(&when.entity_type),
            action: values(&when.action),
            changed: values(&when.changed),
            from: pairs(&when.from),
            to: pairs(&when.to),
            primary: when.primary,
            not: when.not.as_deref().map(|inner| Box::new(Matcher::compile(inner))),
        }
    }

    pub fn matches(&self, event: &Event, change: &Change, names: &Names) -> bool {
        let one_of = |wanted: &Option<Vec<String>>, actual: &[&str]| match wanted {
            None => true,
            Some(wanted) => {
                wanted.iter().any(|want| actual.iter().any(|have| want.eq_ignore_ascii_case(have)))
            }
        };
        one_of(&self.source, &[&event.source, event.source_kind])
            && one_of(&self.entity_type, &[&change.entity_type])
            && one_of(&self.action, &[&change.action])
            && self.primary.is_none_or(|primary| primary == change.primary)
            && self.changed.as_ref().is_none_or(|fields| fields.iter().any(|f| change.field(f).is_some()))
            && self.from.iter().all(|(field, wanted)| field_matches(change, names, field, wanted, Side::Old))
            && self.to.iter().all(|(field, wanted)| field_matches(change, names, field, wanted, Side::New))
            && self.not.as_ref().is_none_or(|inner| !inner.matches(event, change, names))
    }
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

#[cfg(test)]
mod tests;
