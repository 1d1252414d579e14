//! The spine both ends write to: ingest puts a verified event and the messages it
//! owes there before answering 2xx; the delivery workers take messages from there
//! and record every attempt. The only module with SQL.
//!
//! One interface ([`Store`]) so a PostgreSQL back end can sit beside SQLite; the
//! SQL in `sqlite.rs` stays plain enough to port.

mod schema;
mod sqlite;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use sqlite::{SqliteOptions, SqliteStore};

/// Milliseconds since the Unix epoch: how the store keeps time, so rows compare
/// and sort the same in every back end.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {message}")]
    Open { path: String, message: String },
    #[error("store query failed: {0}")]
    Query(String),
    #[error("store commit failed: {0}")]
    Commit(String),
    #[error("the store is shut down")]
    Closed,
}

/// A verified request, as it arrived.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub source: String,
    pub event_id: String,
    pub received_at: Millis,
    pub content_type: Option<String>,
    /// The request headers worth keeping (event type, delivery id), as a JSON object.
    pub headers: String,
    pub body: Vec<u8>,
}

/// A rendered message, owed to a channel.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub change_index: usize,
    pub rule: String,
    pub channel: String,
    /// The exact JSON body, rendered once when queued.
    pub body: String,
    /// Set when the message may join a burst of changes to the same entity.
    pub coalesce: Option<Coalesce>,
}

/// How a message joins a burst: the burst's key, how long the first message
/// of a burst is held, this change's part, and how to render a whole burst.
#[derive(Clone)]
pub struct Coalesce {
    /// Channel, rule and entity: changes with the same key form one burst.
    pub key: String,
    /// A new burst is held until then; joining one never extends it.
    pub hold_until: Millis,
    /// This change's template context.
    pub part: serde_json::Value,
    /// Renders the body for all parts so far, oldest first.
    pub render: Arc<RenderBurst>,
}

/// Renders a burst's message from its parts (`None` if the template failed).
pub type RenderBurst = dyn Fn(&[serde_json::Value]) -> Option<String> + Send + Sync;

impl std::fmt::Debug for Coalesce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalesce").field("key", &self.key).field("hold_until", &self.hold_until).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored with this many new deliveries, and this many changes added to
    /// bursts already waiting, all committed.
    Inserted { deliveries: usize, coalesced: usize },
    /// This source already sent an event with this id; nothing was stored.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "dead" => Some(DeliveryStatus::Dead),
            _ => None,
        }
    }
}

/// A stored message and where its delivery stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub source: String,
    pub rule: String,
    pub channel: String,
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Failed attempts since it was queued or replayed (429s do not count).
    pub failures: u32,
    pub next_attempt_at: Millis,
    /// When it was queued, or last replayed: `max_age` counts from here.
    pub queued_at: Millis,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// One try at sending a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub at: Millis,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// What an attempt decided for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Delivered,
    /// Try again at this time; `failed` says whether it counts toward `max_age` backoff.
    Retry {
        at: Millis,
        failed: bool,
    },
    Dead,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub channel: Option<String>,
    pub event_id: Option<String>,
    /// At most this many; 0 for all.
    pub limit: usize,
}

/// An event as it was received and stored: what `accept` was given.
pub type StoredEvent = NewEvent;

/// A channel's waiting messages, for the queue metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    pub channel: String,
    pub pending: i64,
    pub oldest_created_at: Millis,
}

/// Which deliveries to queue again.
#[derive(Debug, Clone)]
pub enum Replay {
    Ids(Vec<i64>),
    Dead { channel: Option<String>, since: Option<Millis> },
}

/// Why a channel is paused: its URL (by fingerprint) answered that it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub url_fingerprint: String,
    pub reason: String,
}

/// What a channel's worker reads before each batch it sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Why the channel is paused, if it is.
    pub pause: Option<Pause>,
    /// Up to the asked number of its oldest pending deliveries, in order.
    pub pending: Vec<Delivery>,
}

