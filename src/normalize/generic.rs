//! Any JSON sender that signs its body (GitHub, the Clubmed API, in-house tools).
//! Where each part of a change lives is configurable; unset parts fall back to
//! the spellings most senders use.

use axum::http::HeaderMap;
use serde_json::Value;

use super::{
    event_id, id_text, parse_field_changes, web_url, Actor, Change, Event, NormalizeError, Normalized,
};
use crate::config::{GenericSource, Locator, Pointers};

const ENTITY_TYPE_POINTERS: &[&str] = &["/entity_type", "/type", "/event"];
const ACTION_POINTERS: &[&str] = &["/action"];
const ID_POINTERS: &[&str] = &["/id"];
const NAME_POINTERS: &[&str] = &["/name", "/title"];
const URL_POINTERS: &[&str] = &["/app_url", "/html_url", "/url"];
const ACTOR_POINTERS: &[&str] = &["/actor/name", "/sender/login", "/user/name"];

pub fn normalize(
    source: &str,
    config: &GenericSource,
    headers: &HeaderMap,
    payload: Value,
    body_hash: impl FnOnce() -> String,
) -> Result<Normalized, NormalizeError> {
    let event_type = config.event_type.as_ref().and_then(|locator| locate(locator, headers, &payload));
    if event_type.as_deref() == Some("ping") {
        return Ok(Normalized::Ping);
    }
    let fields = &config.fields;
    let first = |pointer: &str| payload.pointer(pointer).and_then(id_text);
    let pick = |configured: &Option<Pointers>, fallbacks: &[&str]| match configured {
        Some(pointers) => pointers.0.iter().find_map(|pointer| first(pointer)),
        None => fallbacks.iter().find_map(|pointer| first(pointer)),
    };
    let entity_type = match &fields.entity_type {
        Some(_) => pick(&fields.entity_type, &[]),
        None => event_type.clone().or_else(|| pick(&None, ENTITY_TYPE_POINTERS)),
    };
    let change = Change {
        entity_type: entity_type.unwrap_or_else(|| "event".into()),
        action: pick(&fields.action, ACTION_POINTERS).unwrap_or_else(|| "event".into()),
        entity_id: pick(&fields.id, ID_POINTERS),
        name: pick(&fields.name, NAME_POINTERS),
        url: web_url(pick(&fields.url, URL_POINTERS)),
        primary: true,
        parent: None,
        fields: parse_field_changes(payload.get("changes")),
        verb: None,
        attributes: Default::default(),
    };
    let event = Event {
        source: source.to_owned(),
        source_kind: "generic",
        id: event_id(config.event_id.as_ref().and_then(|locator| locate(locator, headers, &payload)))
            .unwrap_or_else(body_hash),
        time: ["/time", "/timestamp", "/created_at", "/changed_at"]
            .iter()
            .find_map(|pointer| payload.pointer(pointer).and_then(Value::as_str).map(str::to_owned)),
        actor: Actor { id: None, name: pick(&fields.actor, ACTOR_POINTERS), kind: None },
        changes: vec![change],
        references: Vec::new(),
        summary: None,
        payload,
    };
    Ok(Normalized::Event(Box::new(event)))
}

fn locate(locator: &Locator, headers: &HeaderMap, payload: &Value) -> Option<String> {
    if let Some(header) = &locator.header {
        return headers.get(header.as_str())?.to_str().ok().map(str::to_owned);
    }
    payload.pointer(locator.pointer.as_deref()?).and_then(id_text)
}
