//! The data a template sees. Documented field by field in the README
//! ("Template context"); what is computed here is what every template would
//! otherwise compute for itself: display names, past-tense verbs, the list of
//! changes worth showing.

use serde_json::{json, Map, Value};

use crate::config::ChannelKind;
use crate::normalize::{id_text, Change, Delta, Event, FieldChange};
use crate::resolve::Names;

/// Fields that change as a side effect of others and would only clutter a message.
const QUIET_FIELDS: &[&str] = &[
    "position",
    "updated_at",
    "started",
    "started_at",
    "completed",
    "completed_at",
    "accepted_at",
    "moved_at",
    "created_at",
    "before_id",
    "after_id",
    "counts",
    // Jira's board order ("Ranked higher"), moved by every drag.
    "rank",
    // GitLab's bookkeeping beside every edit.
    "updated_by_id",
    "last_edited_at",
    "last_edited_by_id",
    "closed_at",
    "time_change",
    "total_time_spent",
    "human_time_change",
    "human_total_time_spent",
    "human_time_estimate",
];

/// Fields whose values are prose: a message says they changed rather than quoting both.
const PROSE_FIELDS: &[&str] = &["description", "text"];

/// Fields a create repeats from the headline (name, type) or that mean nothing to a reader.
const HEADLINE_FIELDS: &[&str] = &["id", "kind", "name", "story_type", "project_version"];

/// Attributes a Shortcut create sends outside `changes` that are worth listing:
/// those that name something (as `resolve` looks them up), and two plain ones.
fn create_details() -> impl Iterator<Item = &'static str> {
    crate::resolve::NAMED_ATTRIBUTES
        .iter()
        .copied()
        .filter(|key| *key != "requested_by_id")
        .chain(["estimate", "deadline"])
}

/// What every context of one event shares, worked out once per event: for
/// each of its messages, an event of thousands of changes would otherwise be
/// searched whole (a 2,000-change batch took 4 s to route).
pub struct EventFacts {
    /// The integration an event without a member came from.
    integration: Option<&'static str>,
    /// The text of a comment created by the same event.
    comment: Option<String>,
}

impl EventFacts {
    pub fn of(event: &Event) -> Self {
        EventFacts { integration: integration(event), comment: comment_in(event) }
    }
}

/// One message's worth of input: a change, the rule that fired and its channel.
pub struct Subject<'a> {
    pub event: &'a Event,
    pub event_facts: &'a EventFacts,
    pub change: &'a Change,
    pub names: &'a Names,
    pub rule: &'a str,
    pub channel: &'a str,
    /// The channel lets messages mention people (`mentions: true`).
    pub mentions: bool,
    pub platform: crate::config::ChannelKind,
    /// The costly fields to build (`Templates::wanted`).
    pub wanted: Wanted,
}

/// Context fields that cost the most to build and that the default templates do
/// not read: the raw payload (a copy of the whole event), the entity's
/// attributes and the changes by field. A context carries each only when some
/// template's text mentions its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub payload: bool,
    pub attributes: bool,
    pub changes: bool,
}

impl Wanted {
    pub fn by<'a>(templates: impl Iterator<Item = &'a str> + Clone) -> Wanted {
        let mentioned = |name: &str| templates.clone().any(|text| text.contains(name));
        Wanted {
            payload: mentioned("payload"),
            attributes: mentioned("attributes"),
            changes: mentioned("changes"),
        }
    }
}

