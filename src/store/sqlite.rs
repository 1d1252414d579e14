//! SQLite in WAL mode behind one writer thread.
//!
//! Every operation is a closure sent to the thread, which drains whatever has
//! queued up and runs it all in one transaction: group commit. Concurrent
//! requests share one fsync instead of paying one each, and an operation's
//! caller hears back only after the COMMIT that holds its writes. One
//! connection means reads see the batch's own writes and SQLite never sees two
//! writers from this process.

use std::path::Path;
use std::sync::mpsc;
use std::thread;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::schema::migrate;
use super::{
    now_millis, Accepted, Attempt, CardSource, Claim, Delivery, DeliveryFilter, DeliveryStatus, DigestMark,
    EventRoutes, EventSelection, HeldDigest, Millis, NewDelivery, NewEvent, Pause, Plan, QueueStats, Queued,
    Release, Released, Replay, Resolution, Store, StoreError, StoreFuture, StoredEvent, StoryRecord,
    ThreadRoot, BRIDGE_SOURCE,
};

/// How the SQLite store commits. The defaults are what the bridge runs with;
/// the others exist so `bench/ingest` can show what each choice costs.
#[derive(Debug, Clone, Copy)]
pub struct SqliteOptions {
    /// Operations per transaction at most; 1 turns group commit off.
    pub max_batch: usize,
    /// `synchronous=FULL` (fsync every commit: survives power loss) rather than
    /// `NORMAL` (survives a process crash; the last commits may be lost on power loss).
    pub fsync_every_commit: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        // 512 keeps one transaction short while still sharing one fsync widely.
        SqliteOptions { max_batch: 512, fsync_every_commit: true }
    }
}

type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Work for the writer thread, and whether its writes must survive power loss.
struct Operation {
    /// Accepting an event must; recording an attempt need not: losing that
    /// record costs a resend (a duplicate), never a lost message.
    durable: bool,
    work: Box<dyn FnOnce(&Transaction) -> Reply + Send>,
}

pub struct SqliteStore {
    operations: mpsc::Sender<Operation>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<Self, StoreError> {
        let open_error = |error: rusqlite::Error| StoreError::Open {
            path: path.display().to_string(),
            message: error.to_string(),
        };
        let connection = Connection::open(path).map_err(open_error)?;
        let file = FileIdentity::of(path).map_err(|error| StoreError::Open {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        Self::start(connection, options, Some(file)).map_err(open_error)
    }

    pub fn open_in_memory() -> Result<Self, StoreError> {
        let open_error =
            |error: rusqlite::Error| StoreError::Open { path: ":memory:".into(), message: error.to_string() };
        let connection = Connection::open_in_memory().map_err(open_error)?;
        Self::start(connection, SqliteOptions::default(), None).map_err(open_error)
    }

    fn start(
        mut connection: Connection,
        options: SqliteOptions,
        file: Option<FileIdentity>,
    ) -> rusqlite::Result<Self> {
        // WAL lets the CLI read while the server writes. synchronous=FULL fsyncs
        // the WAL at commit, so a 2xx survives power loss, not just a crash; group
        // commit makes that affordable, and batches holding only attempt records
        // and reads skip the fsync (see `writer_loop`).
        connection.pragma_update(None, "journal_mode", "WAL")?;
        let synchronous = if options.fsync_every_commit { "FULL" } else { "NORMAL" };
        connection.pragma_update(None, "synchronous", synchronous)?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut connection)?;
        let (operations, queue) = mpsc::channel::<Operation>();
        thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(connection, queue, options, file))
            .expect("spawning the store writer thread");
        Ok(SqliteStore { operations })
    }

    /// Runs `work` on the writer thread, inside the next batch's transaction,
    /// committed with an fsync.
    fn run<T, F>(&self, work: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> rusqlite::Result<T> + Send + 'static,
    {
        self.run_with(true, work)
    }

    /// As `run`; a batch of operations none of which is `durable` commits
    /// without an fsync (it still survives a process crash: WAL).
    fn run_with<T, F>(&self, durable: bool, work: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> rusqlite::Result<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let operation = Operation {
            durable,
            work: Box::new(move |transaction| {
                let result = work(transaction);
                Box::new(move |committed| {
                    let outcome = match (result, committed) {
                        (Err(error), _) => Err(StoreError::Query(error.to_string())),
                        (Ok(_), Err(error)) => Err(StoreError::Commit(error)),
                        (Ok(value), Ok(())) => Ok(value),
                    };
                    let _ = answer.send(outcome);
                })
            }),
        };
        let sent = self.operations.send(operation);
        Box::pin(async move {
            sent.map_err(|_| StoreError::Closed)?;
            answered.await.map_err(|_| StoreError::Closed)?
        })
    }
}

fn record_attempt(
    transaction: &Transaction,
    delivery: i64,
    attempt: &Attempt,
    resolution: Resolution,
) -> rusqlite::Result<()> {
    transaction
        .prepare_cached(
            "INSERT INTO attempts (delivery_id, at, status, error, latency_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![delivery, attempt.at, attempt.status, attempt.error, attempt.latency_ms])?;
    let (status, next_at, failed, delivered_at) = match resolution {
        Resolution::Delivered => ("delivered", attempt.at, false, Some(attempt.at)),
        Resolution::Retry { at, failed } => ("pending", at, failed, None),
        Resolution::Dead => ("dead", attempt.at, true, None),
    };
    transaction
        .prepare_cached(
            "UPDATE deliveries SET status = ?2, next_attempt_at = ?3, attempts = attempts + 1,
                    failures = failures + ?4, delivered_at = ?5, last_status = ?6, last_error = ?7
             WHERE id = ?1",
        )?
        .execute(params![
            delivery,
            status,
            next_at,
            failed as i64,
            delivered_at,
            attempt.status,
            attempt.error
        ])?;
    Ok(())
}

/// The database file as opened: SQLite goes on writing to a file deleted or
/// replaced under it, and everything it writes then is gone at the next start.
struct FileIdentity {
    path: std::path::PathBuf,
    device: u64,
    inode: u64,
}

impl FileIdentity {
    fn of(path: &Path) -> std::io::Result<FileIdentity> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path)?;
        Ok(FileIdentity { path: path.to_owned(), device: metadata.dev(), inode: metadata.ino() })
    }

