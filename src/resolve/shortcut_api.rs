//! Names from the Shortcut REST API (v3), for ids an event's own references do
//! not name: members, workflow and epic states (fetched whole, they are small),
//! labels, epics, projects, iterations, groups, stories (fetched one by one).
//!
//! Every answer is cached for `api_cache_ttl`; one request per key is in flight
//! at a time; after a failure the API is left alone for a while (Shortcut allows
//! 200 requests a minute and may send 429 without saying how long to wait).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{Secret, ShortcutSource};
use crate::normalize::id_text;

/// How long to leave the API alone after it failed.
const COOL_DOWN: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

type Key = (String, String);

pub struct ShortcutApi {
    client: reqwest::Client,
    base: String,
    token: Secret,
    ttl: Duration,
    /// What the config said, to tell whether a reload changed it.
    settings: (String, String, Duration),
    /// Names by (entity type, id); `None` when the API said there is no such thing.
    names: Mutex<HashMap<Key, (Option<String>, Instant)>>,
    /// When each list endpoint was last loaded.
    lists: Mutex<HashMap<&'static str, Instant>>,
    /// One gate per request path: the single flight.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    failed_at: Mutex<Option<Instant>>,
}

/// Where an entity type's name comes from.
enum Endpoint {
    /// A list endpoint that names every entity of the type at once.
    List(&'static str),
    /// `/<path>/{id}`, answering `{"name": …}`.
    One(&'static str),
}

fn endpoint(entity_type: &str) -> Option<Endpoint> {
    Some(match entity_type {
        "member" => Endpoint::List("/members"),
        "workflow-state" => Endpoint::List("/workflows"),
        "epic-state" => Endpoint::List("/epic-workflow"),
        "label" => Endpoint::One("labels"),
        "epic" => Endpoint::One("epics"),
        "project" => Endpoint::One("projects"),
        "iteration" => Endpoint::One("iterations"),
        "group" => Endpoint::One("groups"),
        "story" => Endpoint::One("stories"),
        _ => return None,
    })
}

impl ShortcutApi {
    /// `None` when the source has no `api_token`.
    pub fn for_source(source: &ShortcutSource, client: reqwest::Client) -> Option<ShortcutApi> {
        let token = source.api_token.clone()?;
        let base = source.api_url.trim_end_matches('/').to_owned();
        let fingerprint = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.expose().as_bytes()));
        Some(ShortcutApi {
            client,
            settings: (base.clone(), fingerprint, source.api_cache_ttl.0),
            base,
            token,
            ttl: source.api_cache_ttl.0,
            names: Mutex::default(),
            lists: Mutex::default(),
            gates: Mutex::default(),
            failed_at: Mutex::default(),
        })
    }

    /// Whether `source` describes this same API (so a reload can keep the cache).
    pub fn same_as(&self, source: &ShortcutSource) -> bool {
        ShortcutApi::for_source(source, self.client.clone())
            .is_some_and(|other| other.settings == self.settings)
    }

    /// The names the API gives for `wanted`, fetching what the cache lacks.
    pub async fn names(&self, wanted: Vec<Key>) -> Vec<(Key, String)> {
        let mut found = Vec::new();
        for key in wanted {
            if let Some(name) = self.name(&key).await {
                found.push((key, name));
            }
        }
        found
    }

    async fn name(&self, key: &Key) -> Option<String> {
        if let Some(cached) = self.cached(key) {
            return cached;
        }
        let (path, list) = match endpoint(&key.0)? {
            Endpoint::List(path) => (path.to_owned(), Some(path)),
            Endpoint::One(collection) => (format!("/{collection}/{}", key.1), None),
        };
        let gate = self.gates.lock().expect("gates lock").entry(path.clone()).or_default().clone();
        let _only_one = gate.lock().await;
        // Someone else may have fetched it while we waited at the gate.
        if let Some(cached) = self.cached(key) {
            return cached;
        }
        if let Some(list) = list {
            let loaded_at = self.lists.lock().expect("lists lock").get(list).copied();
            if loaded_at.is_some_and(|at| at.elapsed() < self.ttl) {
                return None; // The list is fresh and does not have it.
            }
        }
        if self.failed_at.lock().expect("lock").is_some_and(|at| at.elapsed() < COOL_DOWN) {
            return None;
        }
        match self.get(&path).await {
            Ok(body) => {
                let now = Instant::now();
                let mut names = self.names.lock().expect("names lock");
                match list {
                    Some(list) => {
                        for (entry_key, name) in list_names(&key.0, &body) {
                            names.insert(entry_key, (Some(name), now));
                        }
                        self.lists.lock().expect("lists lock").insert(list, now);
                    }
                    None => {
                        let name = body.get("name").and_then(Value::as_str).map(str::to_owned);
                        names.insert(key.clone(), (name, now));
                    }
                }
                names.get(key).and_then(|(name, _)| name.clone())
            }
            Err(error) => {
                tracing::warn!(path = %path, %error, "Shortcut API lookup failed; names stay ids for now");
                *self.failed_at.lock().expect("lock") = Some(Instant::now());
                None
            }
        }
    }

    /// `Some(name or None)` when the cache holds a fresh answer for `key`.
    fn cached(&self, key: &Key) -> Option<Option<String>> {
        let names = self.names.lock().expect("names lock");
        let (name, at) = names.get(key)?;
        (at.elapsed() < self.ttl).then(|| name.clone())
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Shortcut-Token", self.token.expose())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|error| error.without_url().to_string())?;
        match response.status().as_u16() {
            200 => response.json().await.map_err(|error| error.without_url().to_string()),
            // A missing entity is an answer: remember there is no name.
            404 => Ok(Value::Null),
            status => Err(format!("HTTP {status}")),
        }
    }
}

/// Every (entity type, id) → name a list endpoint's answer holds.
fn list_names(entity_type: &str, body: &Value) -> Vec<(Key, String)> {
    let entry =
        |id: &Value, name: Option<&str>| Some(((entity_type.to_owned(), id_text(id)?), name?.to_owned()));
    match entity_type {
        "member" => body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|member| entry(member.get("id")?, member.pointer("/profile/name")?.as_str()))
            .collect(),
        "workflow-state" => body
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|workflow| workflow.get("states").and_then(Value::as_array).into_iter().flatten())
            .filter_map(|state| entry(state.get("id")?, state.get("name")?.as_str()))
            .collect(),
        "epic-state" => body
            .get("epic_states")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|state| entry(state.get("id")?, state.get("name")?.as_str()))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn list_answers_name_every_entry() {
        let members = json!([{"id": "u1", "profile": {"name": "Ada"}}, {"id": "u2", "profile": {}}]);
        assert_eq!(list_names("member", &members), [(("member".into(), "u1".into()), "Ada".into())]);
        let workflows =
            json!([{"states": [{"id": 5, "name": "Done"}]}, {"states": [{"id": 6, "name": "Todo"}]}]);
        assert_eq!(list_names("workflow-state", &workflows).len(), 2);
        let epic = json!({"epic_states": [{"id": 7, "name": "in progress"}]});
        assert_eq!(
            list_names("epic-state", &epic),
            [(("epic-state".into(), "7".into()), "in progress".into())]
        );
    }
}