pub fn context(subject: &Subject) -> Value {
    let Subject { event, event_facts, change, names, rule, channel, mentions, platform, wanted } = subject;
    let person = |id: &str| person(names, id, *platform, *mentions);
    let people = |ids: &[String]| Value::Array(ids.iter().map(|id| person(id)).collect());
    let kind = kind(event, change);
    let text = attribute_text(change, "text").or_else(|| attribute_text(change, "description"));
    let author = ids_in(change, "author_id", true)
        .into_iter()
        .next()
        .or_else(|| ids_in(change, "person_id", true).into_iter().next());
    object([
        ("source", event.source.as_str().into()),
        ("source_kind", event.source_kind.into()),
        ("event_id", event.id.as_str().into()),
        ("time", event.time.as_deref().into()),
        // Only a time Discord will take as an embed timestamp.
        ("timestamp", event.time.as_deref().filter(|t| crate::normalize::parse_rfc3339(t).is_some()).into()),
        ("summary", event.summary.as_deref().into()),
        ("kind", kind.into()),
        ("entity_type", change.entity_type.as_str().into()),
        ("entity", entity_label(change).into()),
        ("action", change.action.as_str().into()),
        ("action_text", action_text(kind, change).into()),
        ("id", change.entity_id.as_deref().into()),
        ("name", change.name.as_deref().into()),
        ("url", change.url.as_deref().into()),
        ("primary", change.primary.into()),
        ("actor", actor(event, event_facts, names, *platform, *mentions)),
        ("owners", people(&ids_in(change, "owner_ids", true))),
        ("owners_added", people(&ids_in(change, "owner_ids", false))),
        ("requester", ids_in(change, "requested_by_id", true).first().map(|id| person(id)).into()),
        ("author", author.map(|id| person(&id)).into()),
        ("mentions", (*mentions).into()),
        ("parent", change.parent.as_ref().map(parent).into()),
        ("text", text.into()),
        ("story_type", change.attributes.get("story_type").cloned().into()),
        (
            "attributes",
            if wanted.attributes { Value::Object(change.attributes.clone()) } else { Value::Null },
        ),
        ("comment_text", comment_alongside(event_facts, change).into()),
        (
            "changes",
            if wanted.changes { Value::Object(changes_by_field(change, names)) } else { Value::Null },
        ),
        ("change_list", Value::Array(change_list(change, kind, names, *platform, *mentions))),
        ("subject", card_subject(change)),
        ("facts", Value::Array(facts(event, change, names))),
        ("color", color(kind, change, names).into()),
        ("rule", (*rule).into()),
        ("channel", (*channel).into()),
        ("payload", if wanted.payload { event.payload.clone() } else { Value::Null }),
    ])
}

/// A JSON object from owned values. `json!` would serialize every value again,
/// nested arrays and objects included: a deep copy of each.
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (key, value) in entries {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

fn parent(parent: &crate::normalize::Parent) -> Value {
    object([
        ("entity_type", parent.entity_type.as_str().into()),
        // As a reader says it: `pull request`, `merge request`.
        ("entity", parent.entity_type.replace(['-', '_'], " ").into()),
        ("id", parent.id.as_str().into()),
        ("name", parent.name.as_deref().into()),
        ("url", parent.url.as_deref().into()),
    ])
}

/// VCS events carry no member: name the integration by a link's host, from any
/// change of the event (a story moved by a branch is the branch's doing).
fn integration(event: &Event) -> Option<&'static str> {
    event.changes.iter().find_map(|change| {
        let host = url::Url::parse(change.url.as_deref()?).ok()?.host_str()?.to_owned();
        [("github.com", "GitHub"), ("gitlab.com", "GitLab"), ("bitbucket.org", "Bitbucket")]
            .into_iter()
            .find(|(domain, _)| host == *domain || host.ends_with(&format!(".{domain}")))
            .map(|(_, name)| name)
    })
}

/// One context for a burst of changes to one entity (`coalesce`): the latest
/// change's, with every part's change list merged in order. A field that
/// changed several times reads as a chain: `Started → Review → Done`.
pub fn merge_burst(parts: &[Value]) -> Value {
    let mut merged = parts.last().cloned().unwrap_or(Value::Null);
    let mut list: Vec<Value> = Vec::new();
    for entry in parts.iter().flat_map(|part| part["change_list"].as_array().cloned().unwrap_or_default()) {
        let same =
            list.iter_mut().find(|seen| seen["field"] == entry["field"] && seen["kind"] == entry["kind"]);
        match (same, entry["kind"].as_str()) {
            (Some(seen), Some("value")) => {
                let chained = format!(
                    "{} → {}",
                    seen["new"].as_str().unwrap_or(""),
                    entry["new"].as_str().unwrap_or("")
                );
                seen["new"] = Value::String(chained);
            }
            (Some(seen), Some("set")) => {
                for key in ["adds", "removes"] {
                    let joined: Vec<&str> = [seen[key].as_str(), entry[key].as_str()]
                        .into_iter()
                        .flatten()
                        .filter(|s| !s.is_empty())
                        .collect();
                    seen[key] = Value::String(joined.join(", "));
                }
                for key in ["people_added", "people_removed"] {
                    if let (Some(seen_people), Some(more)) =
                        (seen[key].as_array().cloned(), entry[key].as_array())
                    {
                        seen[key] =
                            Value::Array(seen_people.into_iter().chain(more.iter().cloned()).collect());
                    }
                }
            }
            (Some(_), _) => {}
            (None, _) => list.push(entry),
        }
    }
    if parts.first().is_some_and(|first| first["kind"] == "create") {
        merged["kind"] = json!("create");
        merged["action_text"] = parts[0]["action_text"].clone();
    }
    merged["change_list"] = Value::Array(list);
    merged["burst"] = json!(parts.len());
    merged
}

