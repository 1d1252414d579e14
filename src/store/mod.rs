//! The spine every stage writes to: ingest puts a verified event there before
//! answering 2xx; the router takes unrouted events and commits the messages
//! they owe; the delivery workers take messages and record every attempt. The
//! only module with SQL, and it runs no template: what the router could not
//! render yet (a burst, a template failure) is stored as data for delivery to
//! render.
//!
//! One interface ([`Store`]) so a PostgreSQL back end can sit beside SQLite; the
//! SQL in `sqlite.rs` stays plain enough to port.

pub mod migrate;
mod postgres;
mod schema;
mod sqlite;
#[doc(hidden)]
pub mod testing;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use postgres::{redacted, PostgresStore};
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
    #[error("{path} is served by another storybridge already (it holds {path}.lock); two bridges on one store would send most messages twice")]
    Locked { path: String },
    /// Another bridge on a shared store holds the work now.
    #[error("{0}")]
    Superseded(String),
}

/// What another bridge on a shared store tells this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wakeup {
    /// An event was accepted: the router may have work.
    Routing,
    /// Messages were queued for this channel.
    Queued(String),
}

/// A verified request, as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub source: String,
    pub event_id: String,
    pub received_at: Millis,
    pub content_type: Option<String>,
    /// The request headers worth keeping (event type, delivery id), as a JSON object.
    pub headers: String,
    pub body: Vec<u8>,
}

/// A message one route owes a channel: the route's key (event, change, rule,
/// channel) makes queueing it twice impossible.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub change_index: usize,
    pub rule: String,
    pub channel: String,
    /// The template it was (or will be) rendered with.
    pub template: String,
    pub plan: Plan,
    /// The story it is about (`source:entity_type:id`), for channels that
    /// thread a story's messages.
    pub thread_key: Option<String>,
    /// Beside a rendered body, its template context, for channels that draw
    /// a story's messages when they are sent (a reply, a card's latest changes).
    pub context: Option<String>,
}

/// The message a story's replies go under, in a channel that threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRoot {
    /// The platform's id for the channel (Slack answers with it).
    pub channel_id: String,
    /// Slack's `ts` of the root message.
    pub ts: String,
}

/// What the router made of a route.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// The exact JSON body, rendered once when routed.
    Body(String),
    /// The template failed: stored dead with the error and the template
    /// context (`part`), so a replay renders it again with the templates of then.
    Failed { error: String, part: String },
    /// Joins the burst waiting under `key`, or opens one held until
    /// `hold_until`; delivery renders the burst from its parts when it is due.
    Burst { key: String, hold_until: Millis, part: String },
    /// Joins the channel's digest due at `due` (the period `period`, an event
    /// of the bridge's own: `digest:<channel>:<time>`), or opens it; it is
    /// held until the release loop lets it go.
    Digest { due: Millis, period: String, part: String },
}

/// The source of the events the bridge makes itself (a digest's period): no
/// configured source may take the name.
pub const BRIDGE_SOURCE: &str = "storybridge";

/// What marks a delivery as a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DigestMark {
    /// When its period was due.
    pub due: Millis,
    /// Released well after it was due: the bridge was not running then.
    pub late: bool,
}

/// A channel's digest still collecting: when it is due, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldDigest {
    pub due: Millis,
    pub parts: Vec<String>,
}

/// What releasing a channel's due digests did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    pub digests: usize,
    pub late: usize,
}

/// What the release loop asks of the store for one channel.
#[derive(Debug, Clone)]
pub struct Release {
    pub channel: String,
    /// Release every held digest due at or before this.
    pub due_by: Millis,
    /// Now, by the schedule's clock; a digest released more than `late_after`
    /// past its due time is marked late.
    pub now: Millis,
    pub late_after: Millis,
    /// For a channel that sends empty digests: its last due period (time and
    /// event id). A period that collected nothing gets an empty digest, once,
    /// unless it is the first the channel has seen (a new schedule does not
    /// send a digest for the time before it existed).
    pub empty: Option<(Millis, String)>,
    /// The template the channel draws its digests with (kept with an empty one, for the log).
    pub template: String,
}

/// One event's routes.
#[derive(Debug, Clone, Default)]
pub struct EventRoutes {
    pub seq: EventSeq,
    pub deliveries: Vec<NewDelivery>,
    /// The stories this event leaves in a new state (on bridges with live
    /// cards): committed with its routes, so a story's state moves in step
    /// with routing and never back.
    pub stories: Vec<StoryRecord>,
}

/// What the bridge has seen of one story, the state its live card shows, as
/// of the event `seq`: the router folds events into it in acceptance order.
/// The state is the router's JSON; the store only keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryRecord {
    pub key: String,
    pub seq: EventSeq,
    pub state: String,
}

/// What a story's card on one channel is drawn from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardSource {
    /// The story's state, once the router has seen it.
    pub state: Option<String>,
    /// The template contexts of the channel's latest messages about the
    /// story, newest first.
    pub recent: Vec<String>,
    /// A hash of the card the channel shows now: an edit to the same card is skipped.
    pub shown: Option<String>,
}

