//! Delivery: one worker per channel takes that channel's oldest pending message
//! from the store, sends it within the channel's pace, and records the attempt.
//! A message waiting for its retry holds back the channel's later ones; other
//! channels go on.

mod pace;
mod retention;
mod retry;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::Bridge;

/// Nudges for idle workers: ingest wakes a channel's worker when it queues a
/// message, so delivery does not wait for the next poll.
#[derive(Clone, Default)]
pub struct Wakers {
    by_channel: Arc<HashMap<String, Arc<Notify>>>,
}

impl Wakers {
    pub fn wake(&self, channel: &str) {
        if let Some(notify) = self.by_channel.get(channel) {
            notify.notify_one();
        }
    }
}

/// The running workers, and the means to stop them.
pub struct Dispatcher {
    wakers: Wakers,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Dispatcher {
    pub fn start(store: Arc<dyn Store>, bridge: Arc<Bridge>, client: Client) -> Dispatcher {
        let (stop, stopped) = watch::channel(false);
        let mut by_channel = HashMap::new();
        let mut handles = Vec::new();
        for name in bridge.config.channels.keys() {
            let notify = Arc::new(Notify::new());
            by_channel.insert(name.clone(), notify.clone());
            let worker = worker::Worker::new(store.clone(), bridge.clone(), client.clone(), name.clone());
            handles.push(tokio::spawn(worker.run_until_stopped(notify, stopped.clone())));
        }
        handles.push(tokio::spawn(retention::prune_loop(store, bridge.config.retention.0, stopped)));
        Dispatcher { wakers: Wakers { by_channel: Arc::new(by_channel) }, stop, handles }
    }

    pub fn wakers(&self) -> Wakers {
        self.wakers.clone()
    }

    /// Lets in-flight sends finish (up to `deadline`) and leaves the rest queued
    /// in the store for the next start.
    pub async fn stop(self, deadline: Duration) {
        let _ = self.stop.send(true);
        let all = async {
            for handle in self.handles {
                let _ = handle.await;
            }
        };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!(?deadline, "shutdown: a send was still in flight at the deadline");
        }
    }
}
