//! One event model for every tracker. A verified body becomes an [`Event`]: who
//! did it, when, and a list of [`Change`]s, each naming an entity, an action and
//! the fields that moved.
//!
//! Normalizing never rejects what it does not know: unknown entity types, actions
//! and fields are carried through for rules and templates to use.

mod decode;
mod generic;
mod github;
mod gitlab;
mod jira;
mod linear;
mod pivotal;
mod shortcut;
mod time;

use serde::Serialize;
use serde_json::{Map, Value};

pub use decode::{decode, BodyFormat, DecodeError};
pub use time::{parse_rfc3339, parse_timestamp, rfc3339_from_millis};

use crate::config::SourceConfig;
use crate::verify::Verified;

/// A tracker event in the bridge's own terms.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// The source's name in `bridge.yaml` (its URL is `/hooks/<source>`).
    pub source: String,
    pub source_kind: &'static str,
    /// The sender's id for this event, used to recognise repeats.
    pub id: String,
    /// When it happened, RFC 3339 UTC, if the payload says.
    pub time: Option<String>,
    pub actor: Actor,
    pub changes: Vec<Change>,
    /// Names the payload carries for ids (workflow states, labels, projects…).
    pub references: Vec<Reference>,
    /// The tracker's own one-line description, where it sends one (Pivotal).
    pub summary: Option<String>,
    pub payload: Value,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Actor {
    pub id: Option<String>,
    pub name: Option<String>,
    /// Not a person, by the tracker's own mark: `ignore_actor: [bot]` or
    /// `[integration]` mutes automation without naming every bot.
    pub kind: Option<ActorKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A bot account: GitHub `sender.type: Bot`, a Linear or Jira app user.
    Bot,
    /// A tracker's integration acting on nobody's behalf: Shortcut's VCS
    /// events, Pivotal's and Linear's integrations.
    Integration,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Bot => "bot",
            ActorKind::Integration => "integration",
        }
    }
}

/// One entity that changed: a story updated, a comment created, a branch pushed.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub entity_type: String,
    /// `create`, `update`, `delete`, or whatever else the tracker says (`comment`).
    pub action: String,
    pub entity_id: Option<String>,
    pub name: Option<String>,
    pub url: Option<String>,
    /// Whether the event is about this change. Side effects (a story's
    /// `comment_ids` growing when a comment is added) are not primary.
    pub primary: bool,
    /// The story a comment, task, branch or pull request belongs to.
    pub parent: Option<Parent>,
    /// Field changes, in the order the payload lists them.
    pub fields: Vec<FieldChange>,
    /// The tracker's own word for what happened, where "updated" would say
    /// less: `closed`, `merged`, `reopened`, Pivotal's `accepted`.
    pub verb: Option<String>,
    /// The entity's other attributes as sent (`text`, `story_type`, `complete`…).
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parent {
    pub entity_type: String,
    pub id: String,
    pub name: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub delta: Delta,
}

/// How a field changed. Shortcut sends `{old,new}`, `{new}` or `{old}` alone for
/// scalars, `{adds,removes}` for id lists; a missing side reads as null.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Delta {
    Value { old: Option<Value>, new: Option<Value> },
    Set { adds: Vec<Value>, removes: Vec<Value> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    pub entity_type: String,
    pub id: String,
    pub name: String,
    pub url: Option<String>,
    /// A reference's own kind, e.g. a workflow state's `started`.
    pub kind: Option<String>,
}