/// What committing one event's routes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queued {
    pub seq: EventSeq,
    /// New messages queued.
    pub queued: usize,
    /// Changes added to bursts already waiting.
    pub coalesced: usize,
    /// New messages stored dead because their template failed.
    pub failed: usize,
    /// Dead messages of the same routes queued again with a new body.
    pub requeued: usize,
    /// Routes that already had their message (pending or delivered): untouched.
    pub already: usize,
    /// Channels that got something to send.
    pub channels: std::collections::BTreeSet<String>,
}

/// An event's place in acceptance order: routing and per-channel order follow it.
pub type EventSeq = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored, committed, and waiting for the router.
    Inserted { seq: EventSeq },
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
    /// The template that rendered it (none for messages queued before routing
    /// was a stage of its own).
    pub template: Option<String>,
    /// Why its template failed, while it is dead for that reason.
    pub render_error: Option<String>,
    /// The story it is about, for channels that thread.
    pub thread_key: Option<String>,
    /// A channel's digest for one period.
    pub digest: Option<DigestMark>,
}

impl Delivery {
    /// A message rendered when it is sent: a burst, or a template failure
    /// replayed. Its body is empty until then.
    pub fn needs_render(&self) -> bool {
        self.body.is_empty()
    }
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

/// An event as it was received and stored, with its place in acceptance order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: EventSeq,
    pub event: NewEvent,
}

/// A stored event reads as the event it was given (`stored.source`, …).
impl std::ops::Deref for StoredEvent {
    type Target = NewEvent;

    fn deref(&self) -> &NewEvent {
        &self.event
    }
}

/// Which stored events to route again.
#[derive(Debug, Clone)]
pub enum EventSelection {
    /// By the sender's event id (one per source that sent it).
    Ids(Vec<String>),
    /// Received since then, from one source or all.
    Since { since: Millis, source: Option<String> },
}

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

impl Pause {
    /// Marks a pause an admin asked for (`storybridge pause`, the API): it
    /// holds until resumed, whatever the channel's URL becomes. A platform's
    /// pause holds the fingerprint of the URL that failed (hex, never this).
    const BY_ADMIN: &'static str = "admin";

    pub fn by_admin(reason: String) -> Pause {
        Pause { url_fingerprint: Pause::BY_ADMIN.to_owned(), reason }
    }

    pub fn is_by_admin(&self) -> bool {
        self.url_fingerprint == Pause::BY_ADMIN
    }
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
    /// Stores `event`, not yet routed, unless the source already sent this
    /// event id. Returns only once committed (and fsynced).
    fn accept(&self, event: NewEvent) -> StoreFuture<'_, Accepted>;
    /// The oldest events not routed yet, in acceptance order: up to `limit`,
    /// and no more bodies than `max_bytes` (but always the first).
    fn unrouted(&self, limit: usize, max_bytes: usize) -> StoreFuture<'_, Vec<StoredEvent>>;
    /// Commits each event's deliveries, all in one transaction, and (`routed`:
    /// the router's commit, not a reroute) marks exactly those events routed.
    /// A route (event, change, rule, channel) that already has its message is
    /// left alone, unless that message is dead: then it is queued again with
    /// the new plan. Routing an event twice never queues a message twice.
    fn commit_routes(&self, routes: Vec<EventRoutes>, routed: bool) -> StoreFuture<'_, Vec<Queued>>;
    /// The router's next batch: `unrouted`, but on a store replicas share,
    /// only for the bridge holding the router's lease (the others get none).
    fn claim_unrouted(&self, limit: usize, max_bytes: usize) -> StoreFuture<'_, Vec<StoredEvent>> {
        self.unrouted(limit, max_bytes)
    }
    /// Whether this bridge may send the channel's messages now: on a store
    /// replicas share, while it holds the channel's lease.
    fn owns_channel(&self, _channel: &str) -> bool {
        true
    }
    /// Lets go of the leases this bridge holds (at shutdown), so another
    /// replica takes its work over at once.
    fn release_leases(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    /// Calls `wake` whenever another bridge on the store has work for this
    /// one.
    fn listen(&self, _wake: Arc<dyn Fn(Wakeup) + Send + Sync>) {}
    /// Stored events, oldest first.
    fn stored_events(&self, which: EventSelection) -> StoreFuture<'_, Vec<StoredEvent>>;
    /// The template contexts a delivery renders from, oldest first.
    fn parts(&self, delivery: i64) -> StoreFuture<'_, Vec<String>>;

    /// The root message of the story `key` in `channel`, if one was posted.
    fn thread(&self, channel: &str, key: &str) -> StoreFuture<'_, Option<ThreadRoot>>;

    /// Records (or re-points) the root message of the story `key` in
    /// `channel`, and the hash of the card it shows, if it is one.
    fn set_thread(
        &self,
        channel: &str,
        key: &str,
        root: ThreadRoot,
        card: Option<String>,
    ) -> StoreFuture<'_, ()>;
    /// Records the hash of the card the story `key` shows in `channel` after an edit.
    fn card_shown(&self, channel: &str, key: &str, hash: String) -> StoreFuture<'_, ()>;
    /// The stories' states the router has recorded, for those of `keys` it has seen.
    fn stories(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<StoryRecord>>;
    /// What the card of story `key` in `channel` is drawn from: its state, the
    /// channel's `recent` latest messages about it, and the card shown now.
    fn card(&self, channel: &str, key: &str, recent: usize) -> StoreFuture<'_, CardSource>;
    /// Keeps what rendering a delivery's parts gave: its body, or (the
    /// template failed) the delivery dead with the error.
    fn rendered(&self, delivery: i64, outcome: Result<String, String>) -> StoreFuture<'_, ()>;
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
    /// Releases the channel's due digests (`Release`): from then on they are
    /// pending like any message.
    fn release_digests(&self, release: Release) -> StoreFuture<'_, Released>;
    /// The channel's digests still collecting, merged: the earliest due time and every part.
    fn held_digest(&self, channel: &str) -> StoreFuture<'_, Option<HeldDigest>>;
    /// Changes collected for digests not yet released, per channel that has any.
    fn digest_items(&self) -> StoreFuture<'_, Vec<(String, i64)>>;
    /// Fails when the store cannot serve: readiness.
    fn ping(&self) -> StoreFuture<'_, ()>;
    /// Pending messages per channel that has any.
    fn queue_stats(&self) -> StoreFuture<'_, Vec<QueueStats>>;
    /// Stored events with this id (one per source that sent it).
    fn events(&self, event_id: &str) -> StoreFuture<'_, Vec<StoredEvent>> {
        self.stored_events(EventSelection::Ids(vec![event_id.to_owned()]))
    }
}