    /// Why the path no longer names the file being written, if it does not.
    fn gone(&self) -> Option<String> {
        match FileIdentity::of(&self.path) {
            Ok(now) if (now.device, now.inode) == (self.device, self.inode) => None,
            Ok(_) => Some(format!("{} was replaced under the running bridge", self.path.display())),
            Err(error) => Some(format!("{} is gone ({error})", self.path.display())),
        }
    }
}

fn writer_loop(
    mut connection: Connection,
    queue: mpsc::Receiver<Operation>,
    options: SqliteOptions,
    file: Option<FileIdentity>,
) {
    let max_batch = options.max_batch.max(1);
    let mut synchronous_full = options.fsync_every_commit;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(operation) => batch.push(operation),
                Err(_) => break,
            }
        }
        // A commit to a deleted file would be answered 2xx and lost at the
        // next start: the batch is rolled back instead (ingest answers 503,
        // /readyz says why).
        let gone = file.as_ref().and_then(FileIdentity::gone);
        // fsync only batches that hold a write which must survive power loss.
        let full = options.fsync_every_commit && batch.iter().any(|operation| operation.durable);
        if full != synchronous_full {
            let mode = if full { "FULL" } else { "NORMAL" };
            if connection.pragma_update(None, "synchronous", mode).is_ok() {
                synchronous_full = full;
            }
        }
        let transaction = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(transaction) => transaction,
            Err(error) => {
                // Dropping the batch drops each operation's answer channel, so every
                // caller hears `StoreError::Closed` and ingest answers 503.
                tracing::error!(%error, operations = batch.len(), "store: cannot begin a transaction");
                continue;
            }
        };
        let replies: Vec<Reply> = batch.into_iter().map(|operation| (operation.work)(&transaction)).collect();
        let committed = match gone {
            None => transaction.commit().map_err(|error| error.to_string()),
            Some(gone) => {
                let _ = transaction.rollback();
                Err(format!("{gone}: nothing written there would survive a restart; restart the bridge"))
            }
        };
        if let Err(error) = &committed {
            tracing::error!(%error, "store: commit failed");
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}

fn pause_of(transaction: &Transaction, channel: &str) -> rusqlite::Result<Option<Pause>> {
    transaction
        .prepare_cached("SELECT url_fingerprint, reason FROM channel_pauses WHERE channel = ?1")?
        .query_row(params![channel], |row| Ok(Pause { url_fingerprint: row.get(0)?, reason: row.get(1)? }))
        .optional()
}

fn pending(transaction: &Transaction, channel: &str, limit: usize) -> rusqlite::Result<Vec<Delivery>> {
    let mut statement = transaction.prepare_cached(&claim_sql())?;
    let rows = statement.query_map(params![channel, now_millis(), limit as i64], delivery_from_row)?;
    rows.collect()
}

/// A channel's next messages, oldest first. Served by the partial index
/// `deliveries_pending` (see `plans_use_the_partial_indexes`).
fn claim_sql() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE d.channel = ?1 AND d.status = 'pending'
           AND (d.held_until IS NULL OR d.held_until <= ?2)
         ORDER BY d.id LIMIT ?3"
    )
}

/// The burst still collecting changes under a key. Served by `deliveries_held`.
const OPEN_BURST_SQL: &str = "SELECT id FROM deliveries
     WHERE coalesce_key = ?1 AND status = 'pending' AND attempts = 0 AND held_until > ?2
     ORDER BY id LIMIT 1";

const DELIVERY_COLUMNS: &str =
    "d.id, e.event_id, e.source, d.rule, d.channel, d.body, d.status, d.attempts, \
     d.failures, d.next_attempt_at, d.queued_at, d.created_at, d.delivered_at, d.last_status, d.last_error, \
     d.template, d.render_error, d.thread_key, d.digest_due, d.digest_late";

/// `held_until` of a digest still collecting: later than any time.
const HELD: Millis = Millis::MAX;