/// A tracker member as templates see them: `name`, the chat ids the `mention`
/// helper needs, and `mention` itself, ready for `{{{…}}}` in a text template
/// (escaped for the platform unless it is a real mention).
fn person(names: &Names, id: &str, platform: ChannelKind, mentions: bool) -> Value {
    let configured = names.person(id);
    let name = names.entity("member", id).unwrap_or(id);
    let chat_id = configured.and_then(|p| match platform {
        ChannelKind::Slack => p.slack.clone(),
        ChannelKind::Discord => p.discord.clone(),
        ChannelKind::Console => None,
    });
    let mention = match chat_id {
        Some(chat_id) if mentions && chat_id.chars().all(|c| c.is_ascii_alphanumeric()) => {
            format!("<@{chat_id}>")
        }
        _ => crate::render::escape::for_platform(platform, name),
    };
    object([
        ("id", id.into()),
        ("name", name.into()),
        ("mention", mention.into()),
        ("email", configured.and_then(|p| p.email.as_deref()).into()),
        ("slack", configured.and_then(|p| p.slack.as_deref()).into()),
        ("discord", configured.and_then(|p| p.discord.as_deref()).into()),
    ])
}

fn actor(event: &Event, facts: &EventFacts, names: &Names, platform: ChannelKind, mentions: bool) -> Value {
    let mut actor = match &event.actor.id {
        Some(id) => person(names, id, platform, mentions),
        None => json!({ "id": null }),
    };
    let name = names.actor().or(facts.integration).unwrap_or("Someone");
    if actor["mention"].as_str().is_none_or(|mention| !mention.starts_with("<@")) {
        actor["mention"] = json!(crate::render::escape::for_platform(platform, name));
    }
    actor["name"] = json!(name);
    actor
}

/// The member ids a field holds after the change (`present`: also what a created
/// entity starts with) or, for id lists, those the change added.
pub(super) fn ids_in(change: &Change, field: &str, present: bool) -> Vec<String> {
    let from_change: Vec<String> = match change.field(field) {
        Some(Delta::Set { adds, .. }) => adds.iter().filter_map(id_text).collect(),
        Some(Delta::Value { new: Some(value), .. }) => match value {
            Value::Array(items) => items.iter().filter_map(id_text).collect(),
            single => id_text(single).into_iter().collect(),
        },
        _ => Vec::new(),
    };
    if !from_change.is_empty() || !present {
        return from_change;
    }
    match change.attributes.get(field) {
        Some(Value::Array(items)) => items.iter().filter_map(id_text).collect(),
        Some(single) => id_text(single).into_iter().collect(),
        None => Vec::new(),
    }
}

/// What a card is about: a comment's or task's story, else the entity itself.
fn card_subject(change: &Change) -> Value {
    match &change.parent {
        Some(parent)
            if matches!(
                change.entity_type.as_str(),
                "story-comment" | "epic-comment" | "comment" | "story-task" | "task"
            ) =>
        {
            json!({ "name": parent.name, "url": parent.url })
        }
        _ => json!({ "name": change.name, "url": change.url }),
    }
}

/// What a change says of its entity's type, state, project and epic, by name.
#[derive(Debug, Default)]
pub(super) struct FactValues {
    pub story_type: Option<String>,
    pub state: Option<String>,
    pub project: Option<String>,
    pub epic: Option<String>,
}

