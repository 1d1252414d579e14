//! A stored event back into the event model: its body normalized again, with
//! the headers and content type it arrived with. It was verified and
//! normalized once already, before it was accepted.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::normalize::{renormalize, Event, Normalized};
use crate::store::StoredEvent;
use crate::Bridge;

/// What a stored event is under the current config.
pub enum Reading {
    Event(Box<Event>),
    /// Nothing to route: a ping, or its source left the config.
    Nothing(String),
    /// It no longer normalizes (its source's settings changed since).
    Invalid(String),
}

pub fn read(bridge: &Bridge, stored: &StoredEvent) -> Reading {
    let Some(source) = bridge.config.sources.get(&stored.source) else {
        return Reading::Nothing(format!("source `{}` is no longer configured", stored.source));
    };
    // The kept headers hold the content type it was accepted with.
    let headers = headers_from_json(&stored.headers);
    match renormalize(&stored.source, source, &headers, stored.body.clone().into()) {
        Ok(Normalized::Event(event)) => Reading::Event(event),
        Ok(Normalized::Ping) => Reading::Nothing("a ping".into()),
        Err(failure) => Reading::Invalid(failure.to_string()),
    }
}

/// The headers kept with a stored event (a JSON object of strings).
pub fn headers_from_json(text: &str) -> HeaderMap {
    serde_json::from_str::<Map<String, Value>>(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| Some((name.parse().ok()?, value.as_str()?.parse().ok()?)))
        .collect()
}