const EVENT_COLUMNS: &str = "seq, source, event_id, received_at, content_type, headers, body";

fn event_from_row(row: &Row) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: row.get(0)?,
        event: NewEvent {
            source: row.get(1)?,
            event_id: row.get(2)?,
            received_at: row.get(3)?,
            content_type: row.get(4)?,
            headers: row.get(5)?,
            body: row.get(6)?,
        },
    })
}

/// Where a route's message went when it was committed.
enum Committed {
    /// A row of its own.
    New,
    /// One more part of a burst waiting under its key.
    JoinedBurst,
    /// Its dead row, queued again.
    Requeued,
    /// One more change for a digest, held until its period is due.
    Collected,
}

impl Queued {
    /// Counts one message committed: stored dead (its template failed), added
    /// to a waiting burst, or due to send on its channel.
    fn count(&mut self, delivery: &NewDelivery, committed: Committed) {
        match (&delivery.plan, committed) {
            (Plan::Failed { .. }, _) => self.failed += 1,
            (_, Committed::JoinedBurst | Committed::Collected) => self.coalesced += 1,
            (_, due) => {
                match due {
                    Committed::Requeued => self.requeued += 1,
                    _ => self.queued += 1,
                }
                self.channels.insert(delivery.channel.clone());
            }
        }
    }
}

/// Commits one event's routes (see `Store::commit_routes`).
fn commit_event_routes(
    transaction: &Transaction,
    routes: &EventRoutes,
    now: Millis,
) -> rusqlite::Result<Queued> {
    let mut queued = Queued { seq: routes.seq, ..Default::default() };
    // An event routed for the first time has no ledger rows: one probe for
    // the event, not one per message (routing again looks each route up).
    let routed_before: bool = transaction
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM routes WHERE event_seq = ?1)")?
        .query_row(params![routes.seq], |row| row.get(0))?;
    for delivery in &routes.deliveries {
        let existing: Option<(i64, Option<String>)> = match routed_before {
            false => None,
            true => transaction
            .prepare_cached(
                "SELECT r.delivery_id, d.status FROM routes r LEFT JOIN deliveries d ON d.id = r.delivery_id
                 WHERE r.event_seq = ?1 AND r.change_index = ?2 AND r.rule = ?3 AND r.channel = ?4",
            )?
            .query_row(
                params![routes.seq, delivery.change_index as i64, delivery.rule, delivery.channel],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?,
        };
        match existing {
            // Pending or delivered (or delivered and pruned): the route has its message.
            Some((_, status)) if status.as_deref() != Some("dead") => queued.already += 1,
            Some((id, _)) => {
                requeue_dead(transaction, id, delivery, now)?;
                queued.count(delivery, Committed::Requeued);
            }
            None => {
                let (id, committed) = insert_delivery(transaction, routes.seq, delivery, now)?;
                transaction
                    .prepare_cached(
                        "INSERT INTO routes (event_seq, change_index, rule, channel, delivery_id)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        routes.seq,
                        delivery.change_index as i64,
                        delivery.rule,
                        delivery.channel,
                        id
                    ])?;
                queued.count(delivery, committed);
            }
        }
    }
    for story in &routes.stories {
        // Only forward: a reroute of an older event leaves a newer state be.
        transaction
            .prepare_cached(
                "INSERT INTO stories (story_key, seq, state, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (story_key) DO UPDATE SET seq = ?2, state = ?3, updated_at = ?4
                 WHERE excluded.seq > stories.seq",
            )?
            .execute(params![story.key, story.seq, story.state, now])?;
    }
    Ok(queued)
}

/// Stores a route's message: a new row, or (a burst still open under its key)
/// one more part of that row. Returns the row and which it was.
fn insert_delivery(
    transaction: &Transaction,
    seq: i64,
    delivery: &NewDelivery,
    now: Millis,
) -> rusqlite::Result<(i64, Committed)> {
    if let Plan::Burst { key, part, .. } = &delivery.plan {
        let open: Option<i64> = transaction
            .prepare_cached(OPEN_BURST_SQL)?
            .query_row(params![key, now], |row| row.get(0))
            .optional()?;
        if let Some(id) = open {
            add_part(transaction, id, part)?;
            // The body, if the burst had one, no longer holds every part.
            transaction
                .prepare_cached("UPDATE deliveries SET body = '' WHERE id = ?1")?
                .execute(params![id])?;
            return Ok((id, Committed::JoinedBurst));
        }
    }
    if let Plan::Digest { due, period, part } = &delivery.plan {
        return collect(transaction, delivery, *due, period, part, now);
    }
    let (body, status, key, held_until, error, part) = match &delivery.plan {
        Plan::Digest { .. } => unreachable!("collected above"),
        Plan::Body(body) => (body.as_str(), "pending", None, None, None, delivery.context.as_ref()),
        Plan::Failed { error, part } => ("", "dead", None, None, Some(error), Some(part)),
        Plan::Burst { key, hold_until, part } => {
            ("", "pending", Some(key), Some(*hold_until), None, Some(part))
        }
    };
    transaction
        .prepare_cached(
            "INSERT INTO deliveries (event_seq, change_index, rule, channel, body, status, next_attempt_at,
                                     queued_at, created_at, coalesce_key, held_until, template, render_error,
                                     last_error, thread_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7, ?8, ?9, ?10, ?11, ?11, ?12)",
        )?
        .execute(params![
            seq,
            delivery.change_index as i64,
            delivery.rule,
            delivery.channel,
            body,
            status,
            now,
            key,
            held_until,
            delivery.template,
            error,
            delivery.thread_key,
        ])?;
    let id = transaction.last_insert_rowid();
    if let Some(part) = part {
        add_part(transaction, id, part)?;
    }
    Ok((id, Committed::New))
}