pub trait Store: Send + Sync {
    /// Stores `event` and its deliveries in one transaction, unless the source
    /// already sent this event id. Returns only once committed.
    fn accept(&self, event: NewEvent, deliveries: Vec<NewDelivery>) -> StoreFuture<'_, Accepted>;
    /// Up to `limit` of the channel's oldest pending deliveries, in order (held
    /// bursts left out): what the channel must send next.
    fn pending_batch(&self, channel: &str, limit: usize) -> StoreFuture<'_, Vec<Delivery>>;
    /// The channel's oldest pending delivery.
    fn next_pending(&self, channel: &str) -> StoreFuture<'_, Option<Delivery>> {
        let batch = self.pending_batch(channel, 1);
        Box::pin(async move { Ok(batch.await?.into_iter().next()) })
    }
    /// Records an attempt and what it decided, together.
    fn finish_attempt(&self, delivery: i64, attempt: Attempt, resolution: Resolution) -> StoreFuture<'_, ()>;
    /// Records several attempts in one transaction.
    fn finish_attempts(&self, records: Vec<(i64, Attempt, Resolution)>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            for (delivery, attempt, resolution) in records {
                self.finish_attempt(delivery, attempt, resolution).await?;
            }
            Ok(())
        })
    }
    /// Records the attempts a channel's worker just made, then reads what it
    /// needs for its next batch: the channel's pause and up to `limit` pending
    /// deliveries. The worker's one trip to the store per batch.
    fn record_and_claim(
        &self,
        channel: &str,
        finished: Vec<(i64, Attempt, Resolution)>,
        limit: usize,
    ) -> StoreFuture<'_, Claim> {
        let channel = channel.to_owned();
        Box::pin(async move {
            if !finished.is_empty() {
                self.finish_attempts(finished).await?;
            }
            let pause = self.channel_pause(&channel).await?;
            Ok(Claim { pause, pending: self.pending_batch(&channel, limit).await? })
        })
    }
    /// Most recent first.
    fn deliveries(&self, filter: DeliveryFilter) -> StoreFuture<'_, Vec<Delivery>>;
    fn attempts(&self, delivery: i64) -> StoreFuture<'_, Vec<Attempt>>;
    /// Queues deliveries again, as if new; returns how many.
    fn replay(&self, which: Replay) -> StoreFuture<'_, usize>;
    /// Deletes delivered messages delivered before `before`, and events left with none.
    fn prune(&self, before: Millis) -> StoreFuture<'_, usize>;
    fn pause_channel(&self, channel: &str, pause: Pause) -> StoreFuture<'_, ()>;
    fn resume_channel(&self, channel: &str) -> StoreFuture<'_, ()>;
    fn channel_pause(&self, channel: &str) -> StoreFuture<'_, Option<Pause>>;
    /// Fails when the store cannot serve: readiness.
    fn ping(&self) -> StoreFuture<'_, ()>;
    /// Pending messages per channel that has any.
    fn queue_stats(&self) -> StoreFuture<'_, Vec<QueueStats>>;
    /// Stored events with this id (one per source that sent it).
    fn events(&self, event_id: &str) -> StoreFuture<'_, Vec<StoredEvent>>;
}

/// `2h` (that long ago) or an RFC 3339 UTC time (`2026-11-25T13:00:00Z`).
pub fn parse_since(text: &str) -> Option<Millis> {
    if let Some(ago) = crate::config::ConfigDuration::parse(text) {
        return Some(now_millis() - ago.as_millis() as Millis);
    }
    crate::normalize::parse_rfc3339(text)
}

/// Opens the store a config names: `sqlite://FILE` (relative to `base_dir`) or
/// `sqlite::memory:`.
pub fn open(storage: &str, base_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    let store = if storage == "sqlite::memory:" {
        SqliteStore::open_in_memory()?
    } else {
        let path = storage.strip_prefix("sqlite://").ok_or_else(|| StoreError::Open {
            path: storage.into(),
            message: "expected sqlite://FILE".into(),
        })?;
        SqliteStore::open(&base_dir.join(path))?
    };
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests;
