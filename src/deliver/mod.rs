//! Delivery: one worker per channel sends that channel's messages in the order
//! they were queued, waiting out rate limits and retrying transient failures.
//!
//! The queue is in memory for now; the durable outbox (issue #4) replaces
//! [`Outbox`] behind the same `enqueue` call.

mod retry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::sinks::{self, SendOutcome};
use crate::Bridge;

/// A rendered message owed to one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub event_id: String,
    pub rule: String,
    pub channel: String,
    pub body: Value,
}

/// The queues into the per-channel workers.
#[derive(Clone)]
pub struct Outbox {
    queues: Arc<HashMap<String, mpsc::UnboundedSender<Message>>>,
}

/// The workers behind an [`Outbox`], to wait for at shutdown.
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
}

impl Outbox {
    pub fn start(bridge: Arc<Bridge>, client: Client) -> (Outbox, Workers) {
        let mut queues = HashMap::new();
        let mut handles = Vec::new();
        for name in bridge.config.channels.keys() {
            let (sender, receiver) = mpsc::unbounded_channel();
            queues.insert(name.clone(), sender);
            handles.push(tokio::spawn(channel_loop(
                bridge.clone(),
                client.clone(),
                receiver,
            )));
        }
        (
            Outbox {
                queues: Arc::new(queues),
            },
            Workers { handles },
        )
    }

    /// Queues `message` behind the others of its channel.
    pub fn enqueue(&self, message: Message) {
        match self.queues.get(&message.channel) {
            // A send fails only once the worker has stopped, i.e. during shutdown.
            Some(queue) => {
                if let Err(failed) = queue.send(message) {
                    tracing::warn!(channel = %failed.0.channel, event_id = %failed.0.event_id, "shutting down: message not queued");
                }
            }
            None => tracing::error!(channel = %message.channel, "no such channel; message dropped"),
        }
    }
}

impl Workers {
    /// Waits for the workers to send what is queued, up to `deadline`. Call after
    /// every [`Outbox`] clone is dropped, or the workers never see their queue end.
    pub async fn drain(self, deadline: Duration) {
        let all = futures_join(self.handles);
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!(?deadline, "shutdown deadline passed with messages still queued");
        }
    }
}

async fn futures_join(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}

async fn channel_loop(bridge: Arc<Bridge>, client: Client, mut queue: mpsc::UnboundedReceiver<Message>) {
    while let Some(message) = queue.recv().await {
        deliver(&bridge, &client, &message).await;
    }
}

/// Sends one message until it is delivered, refused for good, or out of retries.
/// Later messages of the channel wait meanwhile: order matters more than speed.
async fn deliver(bridge: &Bridge, client: &Client, message: &Message) {
    let Some(channel) = bridge.config.channels.get(&message.channel) else {
        return;
    };
    let started = Instant::now();
    let mut failures = 0;
    loop {
        match sinks::send(client, channel, &message.body).await {
            SendOutcome::Delivered => {
                tracing::info!(
                    event_id = %message.event_id, rule = %message.rule, channel = %message.channel,
                    latency_ms = started.elapsed().as_millis() as u64, "delivered"
                );
                return;
            }
            SendOutcome::RateLimited(wait) => {
                tracing::info!(channel = %message.channel, wait_ms = wait.as_millis() as u64, "rate limited; waiting");
                tokio::time::sleep(wait).await;
            }
            SendOutcome::Transient(error) => {
                failures += 1;
                let Some(wait) = retry::delay(failures) else {
                    tracing::error!(
                        event_id = %message.event_id, rule = %message.rule, channel = %message.channel,
                        attempts = failures, %error, "giving up"
                    );
                    return;
                };
                tracing::warn!(channel = %message.channel, %error, retry_in_ms = wait.as_millis() as u64, "send failed; will retry");
                tokio::time::sleep(wait).await;
            }
            SendOutcome::Permanent { status, body } => {
                tracing::error!(
                    event_id = %message.event_id, rule = %message.rule, channel = %message.channel,
                    target = %sinks::redacted_url(channel), status, %body, "refused; not retrying"
                );
                return;
            }
        }
    }
}