/// Adds a change to the channel's digest due at `due`, opening it (and its
/// period's event) if none is collecting.
fn collect(
    transaction: &Transaction,
    delivery: &NewDelivery,
    due: Millis,
    period: &str,
    part: &str,
    now: Millis,
) -> rusqlite::Result<(i64, Committed)> {
    let held: Option<i64> = transaction
        .prepare_cached(
            "SELECT id FROM deliveries WHERE channel = ?1 AND digest_due = ?2 AND status = 'pending'
             AND held_until = ?3 ORDER BY id LIMIT 1",
        )?
        .query_row(params![delivery.channel, due, HELD], |row| row.get(0))
        .optional()?;
    let id = match held {
        Some(id) => id,
        None => open_digest(
            transaction,
            &delivery.channel,
            &delivery.template,
            due,
            period,
            now,
            Some(HELD),
            false,
        )?,
    };
    add_part(transaction, id, part)?;
    Ok((id, Committed::Collected))
}

/// A new digest row for a period, on the period's own event.
#[allow(clippy::too_many_arguments)]
fn open_digest(
    transaction: &Transaction,
    channel: &str,
    template: &str,
    due: Millis,
    period: &str,
    now: Millis,
    held_until: Option<Millis>,
    late: bool,
) -> rusqlite::Result<i64> {
    transaction
        .prepare_cached(
            "INSERT INTO events (source, event_id, received_at, content_type, headers, body)
             VALUES (?1, ?2, ?3, NULL, '{}', x'') ON CONFLICT (source, event_id) DO NOTHING",
        )?
        .execute(params![BRIDGE_SOURCE, period, now])?;
    let seq: i64 = transaction
        .prepare_cached("SELECT seq FROM events WHERE source = ?1 AND event_id = ?2")?
        .query_row(params![BRIDGE_SOURCE, period], |row| row.get(0))?;
    transaction
        .prepare_cached(
            "INSERT INTO deliveries (event_seq, change_index, rule, channel, body, status, next_attempt_at,
                                     queued_at, created_at, held_until, template, digest_due, digest_late)
             VALUES (?1, 0, 'digest', ?2, '', 'pending', ?3, ?3, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![seq, channel, now, held_until, template, due, late])?;
    Ok(transaction.last_insert_rowid())
}

