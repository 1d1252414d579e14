//! Delivery: one worker per channel takes that channel's oldest pending message
//! from the store, sends it within the channel's pace, and records the attempt.
//! A message waiting for its retry holds back the channel's later ones; other
//! channels go on.

mod pace;
mod render;
mod retention;
mod retry;
mod story;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch, Notify};
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

/// The running workers: one per configured channel, plus the pruner, on a
/// thread of their own.
///
/// Delivery is a chain of round trips, one at a time per channel. On the
/// runtime that serves ingest, each hop of that chain waits its turn behind
/// every request in the run queue, so under load a channel fell far behind
/// the events it was given (1.8k of 8k events/s delivered while ingest was
/// busy, 8k/s once it stopped). On their own thread the workers get their
/// share of the CPU from the kernel instead.
pub struct Workers {
    handles: Mutex<HashMap<String, JoinHandle<()>>>,
    stop: watch::Sender<bool>,
    runtime: OnceLock<Handle>,
    /// Keeps the delivery thread's runtime running: it ends when this is taken
    /// (after `stop` has let sends finish) or dropped with the workers.
    keep_running: Mutex<Option<oneshot::Sender<()>>>,
}

/// The pruner's key in `handles`; channel names cannot start with a space.
const PRUNER: &str = " pruner";

impl Default for Workers {
    fn default() -> Self {
        Workers {
            handles: Mutex::new(HashMap::new()),
            stop: watch::channel(false).0,
            runtime: OnceLock::new(),
            keep_running: Mutex::new(None),
        }
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
                let run = worker.run_until_stopped(wake, self.stop.subscribe());
                handles.insert(channel.clone(), self.runtime().spawn(run));
            }
        }
        if !handles.contains_key(PRUNER) {
            let pruner = retention::prune_loop(shared.clone(), self.stop.subscribe());
            handles.insert(PRUNER.to_owned(), self.runtime().spawn(pruner));
        }
    }

    /// The delivery thread's runtime, started with the first worker.
    fn runtime(&self) -> &Handle {
        self.runtime.get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("building the delivery runtime");
            let handle = runtime.handle().clone();
            let (keep_running, stopped) = oneshot::channel::<()>();
            *self.keep_running.lock().expect("workers lock") = Some(keep_running);
            std::thread::Builder::new()
                .name("deliver".into())
                .spawn(move || {
                    // Either outcome (taken or dropped) means the workers are done.
                    let _ = runtime.block_on(stopped);
                })
                .expect("spawning the delivery thread");
            handle
        })
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
        self.abandon();
    }

    /// Ends the delivery thread now, dropping whatever its workers were doing
    /// (what they had not recorded is sent again at the next start). For a
    /// server dropped without `stop`: its workers would otherwise keep it alive.
    pub fn abandon(&self) {
        let _ = self.stop.send(true);
        self.keep_running.lock().expect("workers lock").take();
    }
}