/// What a verified request turned out to be.
#[derive(Debug, Clone)]
pub enum Normalized {
    Event(Box<Event>),
    /// A sender checking the hook works (GitHub's `ping`): acknowledged, not routed.
    Ping,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("the body must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("`{field}` must be {expected}")]
    WrongType { field: &'static str, expected: &'static str },
    #[error("missing `{0}`")]
    Missing(&'static str),
}

/// Why a body verified before could not be read again.
#[derive(Debug, thiserror::Error)]
pub enum RereadError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Normalize(#[from] NormalizeError),
}

/// A body this bridge verified when it arrived (a stored event), or the
/// admin's own (a preview, a sample), normalized again with the headers it
/// came with: its format is what its `Content-Type` says (JSON when unread).
pub fn renormalize(
    source_name: &str,
    source: &SourceConfig,
    headers: &axum::http::HeaderMap,
    body: bytes::Bytes,
) -> Result<Normalized, RereadError> {
    let content_type = headers.get("content-type").and_then(|value| value.to_str().ok());
    let format = BodyFormat::of(content_type).unwrap_or(BodyFormat::Json);
    let verified = Verified::local_file(body);
    let payload = decode(&verified, format)?;
    Ok(normalize(source_name, source, headers, &verified, payload)?)
}

/// Turns a decoded, verified payload into an [`Event`].
pub fn normalize(
    source_name: &str,
    source: &SourceConfig,
    headers: &axum::http::HeaderMap,
    verified: &Verified,
    payload: Value,
) -> Result<Normalized, NormalizeError> {
    if !payload.is_object() {
        return Err(NormalizeError::NotAnObject(json_kind(&payload)));
    }
    let body_hash = || hex::encode(<sha2::Sha256 as sha2::Digest>::digest(verified.body()));
    let event = match source {
        SourceConfig::Shortcut(_) => shortcut::normalize(source_name, payload, body_hash)?,
        SourceConfig::Pivotal(_) => pivotal::normalize(source_name, payload, body_hash)?,
        SourceConfig::Github(_) => return github::normalize(source_name, headers, payload, body_hash),
        SourceConfig::Gitlab(_) => gitlab::normalize(source_name, headers, payload, body_hash)?,
        SourceConfig::Linear(_) => linear::normalize(source_name, headers, payload, body_hash)?,
        SourceConfig::Jira(_) => jira::normalize(source_name, headers, payload, body_hash)?,
        SourceConfig::Generic(config) => {
            return generic::normalize(source_name, config, headers, payload, body_hash)
        }
    };
    Ok(Normalized::Event(Box::new(event)))
}

impl Change {
    pub fn field(&self, name: &str) -> Option<&Delta> {
        self.fields.iter().find(|change| change.field == name).map(|change| &change.delta)
    }
}

/// Ids arrive as numbers or strings (Shortcut sends both); compare them as text.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A sender's event id, if it sent one: an empty or blank id is no id (taken
/// as one, it would make every later event of that sender a "duplicate").
fn event_id(sent: Option<String>) -> Option<String> {
    let sent = sent?;
    let trimmed = sent.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A link a payload gives, if it is one a chat platform will take: absolute
/// http(s) with a host. `javascript:…`, `ftp://…` or a relative path would
/// make Discord refuse the whole message (400) and is no link to click in
/// Slack either; the entity's name then shows as plain text.
fn web_url(text: Option<String>) -> Option<String> {
    let text = text?;
    let parsed = url::Url::parse(text.trim()).ok()?;
    (matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some_and(|host| !host.is_empty()))
        .then(|| text.trim().to_owned())
}

fn string_at(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// What a missing object reads as: borrowed from the payload, never copied.
static NULL: Value = Value::Null;

/// The object under `key`, or null: the normalizers read into it by pointer.
fn part<'a>(payload: &'a Value, key: &str) -> &'a Value {
    payload.get(key).unwrap_or(&NULL)
}

/// The string a tracker names its event by (`object_kind`, `type`,
/// `webhookEvent`): without it the body is no event of that tracker.
fn required_str<'a>(payload: &'a Value, field: &'static str) -> Result<&'a str, NormalizeError> {
    match payload.get(field) {
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(NormalizeError::WrongType { field, expected: "a string" }),
        None => Err(NormalizeError::Missing(field)),
    }
}

/// The ids of `list`'s entries (by `id_pointer`), each named (by
/// `name_pointer`, else by its id) as an entity of `entity_type`.
fn named_ids(
    list: Option<&Value>,
    id_pointer: &str,
    name_pointer: &str,
    entity_type: &str,
    references: &mut Vec<Reference>,
) -> Vec<Value> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| named_id(entry, id_pointer, name_pointer, entity_type, references))
        .collect()
}

/// `entry`'s id (by `id_pointer`), named (by `name_pointer`, else by its id)
/// as an entity of `entity_type`.
fn named_id(
    entry: &Value,
    id_pointer: &str,
    name_pointer: &str,
    entity_type: &str,
    references: &mut Vec<Reference>,
) -> Option<Value> {
    let id = entry.pointer(id_pointer)?;
    let id_text = id_text(id)?;
    let name = text(entry, name_pointer).unwrap_or_else(|| id_text.clone());
    references.push(reference(entity_type, id_text, name, None));
    Some(id.clone())
}

