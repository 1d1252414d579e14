//! `check`'s warning about a name in a rule that nothing has ever carried: a
//! state, label or person a rule waits for that no `names:` / `people:` entry
//! and no stored event knows is most likely misspelt, and a misspelt rule
//! passes every other check and simply never fires.

use std::collections::BTreeMap;

use super::{Matcher, Rule};
use crate::config::Config;
use crate::normalize::{id_text, Delta, Event};
use crate::resolve::{entity_type_of_field, Names};

/// Names and values seen, by kind: an entity type (`workflow-state`, `label`,
/// `member`) or, for a field that holds plain values (Pivotal's
/// `current_state`), the field. Kept lower-cased, as rules compare them.
#[derive(Debug, Default)]
pub struct Seen {
    by_kind: BTreeMap<String, BTreeMap<String, String>>,
    /// By source kind: how many stored events, and the fields they changed.
    events_by_source: BTreeMap<String, usize>,
    fields_by_source: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl Seen {
    /// What the config names: `names:` and `people:` (names, e-mails, ids).
    pub fn from_config(config: &Config) -> Seen {
        let mut seen = Seen::default();
        for (entity_type, ids) in &config.names {
            for (id, name) in ids {
                seen.add(entity_type, id);
                seen.add(entity_type, name);
            }
        }
        for (id, person) in &config.people {
            seen.add("member", id);
            seen.add("member", &person.name);
            if let Some(email) = &person.email {
                seen.add("member", email);
            }
        }
        seen
    }

    /// How many stored events were added.
    pub fn events(&self) -> usize {
        self.events_by_source.values().sum()
    }

    fn add(&mut self, kind: &str, value: &str) {
        self.by_kind.entry(kind.to_owned()).or_default().insert(value.to_lowercase(), value.to_owned());
    }

    /// What a stored event carried: its references' names, the values its
    /// changes moved between, its actor.
    pub fn add_event(&mut self, event: &Event, names: &Names) {
        *self.events_by_source.entry(event.source_kind.to_owned()).or_default() += 1;
        for (entity_type, id, name) in names.entries() {
            self.add(entity_type, id);
            self.add(entity_type, name);
        }
        for change in &event.changes {
            for field in &change.fields {
                self.fields_by_source
                    .entry(event.source_kind.to_owned())
                    .or_default()
                    .insert(field.field.clone());
                let kind = entity_type_of_field(&field.field).unwrap_or_else(|| field.field.clone());
                let values: Vec<&serde_json::Value> = match &field.delta {
                    Delta::Value { old, new } => old.iter().chain(new).collect(),
                    Delta::Set { adds, removes } => adds.iter().chain(removes).collect(),
                };
                for value in values.into_iter().filter_map(id_text) {
                    self.add(&kind, &value);
                }
            }
        }
        for actor in
            [event.actor.id.as_deref(), event.actor.name.as_deref(), names.actor()].into_iter().flatten()
        {
            self.add("member", actor);
        }
    }

    /// Whether `value` is known as any of `kinds`; `None` when nothing at all
    /// is known of them (nothing to judge by).
    fn knows(&self, kinds: &[String], value: &str) -> Option<bool> {
        let known: Vec<&BTreeMap<String, String>> =
            kinds.iter().filter_map(|kind| self.by_kind.get(kind)).collect();
        if known.is_empty() {
            return None;
        }
        Some(known.iter().any(|names| names.contains_key(&value.to_lowercase())))
    }

    /// The known name of `kinds` closest to `value`, if it is close.
    fn nearest(&self, kinds: &[String], value: &str) -> Option<&str> {
        let known = kinds.iter().filter_map(|kind| self.by_kind.get(kind)).flat_map(|names| names.iter());
        closest(value, known.map(|(lower, shown)| (lower.as_str(), shown.as_str())))
    }
}

/// Of `candidates` (lower-cased, shown), the one closest to `value`, if it is
/// within a typo's distance of it: 2 edits, or a quarter of its length.
fn closest<'a>(value: &str, candidates: impl Iterator<Item = (&'a str, &'a str)>) -> Option<&'a str> {
    let wanted = value.to_lowercase();
    let limit = (wanted.chars().count() / 4).max(2);
    candidates
        .map(|(lower, shown)| (distance(&wanted, lower), shown))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, shown)| shown)
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push((previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// A value a rule waits for, where in the rule it is, and the kinds it names.
struct Wanted<'a> {
    key: String,
    value: &'a str,
    kinds: Vec<String>,
}

fn wanted_in<'a>(matcher: &'a Matcher, prefix: &str, out: &mut Vec<Wanted<'a>>) {
    for (side, entries) in [("from", &matcher.from), ("to", &matcher.to)] {
        for entry in entries {
            let kinds: Vec<String> = entry
                .fields
                .iter()
                .map(|field| entity_type_of_field(field).unwrap_or_else(|| field.clone()))
                .collect();
            for value in &entry.wanted {
                let key = format!("{prefix}{side}.{}", entry.named);
                out.push(Wanted { key, value, kinds: kinds.clone() });
            }
        }
    }
    let people = [
        ("actor", &matcher.actor),
        ("ignore_actor", &matcher.ignore_actor),
        ("owner_added", &matcher.owner_added),
    ];
    let labels = [
        ("label.has", &matcher.label_has),
        ("label.added", &matcher.label_added),
        ("label.removed", &matcher.label_removed),
    ];
    for (key, values, kind) in
        people.iter().map(|(k, v)| (k, v, "member")).chain(labels.iter().map(|(k, v)| (k, v, "label")))
    {
        for value in values.iter().flatten() {
            // The tracker's own marks, not names.
            if kind == "member" && ["bot", "integration"].iter().any(|mark| mark.eq_ignore_ascii_case(value))
            {
                continue;
            }
            out.push(Wanted { key: format!("{prefix}{key}"), value, kinds: vec![kind.to_owned()] });
        }
    }
    if let Some(inner) = &matcher.not {
        wanted_in(inner, &format!("{prefix}not."), out);
    }
}