/// Releases a channel's due digests and, for a channel that sends empty
/// ones, makes the last due period's if it collected nothing.
fn release(transaction: &Transaction, release: &Release, now: Millis) -> rusqlite::Result<Released> {
    let late = |due: Millis| release.now - due > release.late_after;
    let mut statement = transaction.prepare_cached(
        "SELECT id, digest_due FROM deliveries WHERE channel = ?1 AND status = 'pending'
         AND held_until = ?2 AND digest_due <= ?3",
    )?;
    let due: Vec<(i64, Millis)> = statement
        .query_map(params![release.channel, HELD, release.due_by], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut released = Released::default();
    for (id, due) in due {
        transaction
            .prepare_cached(
                "UPDATE deliveries SET held_until = NULL, next_attempt_at = ?2, queued_at = ?2, digest_late = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id, now, late(due)])?;
        released.digests += 1;
        released.late += late(due) as usize;
    }
    let Some((due, period)) = &release.empty else { return Ok(released) };
    let through: Option<Millis> = transaction
        .prepare_cached("SELECT through FROM digest_schedules WHERE channel = ?1")?
        .query_row(params![release.channel], |row| row.get(0))
        .optional()?;
    transaction
        .prepare_cached(
            "INSERT INTO digest_schedules (channel, through) VALUES (?1, ?2)
             ON CONFLICT (channel) DO UPDATE SET through = MAX(through, ?2)",
        )?
        .execute(params![release.channel, due])?;
    let claimed = through.is_some_and(|through| through < *due);
    let collected: bool = transaction
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE source = ?1 AND event_id = ?2)")?
        .query_row(params![BRIDGE_SOURCE, period], |row| row.get(0))?;
    if claimed && !collected {
        open_digest(transaction, &release.channel, &release.template, *due, period, now, None, late(*due))?;
        released.digests += 1;
        released.late += late(*due) as usize;
    }
    Ok(released)
}

/// A dead route's message, routed again: queued with the new plan (or, its
/// template failing again, left dead with the new error).
fn requeue_dead(
    transaction: &Transaction,
    id: i64,
    delivery: &NewDelivery,
    now: Millis,
) -> rusqlite::Result<()> {
    let (body, status, error) = match &delivery.plan {
        Plan::Body(body) => (body.as_str(), "pending", None),
        Plan::Failed { error, .. } => ("", "dead", Some(error)),
        // A burst may hold other events' parts: render it again from all of them.
        Plan::Burst { .. } | Plan::Digest { .. } => ("", "pending", None),
    };
    let part = match &delivery.plan {
        Plan::Failed { part, .. } => Some(part),
        Plan::Body(_) => delivery.context.as_ref(),
        Plan::Burst { .. } | Plan::Digest { .. } => None,
    };
    if let Some(part) = part {
        transaction.prepare_cached("DELETE FROM parts WHERE delivery_id = ?1")?.execute(params![id])?;
        add_part(transaction, id, part)?;
    }
    transaction
        .prepare_cached(
            "UPDATE deliveries SET body = ?2, status = ?3, template = ?4, render_error = ?5,
                    last_error = COALESCE(?5, last_error), next_attempt_at = ?6, queued_at = ?6, failures = 0
             WHERE id = ?1",
        )?
        .execute(params![id, body, status, delivery.template, error, now])?;
    Ok(())
}

fn add_part(transaction: &Transaction, delivery: i64, part: &str) -> rusqlite::Result<()> {
    transaction
        .prepare_cached("INSERT INTO parts (delivery_id, part) VALUES (?1, ?2)")?
        .execute(params![delivery, part])?;
    Ok(())
}

fn delivery_from_row(row: &Row) -> rusqlite::Result<Delivery> {
    let status: String = row.get(6)?;
    Ok(Delivery {
        id: row.get(0)?,
        event_id: row.get(1)?,
        source: row.get(2)?,
        rule: row.get(3)?,
        channel: row.get(4)?,
        body: row.get(5)?,
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Pending),
        attempts: row.get(7)?,
        failures: row.get(8)?,
        next_attempt_at: row.get(9)?,
        queued_at: row.get(10)?,
        created_at: row.get(11)?,
        delivered_at: row.get(12)?,
        last_status: row.get(13)?,
        last_error: row.get(14)?,
        template: row.get(15)?,
        render_error: row.get(16)?,
        thread_key: row.get(17)?,
        digest: row
            .get::<_, Option<Millis>>(18)?
            .map(|due| {
                Ok::<_, rusqlite::Error>(DigestMark {
                    due,
                    late: row.get::<_, Option<bool>>(19)?.unwrap_or(false),
                })
            })
            .transpose()?,
    })
}