pub(super) fn fact_values(event: &Event, change: &Change, names: &Names) -> FactValues {
    let named = |field: &str| -> Option<String> {
        let value = match change.field(field) {
            Some(Delta::Value { new: Some(value), .. }) => value.clone(),
            _ => change.attributes.get(field)?.clone(),
        };
        names.field_value(field, &value).map(str::to_owned).or_else(|| id_text(&value))
    };
    let project = named("project_id").or_else(|| {
        let reference = event.references.iter().find(|r| r.entity_type == "project")?;
        Some(reference.name.clone())
    });
    let non_empty = |value: Option<String>| value.filter(|v| !v.is_empty());
    FactValues {
        story_type: non_empty(change.attributes.get("story_type").and_then(Value::as_str).map(str::to_owned)),
        state: non_empty(
            named("workflow_state_id").or_else(|| named("current_state")).or_else(|| named("epic_state_id")),
        ),
        project: non_empty(project),
        epic: non_empty(named("epic_id")),
    }
}

/// Short facts for a context line or embed fields: type, state, project, epic.
fn facts(event: &Event, change: &Change, names: &Names) -> Vec<Value> {
    let values = fact_values(event, change, names);
    [("Type", values.story_type), ("State", values.state), ("Project", values.project), ("Epic", values.epic)]
        .into_iter()
        .filter_map(|(label, value)| Some(json!({ "label": label, "value": value? })))
        .collect()
}

/// Whether the change moves its entity to a done state (Pivotal: accepted);
/// `None` when it moves no state.
pub(super) fn done(change: &Change, names: &Names) -> Option<bool> {
    if let Some(Delta::Value { new: Some(state), .. }) = change.field("workflow_state_id") {
        return Some(names.state_kind(state).is_some_and(|kind| kind == "done"));
    }
    match change.field("current_state") {
        Some(Delta::Value { new: Some(Value::String(state)), .. }) => Some(state == "accepted"),
        _ => None,
    }
}

/// A Discord embed colour: done states green, deletions grey, else by story type.
fn color(kind: &str, change: &Change, names: &Names) -> u32 {
    let story_type = change.attributes.get("story_type").and_then(Value::as_str);
    color_of(kind, story_type, done(change, names) == Some(true))
}

pub(super) fn color_of(kind: &str, story_type: Option<&str>, done: bool) -> u32 {
    match (kind, story_type) {
        _ if done => 0x2ECC71,
        ("delete", _) => 0x95A5A6,
        ("comment", _) => 0x9B59B6,
        ("vcs", _) => 0x1ABC9C,
        (_, Some("bug")) => 0xE74C3C,
        (_, Some("feature")) => 0xF1C40F,
        (_, Some("chore")) => 0x3498DB,
        _ => 0x5865F2,
    }
}

/// Which default layout fits: comment, task, vcs, create, delete, update or event.
fn kind(event: &Event, change: &Change) -> &'static str {
    match change.entity_type.as_str() {
        "story-comment" | "epic-comment" | "comment" => "comment",
        "story-task" | "task" => "task",
        "branch" | "pull-request" | "commit" => "vcs",
        _ if event.source_kind == "generic" => "event",
        _ => match change.action.as_str() {
            "create" => "create",
            "delete" => "delete",
            _ => "update",
        },
    }
}

pub(super) fn entity_label(change: &Change) -> String {
    match change.entity_type.as_str() {
        "story" => change.attributes.get("story_type").and_then(Value::as_str).unwrap_or("story").to_owned(),
        "story-comment" | "epic-comment" => "comment".into(),
        "story-task" => "task".into(),
        other => other.replace(['-', '_'], " "),
    }
}

fn action_text(kind: &str, change: &Change) -> String {
    if let Some(verb) = &change.verb {
        return verb.clone();
    }
    let completed = match change.field("complete") {
        Some(Delta::Value { new: Some(Value::Bool(done)), .. }) => Some(*done),
        _ => None,
    };
    let phrase = match (kind, change.action.as_str()) {
        ("comment", "create") => "commented on",
        ("comment", "update") => "edited a comment on",
        ("comment", "delete") => "deleted a comment on",
        ("task", "create") => "added a task to",
        ("task", "delete") => "deleted a task from",
        ("task", "update") => match completed {
            Some(true) => "completed a task on",
            Some(false) => "reopened a task on",
            None => "updated a task on",
        },
        (_, "create") => "created",
        (_, "update") => "updated",
        (_, "delete") => "deleted",
        (_, "comment") => "commented on",
        (_, other) => return other.replace(['-', '_'], " "),
    };
    phrase.to_owned()
}