/// The text at a JSON pointer, if it is a string (not blank).
fn text(value: &Value, pointer: &str) -> Option<String> {
    value.pointer(pointer).and_then(Value::as_str).filter(|text| !text.trim().is_empty()).map(str::to_owned)
}

/// The first header of `names` the request carried, as text.
fn header(headers: &axum::http::HeaderMap, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| headers.get(*name)?.to_str().ok().map(str::to_owned))
}

/// `KEY title`, the way trackers with keys (`#12`, `ENG-7`, `PROJ-3`) are spoken of.
fn keyed(key: Option<String>, title: Option<String>) -> Option<String> {
    match (key, title) {
        (Some(key), Some(title)) => Some(format!("{key} {title}")),
        (key, title) => title.or(key),
    }
}

fn reference(
    entity_type: &str,
    id: impl Into<String>,
    name: impl Into<String>,
    kind: Option<&str>,
) -> Reference {
    Reference {
        entity_type: entity_type.into(),
        id: id.into(),
        name: name.into(),
        url: None,
        kind: kind.map(str::to_owned),
    }
}

fn value_change(field: &str, old: Option<Value>, new: Option<Value>) -> FieldChange {
    FieldChange { field: field.into(), delta: Delta::Value { old, new } }
}

fn set_change(field: &str, adds: Vec<Value>, removes: Vec<Value>) -> FieldChange {
    FieldChange { field: field.into(), delta: Delta::Set { adds, removes } }
}

/// Items in `new` and not in `old`, and the reverse, each in its list's order.
/// By their JSON text in sets: comparing every pair of two 40,000-id lists
/// took 6 s.
fn list_delta(old: &[Value], new: &[Value]) -> Delta {
    use std::collections::HashSet;
    let texts = |items: &[Value]| items.iter().map(Value::to_string).collect::<HashSet<_>>();
    let (old_texts, new_texts) = (texts(old), texts(new));
    let missing = |items: &[Value], others: &HashSet<String>| {
        items.iter().filter(|item| !others.contains(&item.to_string())).cloned().collect()
    };
    Delta::Set { adds: missing(new, &old_texts), removes: missing(old, &new_texts) }
}

/// `someField` → `some_field`: the bridge's field names are snake case, so one
/// rule reads the same whatever tracker sent the change.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == ' ' || c == '-' {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

/// A state that means the work is over, for the `done` colour and facts.
const DONE: Option<&str> = Some("done");

/// Reads a Shortcut-style `changes` object: `{field: {old,new} | {adds,removes}}`.
fn parse_field_changes(changes: Option<&Value>) -> Vec<FieldChange> {
    let Some(Value::Object(changes)) = changes else {
        return Vec::new();
    };
    changes
        .iter()
        .map(|(field, delta)| FieldChange { field: field.clone(), delta: parse_delta(delta) })
        .collect()
}

fn parse_delta(delta: &Value) -> Delta {
    let Value::Object(parts) = delta else {
        // Not the documented shape; keep what was sent as the new value.
        return Delta::Value { old: None, new: Some(delta.clone()) };
    };
    if parts.contains_key("adds") || parts.contains_key("removes") {
        let list = |key: &str| match parts.get(key) {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![other.clone()],
        };
        Delta::Set { adds: list("adds"), removes: list("removes") }
    } else {
        Delta::Value { old: parts.get("old").cloned(), new: parts.get("new").cloned() }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tracker_tests;

#[cfg(test)]
mod url_tests {
    use super::web_url;

    #[test]
    fn only_absolute_web_links_are_links() {
        for kept in ["https://app.shortcut.com/acme/story/1", "http://tracker.local:8080/s/2"] {
            assert_eq!(web_url(Some(kept.into())).as_deref(), Some(kept));
        }
        for refused in [
            "javascript:alert(1)",
            "ftp://files.example/x",
            "/story/1",
            "story/1",
            "https://",
            "data:text/html,x",
            "",
        ] {
            assert_eq!(web_url(Some(refused.into())), None, "{refused}");
        }
    }
}