impl Store for SqliteStore {
    fn accept(&self, event: NewEvent) -> StoreFuture<'_, Accepted> {
        self.run(move |transaction| {
            let inserted = transaction
                .prepare_cached(
                    "INSERT INTO events (source, event_id, received_at, content_type, headers, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (source, event_id) DO NOTHING",
                )?
                .execute(params![
                    event.source,
                    event.event_id,
                    event.received_at,
                    event.content_type,
                    event.headers,
                    event.body
                ])?;
            Ok(match inserted {
                0 => Accepted::Duplicate,
                _ => Accepted::Inserted { seq: transaction.last_insert_rowid() },
            })
        })
    }

    fn unrouted(&self, limit: usize, max_bytes: usize) -> StoreFuture<'_, Vec<StoredEvent>> {
        self.run_with(false, move |transaction| {
            // Served by the primary key: the events after the router's position.
            let mut statement = transaction.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM (
                     SELECT *, SUM(length(body)) OVER (ORDER BY seq) - length(body) AS before,
                            ROW_NUMBER() OVER (ORDER BY seq) AS position
                     FROM events WHERE seq > (SELECT routed_through FROM router) ORDER BY seq LIMIT ?1)
                 WHERE position = 1 OR before < ?2 ORDER BY seq"
            ))?;
            let rows = statement.query_map(params![limit as i64, max_bytes as i64], event_from_row)?;
            rows.collect()
        })
    }

    fn commit_routes(&self, routes: Vec<EventRoutes>, routed: bool) -> StoreFuture<'_, Vec<Queued>> {
        // One writer commits events in `seq` order, so no event is ever
        // committed behind one already routed: the position is exact.
        let routed_through = routes.iter().map(|event| event.seq).max().filter(|_| routed);
        // Not fsynced: lost to a power cut, the events are simply routed again
        // (and the ledger keeps that from queueing anything twice).
        self.run_with(false, move |transaction| {
            let now = now_millis();
            let queued = routes.iter().map(|event| commit_event_routes(transaction, event, now)).collect();
            if let Some(seq) = routed_through {
                transaction
                    .prepare_cached(
                        "UPDATE router SET routed_through = MAX(routed_through, ?1) WHERE id = 1",
                    )?
                    .execute(params![seq])?;
            }
            queued
        })
    }

    fn stored_events(&self, which: EventSelection) -> StoreFuture<'_, Vec<StoredEvent>> {
        self.run_with(false, move |transaction| match which {
            EventSelection::Ids(ids) => {
                let mut statement = transaction
                    .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1 ORDER BY seq"))?;
                let mut found = Vec::new();
                for id in ids {
                    for row in statement.query_map(params![id], event_from_row)? {
                        found.push(row?);
                    }
                }
                Ok(found)
            }
            EventSelection::Since { since, source } => {
                let mut statement = transaction.prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE received_at >= ?1 AND (?2 IS NULL OR source = ?2)
                     ORDER BY seq"
                ))?;
                let rows = statement.query_map(params![since, source], event_from_row)?;
                rows.collect()
            }
        })
    }

    fn thread(&self, channel: &str, key: &str) -> StoreFuture<'_, Option<ThreadRoot>> {
        let (channel, key) = (channel.to_owned(), key.to_owned());
        self.run_with(false, move |transaction| {
            transaction
                .prepare_cached(
                    "SELECT root_channel, root_ts FROM threads WHERE channel = ?1 AND thread_key = ?2",
                )?
                .query_row(params![channel, key], |row| {
                    Ok(ThreadRoot { channel_id: row.get(0)?, ts: row.get(1)? })
                })
                .optional()
        })
    }

    fn set_thread(
        &self,
        channel: &str,
        key: &str,
        root: ThreadRoot,
        card: Option<String>,
    ) -> StoreFuture<'_, ()> {
        let (channel, key) = (channel.to_owned(), key.to_owned());
        self.run(move |transaction| {
            transaction.execute(
                "INSERT INTO threads (channel, thread_key, root_channel, root_ts, created_at, card_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (channel, thread_key) DO UPDATE
                 SET root_channel = ?3, root_ts = ?4, created_at = ?5, card_hash = ?6",
                params![channel, key, root.channel_id, root.ts, now_millis(), card],
            )?;
            Ok(())
        })
    }

    fn card_shown(&self, channel: &str, key: &str, hash: String) -> StoreFuture<'_, ()> {
        let (channel, key) = (channel.to_owned(), key.to_owned());
        // Not fsynced: lost, the next edit is made even if it changes nothing.
        self.run_with(false, move |transaction| {
            transaction
                .prepare_cached("UPDATE threads SET card_hash = ?3 WHERE channel = ?1 AND thread_key = ?2")?
                .execute(params![channel, key, hash])?;
            Ok(())
        })
    }

    fn stories(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<StoryRecord>> {
        self.run_with(false, move |transaction| {
            let mut statement =
                transaction.prepare_cached("SELECT seq, state FROM stories WHERE story_key = ?1")?;
            let mut found = Vec::new();
            for key in keys {
                let row =
                    statement.query_row(params![key], |row| Ok((row.get(0)?, row.get(1)?))).optional()?;
                if let Some((seq, state)) = row {
                    found.push(StoryRecord { key, seq, state });
                }
            }
            Ok(found)
        })
    }

    fn card(&self, channel: &str, key: &str, recent: usize) -> StoreFuture<'_, CardSource> {
        let (channel, key) = (channel.to_owned(), key.to_owned());
        self.run_with(false, move |transaction| {
            let state = transaction
                .prepare_cached("SELECT state FROM stories WHERE story_key = ?1")?
                .query_row(params![key], |row| row.get(0))
                .optional()?;
            let shown = transaction
                .prepare_cached("SELECT card_hash FROM threads WHERE channel = ?1 AND thread_key = ?2")?
                .query_row(params![channel, key], |row| row.get(0))
                .optional()?
                .flatten();
            let mut statement = transaction.prepare_cached(
                "SELECT p.part FROM deliveries d JOIN parts p ON p.delivery_id = d.id
                 WHERE d.channel = ?1 AND d.thread_key = ?2 ORDER BY d.id DESC, p.id DESC LIMIT ?3",
            )?;
            let recent = statement
                .query_map(params![channel, key, recent as i64], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(CardSource { state, recent, shown })
        })
    }

    fn parts(&self, delivery: i64) -> StoreFuture<'_, Vec<String>> {
        self.run_with(false, move |transaction| {
            let mut statement =
                transaction.prepare_cached("SELECT part FROM parts WHERE delivery_id = ?1 ORDER BY id")?;
            let rows = statement.query_map(params![delivery], |row| row.get(0))?;
            rows.collect()
        })
    }

    fn rendered(&self, delivery: i64, outcome: Result<String, String>) -> StoreFuture<'_, ()> {
        self.run_with(false, move |transaction| {
            match outcome {
                Ok(body) => transaction
                    .prepare_cached("UPDATE deliveries SET body = ?2, render_error = NULL WHERE id = ?1")?
                    .execute(params![delivery, body])?,
                Err(error) => transaction
                    .prepare_cached(
                        "UPDATE deliveries SET status = 'dead', render_error = ?2, last_error = ?2 WHERE id = ?1",
                    )?
                    .execute(params![delivery, error])?,
            };
            Ok(())
        })
    }

    fn finish_attempt(&self, delivery: i64, attempt: Attempt, resolution: Resolution) -> StoreFuture<'_, ()> {
        self.run_with(false, move |transaction| record_attempt(transaction, delivery, &attempt, resolution))
    }

    fn finish_attempts(&self, records: Vec<(i64, Attempt, Resolution)>) -> StoreFuture<'_, ()> {
        self.run_with(false, move |transaction| {
            for (delivery, attempt, resolution) in &records {
                record_attempt(transaction, *delivery, attempt, *resolution)?;
            }
            Ok(())
        })
    }

    fn pending_batch(&self, channel: &str, limit: usize) -> StoreFuture<'_, Vec<Delivery>> {
        let channel = channel.to_owned();
        self.run_with(false, move |transaction| pending(transaction, &channel, limit))
    }

    fn record_and_claim(
        &self,
        channel: &str,
        finished: Vec<(i64, Attempt, Resolution)>,
        limit: usize,
    ) -> StoreFuture<'_, Claim> {
        let channel = channel.to_owned();
        // One operation, so one wait for the writer thread instead of three.
        self.run_with(false, move |transaction| {
            for (delivery, attempt, resolution) in &finished {
                record_attempt(transaction, *delivery, attempt, *resolution)?;
            }
            let pause = pause_of(transaction, &channel)?;
            Ok(Claim { pause, pending: pending(transaction, &channel, limit)? })
        })
    }

    fn deliveries(&self, filter: DeliveryFilter) -> StoreFuture<'_, Vec<Delivery>> {
        self.run_with(false, move |transaction| {
            let mut statement = transaction.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq
                 WHERE (?1 IS NULL OR d.status = ?1) AND (?2 IS NULL OR d.channel = ?2)
                   AND (?4 IS NULL OR e.event_id = ?4)
                 ORDER BY d.id DESC LIMIT ?3"
            ))?;
            let limit = if filter.limit == 0 { -1 } else { filter.limit as i64 };
            let rows = statement.query_map(
                params![filter.status.map(DeliveryStatus::as_str), filter.channel, limit, filter.event_id],
                delivery_from_row,
            )?;
            rows.collect()
        })
    }

    fn attempts(&self, delivery: i64) -> StoreFuture<'_, Vec<Attempt>> {
        self.run_with(false, move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT at, status, error, latency_ms FROM attempts WHERE delivery_id = ?1 ORDER BY id",
            )?;
            let rows = statement.query_map(params![delivery], |row| {
                Ok(Attempt {
                    at: row.get(0)?,
                    status: row.get(1)?,
                    error: row.get(2)?,
                    latency_ms: row.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    fn replay(&self, which: Replay) -> StoreFuture<'_, usize> {
        self.run(move |transaction| {
            let now = now_millis();
            // A template failure has no body: emptied, it is rendered again when sent.
            let requeue = "UPDATE deliveries SET status = 'pending', next_attempt_at = ?1, queued_at = ?1, failures = 0,
                           body = CASE WHEN render_error IS NULL THEN body ELSE '' END, render_error = NULL";
            match which {
                Replay::Ids(ids) => {
                    let mut statement = transaction.prepare_cached(&format!("{requeue} WHERE id = ?2"))?;
                    let mut count = 0;
                    for id in ids {
                        count += statement.execute(params![now, id])?;
                    }
                    Ok(count)
                }
                Replay::Dead { channel, since } => transaction.execute(
                    &format!(
                        "{requeue} WHERE status = 'dead' AND (?2 IS NULL OR channel = ?2)
                         AND (?3 IS NULL OR created_at >= ?3)"
                    ),
                    params![now, channel, since],
                ),
            }
        })
    }

    fn prune(&self, before: i64) -> StoreFuture<'_, usize> {
        self.run(move |transaction| {
            transaction.execute(
                "DELETE FROM attempts WHERE delivery_id IN
                   (SELECT id FROM deliveries WHERE status = 'delivered' AND delivered_at < ?1)",
                params![before],
            )?;
            transaction.execute(
                "DELETE FROM parts WHERE delivery_id IN
                   (SELECT id FROM deliveries WHERE status = 'delivered' AND delivered_at < ?1)",
                params![before],
            )?;
            let deliveries = transaction.execute(
                "DELETE FROM deliveries WHERE status = 'delivered' AND delivered_at < ?1",
                params![before],
            )?;
            // An event leaves with its last message, and only once routed. Its
            // ledger rows go with it; while it stays, they keep a reroute from
            // sending its pruned messages again.
            transaction.execute(
                "DELETE FROM routes WHERE event_seq IN (SELECT seq FROM events WHERE received_at < ?1
                   AND seq <= (SELECT routed_through FROM router)
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq))",
                params![before],
            )?;
            transaction.execute(
                "DELETE FROM events WHERE received_at < ?1 AND seq <= (SELECT routed_through FROM router)
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)",
                params![before],
            )?;
            Ok(deliveries)
        })
    }

    fn pause_channel(&self, channel: &str, pause: Pause) -> StoreFuture<'_, ()> {
        let channel = channel.to_owned();
        self.run(move |transaction| {
            transaction.execute(
                "INSERT INTO channel_pauses (channel, url_fingerprint, reason, paused_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (channel) DO UPDATE SET url_fingerprint = ?2, reason = ?3, paused_at = ?4",
                params![channel, pause.url_fingerprint, pause.reason, now_millis()],
            )?;
            Ok(())
        })
    }

    fn resume_channel(&self, channel: &str) -> StoreFuture<'_, ()> {
        let channel = channel.to_owned();
        self.run(move |transaction| {
            transaction.execute("DELETE FROM channel_pauses WHERE channel = ?1", params![channel])?;
            Ok(())
        })
    }

    fn channel_pause(&self, channel: &str) -> StoreFuture<'_, Option<Pause>> {
        let channel = channel.to_owned();
        self.run_with(false, move |transaction| pause_of(transaction, &channel))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        // Ready means a durable write commits: a read succeeds on a read-only,
        // full or deleted store too.
        self.run(|transaction| {
            transaction.execute("UPDATE router SET routed_through = routed_through WHERE id = 1", [])?;
            Ok(())
        })
    }

    fn release_digests(&self, which: Release) -> StoreFuture<'_, Released> {
        // Durable: a released digest is a message owed.
        self.run(move |transaction| release(transaction, &which, now_millis()))
    }

    fn held_digest(&self, channel: &str) -> StoreFuture<'_, Option<HeldDigest>> {
        let channel = channel.to_owned();
        self.run_with(false, move |transaction| {
            let due: Option<Millis> = transaction
                .prepare_cached(
                    "SELECT MIN(digest_due) FROM deliveries WHERE channel = ?1 AND status = 'pending' AND held_until = ?2",
                )?
                .query_row(params![channel, HELD], |row| row.get(0))?;
            let Some(due) = due else { return Ok(None) };
            let mut statement = transaction.prepare_cached(
                "SELECT p.part FROM deliveries d JOIN parts p ON p.delivery_id = d.id
                 WHERE d.channel = ?1 AND d.status = 'pending' AND d.held_until = ?2 ORDER BY d.id, p.id",
            )?;
            let parts = statement.query_map(params![channel, HELD], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(Some(HeldDigest { due, parts }))
        })
    }

    fn digest_items(&self) -> StoreFuture<'_, Vec<(String, i64)>> {
        self.run_with(false, move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT d.channel, COUNT(*) FROM deliveries d JOIN parts p ON p.delivery_id = d.id
                 WHERE d.status = 'pending' AND d.held_until = ?1 GROUP BY d.channel",
            )?;
            let rows = statement.query_map(params![HELD], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
    }

    fn queue_stats(&self) -> StoreFuture<'_, Vec<QueueStats>> {
        self.run_with(false, |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT channel, COUNT(*), MIN(created_at) FROM deliveries
                 WHERE status = 'pending' AND (held_until IS NULL OR held_until < ?1) GROUP BY channel",
            )?;
            let rows = statement.query_map(params![HELD], |row| {
                Ok(QueueStats { channel: row.get(0)?, pending: row.get(1)?, oldest_created_at: row.get(2)? })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod plans {
    use super::*;

    fn plan(connection: &Connection, sql: &str) -> String {
        let mut statement = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let unbound = [rusqlite::types::Null; 3];
        let count = statement.parameter_count();
        let details = statement
            .query_map(rusqlite::params_from_iter(&unbound[..count]), |row| row.get::<_, String>(3))
            .unwrap();
        details.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn plans_use_the_partial_indexes() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        assert!(
            plan(&connection, &claim_sql()).contains("INDEX deliveries_pending"),
            "{}",
            plan(&connection, &claim_sql())
        );
        assert!(
            plan(&connection, OPEN_BURST_SQL).contains("INDEX deliveries_held"),
            "{}",
            plan(&connection, OPEN_BURST_SQL)
        );
        let dead = "SELECT id FROM deliveries WHERE status = 'dead' AND channel = 'x'";
        assert!(plan(&connection, dead).contains("INDEX deliveries_dead"), "{}", plan(&connection, dead));
    }

    #[test]
    fn a_version_2_database_keeps_its_queue_through_the_migration() {
        let mut connection = Connection::open_in_memory().unwrap();
        for migration in &crate::store::schema::MIGRATIONS[..2] {
            connection.execute_batch(migration).unwrap();
        }
        connection.pragma_update(None, "user_version", 2).unwrap();
        connection
            .execute_batch(
                "INSERT INTO events (seq, source, event_id, received_at, headers, body) VALUES (1, 's', 'e', 0, '{}', x'7b7d');
                 INSERT INTO deliveries (event_seq, change_index, rule, channel, body, status, next_attempt_at, queued_at, created_at)
                 VALUES (1, 0, 'r', 'team', '{}', 'pending', 0, 0, 0), (1, 0, 'r', 'team', '{}', 'delivered', 0, 0, 0);",
            )
            .unwrap();

        migrate(&mut connection).unwrap();

        let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, crate::store::schema::MIGRATIONS.len() as i64);
        let mut claim = connection.prepare(&claim_sql()).unwrap();
        let pending: Vec<i64> =
            claim.query_map(params!["team", 0, 10], |row| row.get(0)).unwrap().map(Result::unwrap).collect();
        assert_eq!(pending, [1]);
    }
}