fn attribute_text(change: &Change, key: &str) -> Option<String> {
    change.attributes.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Pivotal sends a rejection's comment as a separate change of the same activity.
fn comment_alongside(facts: &EventFacts, change: &Change) -> Option<String> {
    if matches!(change.entity_type.as_str(), "comment" | "story-comment") {
        return None;
    }
    facts.comment.clone()
}

fn comment_in(event: &Event) -> Option<String> {
    event
        .changes
        .iter()
        .filter(|other| other.entity_type == "comment" && other.action == "create")
        .find_map(|comment| attribute_text(comment, "text"))
}

fn changes_by_field(change: &Change, names: &Names) -> Map<String, Value> {
    change
        .fields
        .iter()
        .map(|field_change| {
            let field = field_change.field.as_str();
            let named = |value: &Value| match names.field_value(field, value) {
                Some(name) => Value::String(name.to_owned()),
                None => value.clone(),
            };
            let entry = match &field_change.delta {
                Delta::Value { old, new } => object([
                    ("old", old.as_ref().map(named).into()),
                    ("new", new.as_ref().map(named).into()),
                    ("old_id", old.clone().into()),
                    ("new_id", new.clone().into()),
                ]),
                Delta::Set { adds, removes } => object([
                    ("adds", adds.iter().map(named).collect()),
                    ("removes", removes.iter().map(named).collect()),
                    ("adds_ids", Value::Array(adds.clone())),
                    ("removes_ids", Value::Array(removes.clone())),
                ]),
            };
            (field.to_owned(), entry)
        })
        .collect()
}

/// The changes a reader cares about, each with a label and display text. A
/// create lists what the new entity starts with: its fields (Pivotal) or the
/// attributes that name something (Shortcut).
fn change_list(
    change: &Change,
    kind: &str,
    names: &Names,
    platform: ChannelKind,
    mentions: bool,
) -> Vec<Value> {
    let creating = kind == "create";
    let mut fields = change.fields.clone();
    if creating {
        fields.extend(create_details().filter_map(|key| {
            let value = change.attributes.get(key)?;
            let delta = match value {
                Value::Array(items) => Delta::Set { adds: items.clone(), removes: Vec::new() },
                other => Delta::Value { old: None, new: Some(other.clone()) },
            };
            Some(FieldChange { field: key.to_owned(), delta })
        }));
    }
    let has_owner_ids = fields.iter().any(|f| f.field == "owner_ids");
    // Shortcut sends an epic's state twice: as `state` and as `epic_state_id`.
    let has_epic_state = fields.iter().any(|f| f.field == "epic_state_id");
    fields
        .iter()
        .filter(|f| !QUIET_FIELDS.contains(&f.field.as_str()))
        .filter(|f| !(creating && HEADLINE_FIELDS.contains(&f.field.as_str())))
        // Pivotal still sends its single-owner field beside the list.
        .filter(|f| !(has_owner_ids && f.field == "owned_by_id"))
        .filter(|f| !(has_epic_state && f.field == "state"))
        .filter_map(|f| {
            let mut entry = list_entry(&f.field, &f.delta, names)?;
            // Member lists also as people, so a layout can mention them.
            if let (Some("member"), Delta::Set { adds, removes }) =
                (crate::resolve::entity_type_of_field(&f.field).as_deref(), &f.delta)
            {
                let ids = |values: &[Value]| values.iter().filter_map(id_text).collect::<Vec<_>>();
                let people = |ids: Vec<String>| -> Vec<Value> {
                    ids.iter().map(|id| person(names, id, platform, mentions)).collect()
                };
                entry["people_added"] = Value::Array(people(ids(adds)));
                entry["people_removed"] = Value::Array(people(ids(removes)));
            }
            Some(entry)
        })
        .collect()
}

fn present(value: &Option<Value>) -> Option<&Value> {
    value.as_ref().filter(|v| !v.is_null())
}

fn list_entry(field: &str, delta: &Delta, names: &Names) -> Option<Value> {
    let show = |value: &Value| display(field, value, names);
    let label = field_label(field);
    match delta {
        Delta::Set { adds, removes } if adds.is_empty() && removes.is_empty() => None,
        Delta::Set { adds, removes } => Some(json!({
            "field": field,
            "label": label,
            "kind": "set",
            "adds": adds.iter().map(show).collect::<Vec<_>>().join(", "),
            "removes": removes.iter().map(show).collect::<Vec<_>>().join(", "),
        })),
        Delta::Value { old, new } if old == new || (present(old).is_none() && present(new).is_none()) => None,
        // Whole objects and lists (Pivotal's `labels`) do not read as a value.
        Delta::Value { old, new }
            if [old, new].iter().any(|v| matches!(v, Some(Value::Array(_) | Value::Object(_)))) =>
        {
            None
        }
        Delta::Value { .. } if PROSE_FIELDS.contains(&field) => {
            Some(json!({ "field": field, "label": label, "kind": "text" }))
        }
        Delta::Value { old, new } => Some(json!({
            "field": field,
            "label": label,
            "kind": "value",
            // Absent when there was none before, or when all that is known of
            // it is an opaque id (Linear's old state): a message then shows
            // just the new value.
            "old": present(old).filter(|old| !opaque_id(field, old, names)).map(show),
            "new": present(new).map_or_else(|| "none".to_owned(), show),
        })),
    }
}

/// A UUID that nothing named: it would mean nothing to a reader.
fn opaque_id(field: &str, value: &Value, names: &Names) -> bool {
    let Value::String(text) = value else { return false };
    names.field_value(field, value).is_none()
        && text.len() == 36
        && text.bytes().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

fn display(field: &str, value: &Value, names: &Names) -> String {
    if let Some(name) = names.field_value(field, value) {
        return name.to_owned();
    }
    if is_date_field(field) {
        if let Some(date) = date_text(value) {
            return date;
        }
    }
    match value {
        Value::Null => "none".into(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
        other => id_text(other).unwrap_or_default(),
    }
}

/// Deadlines, due dates and `*_at` times: trackers send them as epoch
/// milliseconds (Pivotal), RFC 3339 or their own formats.
fn is_date_field(field: &str) -> bool {
    matches!(field, "deadline" | "duedate")
        || field.ends_with("_at")
        || field.ends_with("_date")
        || field.ends_with("_on")
}

/// `2026-03-14` for a midnight (how a due date is set), else
/// `2026-03-14 09:30 UTC`. Numbers below 10^11 are seconds, above milliseconds.
fn date_text(value: &Value) -> Option<String> {
    let millis = match value {
        Value::Number(number) => {
            let number = number.as_f64()?;
            if !number.is_finite() || number.abs() > 1e15 {
                return None;
            }
            (if number.abs() < 1e11 { number * 1000.0 } else { number }) as i64
        }
        Value::String(text) => crate::normalize::parse_timestamp(text)?,
        _ => return None,
    };
    let text = crate::normalize::rfc3339_from_millis(millis);
    let (date, time) = text.split_once('T')?;
    Some(match time.trim_end_matches('Z') {
        "00:00:00" => date.to_owned(),
        time => format!("{date} {} UTC", &time[..5]),
    })
}

fn field_label(field: &str) -> String {
    let known = match field {
        "workflow_state_id" | "current_state" => "state",
        "epic_state_id" => "state",
        "reviewer_ids" => "reviewers",
        "name" => "title",
        "owner_ids" => "owners",
        "owned_by_id" => "owner",
        "follower_ids" => "followers",
        "requested_by_id" => "requester",
        "label_ids" => "labels",
        "group_id" => "team",
        "story_type" => "type",
        "deadline" => "due date",
        "pull_request_ids" => "pull requests",
        "branch_ids" => "branches",
        "file_ids" => "files",
        "comment_ids" => "comments",
        "task_ids" => "tasks",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let stem = field.strip_suffix("_ids").or_else(|| field.strip_suffix("_id")).unwrap_or(field);
    stem.replace('_', " ")
}
