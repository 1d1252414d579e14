//! Delivery: one worker per channel takes that channel's oldest pending message
//! from the store, sends it within the channel's pace, and records the attempt.
//! A message waiting for its retry holds back the channel's later ones; other
//! channels go on.

mod pace;
mod retention;
mod retry;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::Shared;

/// Nudges for idle workers: ingest wakes a channel's worker when it queues a
/// message, so delivery does not wait for the next poll.
#[derive(Default)]
pub struct Wakers {
    by_channel: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakers {
    pub fn wake(&self, channel: &str) {
        self.for_channel(channel).notify_one();
    }

    fn for_channel(&self, channel: &str) -> Arc<Notify> {
        let mut by_channel = self.by_channel.lock().expect("wakers lock");
        by_channel.entry(channel.to_owned()).or_default().clone()
    }
}

/// The running workers: one per configured channel, plus the pruner.
pub struct Workers {
    handles: Mutex<HashMap<String, JoinHandle<()>>>,
    stop: watch::Sender<bool>,
}

/// The pruner's key in `handles`; channel names cannot start with a space.
const PRUNER: &str = " pruner";

impl Default for Workers {
    fn default() -> Self {
        Workers { handles: Mutex::new(HashMap::new()), stop: watch::channel(false).0 }
    }
}

impl Workers {
    /// Starts a worker for every configured channel that has none running:
    /// at start, and after a reload adds channels. A worker whose channel left
    /// the config ends by itself.
    pub fn ensure(&self, shared: &Arc<Shared>) {
        if *self.stop.borrow() {
            return;
        }
        let bridge = shared.bridge();
        let mut handles = self.handles.lock().expect("workers lock");
        handles.retain(|_, handle| !handle.is_finished());
        for channel in bridge.config.channels.keys() {
            if !handles.contains_key(channel) {
                let worker = worker::Worker::new(shared.clone(), channel.clone());
                let wake = shared.wakers.for_channel(channel);
                handles.insert(
                    channel.clone(),
                    tokio::spawn(worker.run_until_stopped(wake, self.stop.subscribe())),
                );
            }
        }
        if !handles.contains_key(PRUNER) {
            let pruner = retention::prune_loop(shared.clone(), self.stop.subscribe());
            handles.insert(PRUNER.to_owned(), tokio::spawn(pruner));
        }
    }

    /// Channels whose worker has stopped although the channel is configured: a
    /// worker only stops by itself when its channel leaves the config, so this
    /// means it failed.
    pub fn stopped(&self, shared: &Shared) -> Vec<String> {
        let bridge = shared.bridge();
        let handles = self.handles.lock().expect("workers lock");
        bridge
            .config
            .channels
            .keys()
            .filter(|channel| handles.get(*channel).is_none_or(JoinHandle::is_finished))
            .cloned()
            .collect()
    }

    /// Lets in-flight sends finish (up to `deadline`) and leaves the rest queued
    /// in the store for the next start.
    pub async fn stop(&self, deadline: Duration) {
        let _ = self.stop.send(true);
        let handles: Vec<JoinHandle<()>> =
            self.handles.lock().expect("workers lock").drain().map(|(_, h)| h).collect();
        let all = async {
            for handle in handles {
                let _ = handle.await;
            }
        };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!(?deadline, "shutdown: a send was still in flight at the deadline");
        }
    }
}
