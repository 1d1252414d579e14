//! The stories' states that live cards are drawn from, folded as the router
//! routes: each event's changes, in acceptance order, into the state the store
//! kept of each story they are about. Only on bridges with a card channel.

use std::collections::HashMap;

use crate::normalize::Event;
use crate::pipeline::story_key;
use crate::render::StoryState;
use crate::resolve::Names;
use crate::store::{EventSeq, Store, StoreError, StoryRecord};

/// The states of the stories a batch of events is about, as folded so far.
pub struct Stories {
    known: HashMap<String, (EventSeq, StoryState)>,
}

impl Stories {
    /// What the store holds of the stories `events` are about.
    pub async fn load<'e>(
        store: &dyn Store,
        events: impl Iterator<Item = &'e Event>,
    ) -> Result<Stories, StoreError> {
        let mut keys: Vec<String> = events
            .flat_map(|event| event.changes.iter().filter_map(|change| story_key(event, change)))
            .collect();
        keys.sort();
        keys.dedup();
        let mut known = HashMap::with_capacity(keys.len());
        for record in store.stories(keys).await? {
            // A state the bridge cannot read any more starts again from what comes next.
            let state = serde_json::from_str(&record.state).unwrap_or_default();
            known.insert(record.key, (record.seq, state));
        }
        Ok(Stories { known })
    }

    /// Folds `event` (at `seq`) into the stories it is about and returns their
    /// new states. An event the story has seen already (routed again) changes
    /// nothing: a story never moves back.
    pub fn fold(&mut self, seq: EventSeq, event: &Event, names: &Names) -> Vec<StoryRecord> {
        let mut touched: Vec<String> = Vec::new();
        for change in &event.changes {
            let Some(key) = story_key(event, change) else { continue };
            let (folded_through, state) = self.known.entry(key.clone()).or_insert((0, StoryState::default()));
            if *folded_through >= seq && !touched.contains(&key) {
                continue;
            }
            *folded_through = seq;
            state.fold(event, change, names);
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        touched
            .into_iter()
            .map(|key| {
                let (seq, state) = &self.known[&key];
                let state = serde_json::to_string(state).expect("a story state serializes");
                StoryRecord { key, seq: *seq, state }
            })
            .collect()
    }
}