/// `2h` (that long ago) or an RFC 3339 UTC time (`2026-11-25T13:00:00Z`).
pub fn parse_since(text: &str) -> Option<Millis> {
    if let Some(ago) = crate::config::ConfigDuration::parse(text) {
        return Some(now_millis() - ago.as_millis() as Millis);
    }
    crate::normalize::parse_rfc3339(text)
}

/// Held for as long as a bridge serves a store: a second `serve` on the same
/// SQLite file is refused (the CLI's commands, which share it safely, take
/// no lock). The operating system lets go of it when the process ends, even
/// by SIGKILL.
pub struct ServeLock {
    _file: Option<std::fs::File>,
}

/// Takes the store's serve lock, beside the database file (`FILE.lock`).
/// PostgreSQL needs none: replicas share its work by leases.
pub fn lock_for_serving(storage: &str, base_dir: &Path) -> Result<ServeLock, StoreError> {
    let Some(path) = storage.strip_prefix("sqlite://") else { return Ok(ServeLock { _file: None }) };
    let database = base_dir.join(path);
    let lock_path = format!("{}.lock", database.display());
    let open_error =
        |error: std::io::Error| StoreError::Open { path: lock_path.clone(), message: error.to_string() };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(open_error)?;
    match file.try_lock() {
        Ok(()) => Ok(ServeLock { _file: Some(file) }),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Locked { path: database.display().to_string() })
        }
        Err(std::fs::TryLockError::Error(error)) => Err(open_error(error)),
    }
}

/// Whether `storage` names a store `open` can open, and if not, what is wrong
/// (for `check`: nothing is connected to).
pub fn check_storage(storage: &str) -> Result<(), String> {
    if is_postgres(storage) {
        return postgres::connect_of(storage).map(drop).map_err(|error| match error {
            StoreError::Open { message, .. } => message,
            other => other.to_string(),
        });
    }
    if storage == "sqlite::memory:" || storage.strip_prefix("sqlite://").is_some_and(|path| !path.is_empty())
    {
        return Ok(());
    }
    Err("expected sqlite://FILE, postgres://USER@HOST:PORT/DATABASE (or sqlite::memory: for tests)".into())
}

fn is_postgres(storage: &str) -> bool {
    storage.starts_with("postgres://") || storage.starts_with("postgresql://")
}

/// Opens the store a config names: `sqlite://FILE` (relative to `base_dir`),
/// `sqlite::memory:`, or `postgres://…` (`postgresql://…`).
pub fn open(storage: &str, base_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    if is_postgres(storage) {
        return Ok(Arc::new(PostgresStore::open(storage)?));
    }
    let store = if storage == "sqlite::memory:" {
        SqliteStore::open_in_memory()?
    } else {
        let path = storage.strip_prefix("sqlite://").ok_or_else(|| StoreError::Open {
            path: storage.into(),
            message: "expected sqlite://FILE, sqlite::memory: or postgres://USER@HOST:PORT/DATABASE".into(),
        })?;
        SqliteStore::open(&base_dir.join(path))?
    };
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests;
