//! Wake-ups between replicas: `LISTEN storybridge` on a connection of its
//! own. An accepted event says `routing` (the router's holder routes it at
//! once), a routing commit says `queued:CHANNEL` (the channel's holder sends).
//! Notifications are a shortcut, not the truth: a lost one (the connection
//! dropped) costs a poll, at most a second.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio_postgres::AsyncMessage;

use super::cached::Cached;
use super::leases::Leases;
use super::Connect;
use crate::store::Wakeup;

pub async fn run(connect: Connect, leases: Weak<Leases>, wake: Arc<dyn Fn(Wakeup) + Send + Sync>) {
    loop {
        let alive = || leases.upgrade().is_some_and(|leases| !leases.closing.load(Ordering::SeqCst));
        if !alive() {
            return;
        }
        match connect.config.connect(connect.tls.clone()).await {
            Ok((client, mut connection)) => {
                let (messages, mut received) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        match message {
                            Ok(AsyncMessage::Notification(note)) => {
                                let _ = messages.send(note.payload().to_owned());
                            }
                            Ok(_) => {}
                            Err(error) => {
                                tracing::debug!(%error, "the wake-up connection to PostgreSQL ended");
                                return;
                            }
                        }
                    }
                });
                if client.batch_execute("LISTEN storybridge").await.is_ok() {
                    // After a gap, something may have been missed: look now.
                    wake(Wakeup::Routing);
                    loop {
                        tokio::select! {
                            payload = received.recv() => match payload {
                                Some(payload) => match payload.strip_prefix("queued:") {
                                    Some(channel) => wake(Wakeup::Queued(channel.to_owned())),
                                    None => wake(Wakeup::Routing),
                                },
                                None => break,
                            },
                            _ = tokio::time::sleep(Duration::from_secs(1)) => if !alive() { break },
                        }
                    }
                }
                driver.abort();
            }
            Err(error) => tracing::debug!(%error, "cannot listen for wake-ups from PostgreSQL; polling"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Tells the other replicas that events were accepted: one `NOTIFY` at a
/// time, those asked for meanwhile folded into the next. A `NOTIFY` inside
/// the accepting transaction would hold PostgreSQL's notification lock
/// through that commit's flush to disk, so concurrent accepts would commit
/// one after another instead of sharing a flush.
pub struct RoutingNote(Arc<tokio::sync::Notify>);

impl RoutingNote {
    /// The sender runs on `io` (the store's thread) with a connection of the pool.
    pub fn start(pool: deadpool_postgres::Pool, io: &tokio::runtime::Handle) -> RoutingNote {
        let note = Arc::new(tokio::sync::Notify::new());
        let asked = note.clone();
        io.spawn(async move {
            loop {
                asked.notified().await;
                let sent = match pool.get().await {
                    Ok(client) => {
                        client.run("SELECT pg_notify('storybridge', 'routing')", &[]).await.map(drop)
                    }
                    Err(error) => {
                        tracing::debug!(%error, "no connection to tell the other replicas; they poll");
                        continue;
                    }
                };
                if let Err(error) = sent {
                    tracing::debug!(%error, "could not tell the other replicas; they poll");
                }
            }
        });
        RoutingNote(note)
    }

    /// Asks for a `routing` notification after what was just committed.
    pub fn ring(&self) {
        self.0.notify_one();
    }
}
