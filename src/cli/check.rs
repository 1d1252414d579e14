//! `storybridge check`'s warnings that need the store: a name in a rule that
//! no `names:` / `people:` entry and no event stored in the last 30 days has
//! carried. Only a SQLite store that exists is read (none is created); on
//! PostgreSQL names are checked against the config only.

use std::sync::Arc;

use storybridge::resolve::resolve;
use storybridge::route::stored::{read, Reading};
use storybridge::rules::lint::{unseen_fields, unseen_names, Seen};
use storybridge::store::{self, now_millis, EventSelection, Store};
use storybridge::Bridge;

const LOOK_BACK_MS: i64 = 30 * 24 * 3600 * 1000;

pub fn name_warnings(bridge: &Bridge) -> Vec<String> {
    let file = &bridge.origin.name;
    let mut seen = Seen::from_config(&bridge.config);
    let mut warnings = Vec::new();
    match stored_events(bridge) {
        Ok(events) => {
            for stored in events {
                if let Reading::Event(event) = read(bridge, &stored) {
                    seen.add_event(&event, &resolve(&event, &bridge.directory));
                }
            }
        }
        Err(why) => warnings
            .push(format!("{file}: storage: {why}; names in rules are checked against the config only")),
    }
    let unseen = unseen_names(&bridge.rules, &seen).into_iter().chain(unseen_fields(
        &bridge.rules,
        &seen,
        &bridge.config.sources,
    ));
    warnings.extend(unseen.map(|warning| format!("{file}: {warning}")));
    warnings
}

fn stored_events(bridge: &Bridge) -> Result<Vec<store::StoredEvent>, String> {
    let storage = &bridge.config.storage;
    if let Some(path) = storage.strip_prefix("sqlite://") {
        if path.starts_with(':') || !bridge.origin.base_dir.join(path).exists() {
            return Ok(Vec::new());
        }
    } else {
        // Opening a PostgreSQL store migrates its schema, which `check` must
        // not do to a database a bridge serves (or will).
        return Ok(Vec::new());
    }
    let store: Arc<dyn Store> = store::open(storage, &bridge.origin.base_dir)
        .map_err(|error| format!("cannot read stored events ({error})"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime
        .block_on(
            store.stored_events(EventSelection::Since { since: now_millis() - LOOK_BACK_MS, source: None }),
        )
        .map_err(|error| format!("cannot read stored events ({error})"))
}