/// `rules[N].when.KEY: "VALUE" …` for every name a rule waits for that is
/// unknown where names of its kind are known. A number is taken for an id.
pub fn unseen_names(rules: &[Rule], seen: &Seen) -> Vec<String> {
    let mut warnings = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let mut wanted = Vec::new();
        wanted_in(&rule.when, "", &mut wanted);
        for Wanted { key, value, kinds } in wanted {
            if value.chars().all(|c| c.is_ascii_digit()) || seen.knows(&kinds, value) != Some(false) {
                continue;
            }
            let kind = match kinds.first().map(String::as_str) {
                Some("member") => "person",
                Some(kind) => kind,
                None => "value",
            };
            let mut warning = format!(
                "rules[{index}].when.{key}: {value:?} is no {kind} that names:, people: or any of the {} stored events has carried",
                seen.events()
            );
            if let Some(near) = seen.nearest(&kinds, value) {
                warning.push_str(&format!(" (did you mean {near:?}?)"));
            }
            warnings.push(warning);
        }
    }
    warnings
}

/// A field a rule names, where in the rule, and the fields that name stands for.
fn fields_in<'a>(matcher: &'a Matcher, prefix: &str, out: &mut Vec<(String, &'a str, Vec<String>)>) {
    for named in &matcher.changed_as_written {
        out.push((format!("{prefix}changed"), named, super::fields_named(named)));
    }
    for (side, entries) in [("from", &matcher.from), ("to", &matcher.to)] {
        for entry in entries {
            out.push((format!("{prefix}{side}.{}", entry.named), &entry.named, entry.fields.clone()));
        }
    }
    if let Some(inner) = &matcher.not {
        fields_in(inner, &format!("{prefix}not."), out);
    }
}

/// `rules[N].when.KEY: …` for a field a rule waits on that no stored event of
/// a source kind the rule can match has ever changed. Kinds with no stored
/// event are not judged (a new bridge warns of nothing).
pub fn unseen_fields(
    rules: &[Rule],
    seen: &Seen,
    sources: &BTreeMap<String, crate::config::SourceConfig>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let kinds: std::collections::BTreeSet<&str> = sources
            .iter()
            .filter(|(name, source)| {
                rule.when.source.as_ref().is_none_or(|wanted| {
                    wanted.iter().any(|want| {
                        want.eq_ignore_ascii_case(name) || want.eq_ignore_ascii_case(source.kind())
                    })
                })
            })
            .map(|(_, source)| source.kind())
            .filter(|kind| seen.events_by_source.get(*kind).is_some_and(|count| *count > 0))
            .collect();
        if kinds.is_empty() {
            continue;
        }
        let known: Vec<&String> =
            kinds.iter().filter_map(|kind| seen.fields_by_source.get(*kind)).flatten().collect();
        let events: usize = kinds.iter().filter_map(|kind| seen.events_by_source.get(*kind)).sum();
        let mut named = Vec::new();
        fields_in(&rule.when, "", &mut named);
        for (key, as_written, fields) in named {
            if fields.iter().any(|field| known.contains(&field)) {
                continue;
            }
            let kinds = kinds.iter().copied().collect::<Vec<_>>().join("/");
            let mut warning =
                format!("rules[{index}].when.{key}: none of the {events} stored {kinds} events has changed {as_written:?}");
            if let Some(near) =
                closest(as_written, known.iter().map(|field| (field.as_str(), field.as_str())))
            {
                warning.push_str(&format!(" (did you mean {near:?}?)"));
            }
            warnings.push(warning);
        }
    }
    warnings
}
