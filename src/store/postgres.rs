//! PostgreSQL: the same store for bridges that share one database
//! (`storage: postgres://user@host:port/db`). Every operation is one
//! transaction on a pooled connection (deadpool). Where SQLite keeps one
//! writer and a router position, concurrent transactions here can commit out
//! of `seq` order, so each event carries its own `routed` mark: an event
//! committed after a later one was routed is still found and routed.
//!
//! Migrations run at open, under an advisory lock, so bridges starting
//! together migrate once. TLS follows `sslmode` (rustls, the Mozilla roots);
//! the password may come from the URL or `PGPASSWORD`.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Row;

use super::{
    now_millis, Accepted, Attempt, CardSource, Claim, Delivery, DeliveryFilter, DeliveryStatus, DigestMark,
    EventRoutes, EventSelection, HeldDigest, Millis, NewDelivery, NewEvent, Pause, Plan, QueueStats, Queued,
    Release, Released, Replay, Resolution, Store, StoreError, StoreFuture, StoredEvent, StoryRecord,
    ThreadRoot, Wakeup, BRIDGE_SOURCE,
};

mod cached;
mod io;
mod leases;
mod listen;
mod schema;
mod tls;

use cached::Cached;
use leases::Leases;

/// `held_until` of a digest still collecting: later than any time.
const HELD: Millis = Millis::MAX;

/// How long an operation waits for a connection, or to make one, before the
/// store counts as unavailable (ingest answers 503 rather than hanging).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const DELIVERY_COLUMNS: &str =
    "d.id, e.event_id, e.source, d.rule, d.channel, d.body, d.status, d.attempts, \
     d.failures, d.next_attempt_at, d.queued_at, d.created_at, d.delivered_at, d.last_status, d.last_error, \
     d.template, d.render_error, d.thread_key, d.digest_due, d.digest_late";

const ROUTE_COLUMNS: &str = "(event_seq, change_index, rule, channel, delivery_id)";

const EVENT_COLUMNS: &str = "seq, source, event_id, received_at, content_type, headers, body";

pub struct PostgresStore {
    pool: Pool,
    connect: Connect,
    leases: std::sync::Arc<Leases>,
    routing_note: listen::RoutingNote,
    io: io::IoThread,
}

/// What connecting takes: the URL's settings (the password from
/// `PGPASSWORD` when the URL has none) and TLS as its `sslmode` says.
#[derive(Clone)]
pub struct Connect {
    pub config: tokio_postgres::Config,
    pub tls: tokio_postgres_rustls::MakeRustlsConnect,
}

pub fn connect_of(url: &str) -> Result<Connect, StoreError> {
    let refused = |message: String| StoreError::Open { path: redacted(url), message };
    let (url_for_driver, verify) = tls::read_sslmode(url).map_err(refused)?;
    let mut config = tokio_postgres::Config::from_str(&url_for_driver).map_err(|error| {
        refused(format!("not a PostgreSQL URL ({error}): expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]"))
    })?;
    if config.get_password().is_none() {
        if let Ok(password) = std::env::var("PGPASSWORD") {
            config.password(password);
        }
    }
    config.connect_timeout(CONNECT_TIMEOUT);
    Ok(Connect { config, tls: tls::connector(verify) })
}

/// The URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "the storage URL".into(),
    }
}

fn query_error(error: tokio_postgres::Error) -> StoreError {
    StoreError::Query(error.to_string())
}

fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Query(format!("no PostgreSQL connection: {error}"))
}

impl PostgresStore {
    /// Opens the pool and migrates the schema (on a thread of its own, so it
    /// works whether or not the caller runs in a tokio runtime).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let connect = connect_of(url)?;
        let migrate_with = connect.clone();
        let listen_with = connect.clone();
        let name = redacted(url);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime =
                        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(
                            |error| StoreError::Open { path: name.clone(), message: error.to_string() },
                        )?;
                    runtime
                        .block_on(schema::migrate(&migrate_with))
                        .map_err(|message| StoreError::Open { path: name.clone(), message })
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(StoreError::Open { path: name.clone(), message: "migration panicked".into() })
                })
        })?;
        let io = io::IoThread::start()
            .map_err(|error| StoreError::Open { path: name.clone(), message: error.to_string() })?;
        let manager = Manager::from_connect(
            connect.config.clone(),
            io::OnIoThread { connect, handle: io.handle.clone() },
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|error| StoreError::Open { path: redacted(url), message: error.to_string() })?;
        let leases = Leases::new(io.handle.clone());
        let routing_note = listen::RoutingNote::start(pool.clone(), &io.handle);
        Ok(PostgresStore { pool, connect: listen_with, leases, routing_note, io })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// The token of lease `name` if this bridge holds it: taken from the
    /// database unless this bridge holds it with time to spare (the renewer
    /// keeps it), which spares a committed write per batch.
    async fn lease(&self, name: &str) -> Result<Option<i64>, StoreError> {
        if self.leases.owns(name) {
            return Ok(self.leases.token(name));
        }
        let client = self.client().await?;
        self.leases.acquire(&client, &self.pool, name).await
    }

    /// The router's commit goes in only under the lease it routed under (or,
    /// routed without one, when no other bridge holds it): a router that
    /// stalled past its lease leaves the batch to the replica routing now.
    async fn fence_router(&self, tx: &impl GenericClient) -> Result<(), StoreError> {
        let row = tx
            .row_opt(
                &format!(
                    "SELECT owner, token, until >= {} FROM leases WHERE name = $1 FOR UPDATE",
                    leases::DB_NOW
                ),
                &[&leases::ROUTER],
            )
            .await
            .map_err(query_error)?;
        let mine = self.leases.token(leases::ROUTER);
        let current = row.map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1), row.get::<_, bool>(2)));
        let fenced_in = match (current, mine) {
            (Some((owner, token, _)), Some(mine)) => owner == self.leases.owner && token == mine,
            (Some((owner, _, live)), None) => owner == self.leases.owner || !live,
            (None, mine) => mine.is_none(),
        };
        match fenced_in {
            true => Ok(()),
            false => {
                Err(StoreError::Superseded("another bridge routes now; this batch is left to it".into()))
            }
        }
    }
}

/// Runs `work` in one transaction on a pooled connection.
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = client.transaction().await.map_err(query_error)?;
        let value = $body;
        $tx.commit().await.map_err(query_error)?;
        Ok(value)
    }};
}

fn event_from_row(row: &Row) -> StoredEvent {
    StoredEvent {
        seq: row.get(0),
        event: NewEvent {
            source: row.get(1),
            event_id: row.get(2),
            received_at: row.get(3),
            content_type: row.get(4),
            headers: row.get(5),
            body: row.get(6),
        },
    }
}

fn delivery_from_row(row: &Row) -> Delivery {
    let status: String = row.get(6);
    let attempts: i32 = row.get(7);
    let failures: i32 = row.get(8);
    let last_status: Option<i32> = row.get(13);
    let digest_due: Option<Millis> = row.get(18);
    let digest_late: Option<bool> = row.get(19);
    Delivery {
        id: row.get(0),
        event_id: row.get(1),
        source: row.get(2),
        rule: row.get(3),
        channel: row.get(4),
        body: row.get(5),
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Pending),
        attempts: attempts.max(0) as u32,
        failures: failures.max(0) as u32,
        next_attempt_at: row.get(9),
        queued_at: row.get(10),
        created_at: row.get(11),
        delivered_at: row.get(12),
        last_status: last_status.map(|status| status.clamp(0, u16::MAX as i32) as u16),
        last_error: row.get(14),
        template: row.get(15),
        render_error: row.get(16),
        thread_key: row.get(17),
        digest: digest_due.map(|due| DigestMark { due, late: digest_late.unwrap_or(false) }),
    }
}

async fn record_attempt(
    tx: &impl GenericClient,
    delivery: i64,
    attempt: &Attempt,
    resolution: Resolution,
) -> Result<(), StoreError> {
    let status = attempt.status.map(i32::from);
    tx.run(
        "INSERT INTO attempts (delivery_id, at, status, error, latency_ms) VALUES ($1, $2, $3, $4, $5)",
        &[&delivery, &attempt.at, &status, &attempt.error, &attempt.latency_ms],
    )
    .await
    .map_err(query_error)?;
    let (state, next_at, failed, delivered_at) = resolved(attempt, resolution);
    tx.run(
        "UPDATE deliveries SET status = $2, next_attempt_at = $3, attempts = attempts + 1,
                failures = failures + $4, delivered_at = $5, last_status = $6, last_error = $7
         WHERE id = $1",
        &[&delivery, &state, &next_at, &failed, &delivered_at, &status, &attempt.error],
    )
    .await
    .map_err(query_error)?;
    Ok(())
}

/// Records `finished` in two statements whatever their number (a channel's
/// batch is one round trip per statement, not two per message); attempts of
/// one delivery repeated in it are recorded one by one, in order.
async fn record_attempts(
    tx: &impl GenericClient,
    finished: &[(i64, Attempt, Resolution)],
) -> Result<(), StoreError> {
    let mut ids = std::collections::HashSet::new();
    if finished.len() < 2 || !finished.iter().all(|(delivery, _, _)| ids.insert(*delivery)) {
        for (delivery, attempt, resolution) in finished {
            record_attempt(tx, *delivery, attempt, *resolution).await?;
        }
        return Ok(());
    }
    let ids: Vec<i64> = finished.iter().map(|(delivery, _, _)| *delivery).collect();
    let at: Vec<i64> = finished.iter().map(|(_, attempt, _)| attempt.at).collect();
    let status: Vec<Option<i32>> =
        finished.iter().map(|(_, attempt, _)| attempt.status.map(i32::from)).collect();
    let error: Vec<Option<String>> = finished.iter().map(|(_, attempt, _)| attempt.error.clone()).collect();
    let latency: Vec<i64> = finished.iter().map(|(_, attempt, _)| attempt.latency_ms).collect();
    tx.run(
        "INSERT INTO attempts (delivery_id, at, status, error, latency_ms)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::bigint[])",
        &[&ids, &at, &status, &error, &latency],
    )
    .await
    .map_err(query_error)?;
    let mut state = Vec::with_capacity(finished.len());
    let mut next_at = Vec::with_capacity(finished.len());
    let mut failed = Vec::with_capacity(finished.len());
    let mut delivered_at = Vec::with_capacity(finished.len());
    for (_, attempt, resolution) in finished {
        let (to, next, failure, delivered) = resolved(attempt, *resolution);
        state.push(to);
        next_at.push(next);
        failed.push(failure);
        delivered_at.push(delivered);
    }
    tx.run(
        "UPDATE deliveries d SET status = u.status, next_attempt_at = u.next_at, attempts = d.attempts + 1,
                failures = d.failures + u.failed, delivered_at = u.delivered_at, last_status = u.last_status,
                last_error = u.last_error
         FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::int[], $5::bigint[], $6::int[], $7::text[])
              AS u(id, status, next_at, failed, delivered_at, last_status, last_error)
         WHERE d.id = u.id",
        &[&ids, &state, &next_at, &failed, &delivered_at, &status, &error],
    )
    .await
    .map_err(query_error)?;
    Ok(())
}

/// A delivery's status, next attempt, failure count and delivery time after `attempt`.
fn resolved(attempt: &Attempt, resolution: Resolution) -> (&'static str, Millis, i32, Option<Millis>) {
    match resolution {
        Resolution::Delivered => ("delivered", attempt.at, 0, Some(attempt.at)),
        Resolution::Retry { at, failed } => ("pending", at, failed as i32, None),
        Resolution::Dead => ("dead", attempt.at, 1, None),
    }
}

async fn pause_of(tx: &impl GenericClient, channel: &str) -> Result<Option<Pause>, StoreError> {
    let row = tx
        .row_opt("SELECT url_fingerprint, reason FROM channel_pauses WHERE channel = $1", &[&channel])
        .await
        .map_err(query_error)?;
    Ok(row.map(|row| Pause { url_fingerprint: row.get(0), reason: row.get(1) }))
}

async fn pending(tx: &impl GenericClient, channel: &str, limit: usize) -> Result<Vec<Delivery>, StoreError> {
    let rows = tx
        .rows(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq
                 WHERE d.channel = $1 AND d.status = 'pending' AND (d.held_until IS NULL OR d.held_until <= $2)
                 ORDER BY d.id LIMIT $3"
            ),
            &[&channel, &now_millis(), &(limit as i64)],
        )
        .await
        .map_err(query_error)?;
    Ok(rows.iter().map(delivery_from_row).collect())
}

/// Where a route's message went when it was committed (as in `sqlite.rs`).
enum Committed {
    New,
    JoinedBurst,
    Requeued,
    Collected,
}

fn count(queued: &mut Queued, delivery: &NewDelivery, committed: Committed) {
    match (&delivery.plan, committed) {
        (Plan::Failed { .. }, _) => queued.failed += 1,
        (_, Committed::JoinedBurst | Committed::Collected) => queued.coalesced += 1,
        (_, due) => {
            match due {
                Committed::Requeued => queued.requeued += 1,
                _ => queued.queued += 1,
            }
            queued.channels.insert(delivery.channel.clone());
        }
    }
}

/// `routed_before`: the ledger holds routes of this event already (a
/// reroute, or routing again after a crash), so each is looked up first.
async fn commit_event_routes(
    tx: &impl GenericClient,
    routes: &EventRoutes,
    routed_before: bool,
    now: Millis,
) -> Result<Queued, StoreError> {
    let mut queued = Queued { seq: routes.seq, ..Default::default() };
    for delivery in &routes.deliveries {
        let change_index = delivery.change_index as i32;
        let existing = match routed_before {
            false => None,
            true => tx
                .row_opt(
                    "SELECT r.delivery_id, d.status FROM routes r LEFT JOIN deliveries d ON d.id = r.delivery_id
                     WHERE r.event_seq = $1 AND r.change_index = $2 AND r.rule = $3 AND r.channel = $4",
                    &[&routes.seq, &change_index, &delivery.rule, &delivery.channel],
                )
                .await
                .map_err(query_error)?
                .map(|row| (row.get::<_, i64>(0), row.get::<_, Option<String>>(1))),
        };
        match existing {
            Some((_, status)) if status.as_deref() != Some("dead") => queued.already += 1,
            Some((id, _)) => {
                requeue_dead(tx, id, delivery, now).await?;
                count(&mut queued, delivery, Committed::Requeued);
            }
            None => {
                let (id, committed) = insert_delivery(tx, routes.seq, delivery, now).await?;
                if !matches!(committed, Committed::New) {
                    // A new delivery wrote its ledger row with it; one joined writes it here.
                    tx.run(
                        &format!("INSERT INTO routes {ROUTE_COLUMNS} VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"),
                        &[&routes.seq, &change_index, &delivery.rule, &delivery.channel, &id],
                    )
                    .await
                    .map_err(query_error)?;
                }
                count(&mut queued, delivery, committed);
            }
        }
    }
    for story in &routes.stories {
        tx.run(
            "INSERT INTO stories (story_key, seq, state, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (story_key) DO UPDATE SET seq = $2, state = $3, updated_at = $4
             WHERE excluded.seq > stories.seq",
            &[&story.key, &story.seq, &story.state, &now],
        )
        .await
        .map_err(query_error)?;
    }
    Ok(queued)
}

async fn insert_delivery(
    tx: &impl GenericClient,
    seq: i64,
    delivery: &NewDelivery,
    now: Millis,
) -> Result<(i64, Committed), StoreError> {
    match &delivery.plan {
        Plan::Digest { due, period, part } => return collect(tx, delivery, *due, period, part, now).await,
        Plan::Burst { key, part, .. } => {
            let open = tx
                .row_opt(
                    "SELECT id FROM deliveries WHERE coalesce_key = $1 AND status = 'pending' AND attempts = 0
                     AND held_until > $2 ORDER BY id LIMIT 1",
                    &[key, &now],
                )
                .await
                .map_err(query_error)?;
            if let Some(row) = open {
                let id: i64 = row.get(0);
                add_part(tx, id, part).await?;
                tx.run("UPDATE deliveries SET body = '' WHERE id = $1", &[&id]).await.map_err(query_error)?;
                return Ok((id, Committed::JoinedBurst));
            }
        }
        _ => {}
    }
    let (body, status, key, held_until, error, part) = match &delivery.plan {
        Plan::Body(body) => (body.as_str(), "pending", None, None, None, delivery.context.as_ref()),
        Plan::Failed { error, part } => ("", "dead", None, None, Some(error), Some(part)),
        Plan::Burst { key, hold_until, part } => {
            ("", "pending", Some(key), Some(*hold_until), None, Some(part))
        }
        Plan::Digest { .. } => unreachable!("collected above"),
    };
    let change_index = delivery.change_index as i32;
    // The delivery and its ledger row in one statement (one round trip). Two
    // bridges routing the same event race on the ledger; its key keeps one.
    let id: i64 = tx
        .row(
            &format!(
                "WITH delivery AS (
                     INSERT INTO deliveries (event_seq, change_index, rule, channel, body, status, next_attempt_at,
                                             queued_at, created_at, coalesce_key, held_until, template, render_error,
                                             last_error, thread_key)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8, $9, $10, $11, $11, $12) RETURNING id),
                 ledger AS (
                     INSERT INTO routes {ROUTE_COLUMNS} SELECT $1, $2, $3, $4, id FROM delivery ON CONFLICT DO NOTHING)
                 SELECT id FROM delivery"
            ),
            &[
                &seq,
                &change_index,
                &delivery.rule,
                &delivery.channel,
                &body,
                &status,
                &now,
                &key,
                &held_until,
                &delivery.template,
                &error,
                &delivery.thread_key,
            ],
        )
        .await
        .map_err(query_error)?
        .get(0);
    if let Some(part) = part {
        add_part(tx, id, part).await?;
    }
    Ok((id, Committed::New))
}

async fn collect(
    tx: &impl GenericClient,
    delivery: &NewDelivery,
    due: Millis,
    period: &str,
    part: &str,
    now: Millis,
) -> Result<(i64, Committed), StoreError> {
    let held = tx
        .row_opt(
            "SELECT id FROM deliveries WHERE channel = $1 AND digest_due = $2 AND status = 'pending'
             AND held_until = $3 ORDER BY id LIMIT 1",
            &[&delivery.channel, &due, &HELD],
        )
        .await
        .map_err(query_error)?;
    let id = match held {
        Some(row) => row.get(0),
        None => {
            open_digest(tx, &delivery.channel, &delivery.template, due, period, now, Some(HELD), false)
                .await?
        }
    };
    add_part(tx, id, part).await?;
    Ok((id, Committed::Collected))
}

#[allow(clippy::too_many_arguments)]
async fn open_digest(
    tx: &impl GenericClient,
    channel: &str,
    template: &str,
    due: Millis,
    period: &str,
    now: Millis,
    held_until: Option<Millis>,
    late: bool,
) -> Result<i64, StoreError> {
    tx.run(
        "INSERT INTO events (source, event_id, received_at, content_type, headers, body)
         VALUES ($1, $2, $3, NULL, '{}', '\\x') ON CONFLICT (source, event_id) DO NOTHING",
        &[&BRIDGE_SOURCE, &period, &now],
    )
    .await
    .map_err(query_error)?;
    let seq: i64 = tx
        .row("SELECT seq FROM events WHERE source = $1 AND event_id = $2", &[&BRIDGE_SOURCE, &period])
        .await
        .map_err(query_error)?
        .get(0);
    let id: i64 = tx
        .row(
            "INSERT INTO deliveries (event_seq, change_index, rule, channel, body, status, next_attempt_at,
                                     queued_at, created_at, held_until, template, digest_due, digest_late)
             VALUES ($1, 0, 'digest', $2, '', 'pending', $3, $3, $3, $4, $5, $6, $7) RETURNING id",
            &[&seq, &channel, &now, &held_until, &template, &due, &late],
        )
        .await
        .map_err(query_error)?
        .get(0);
    Ok(id)
}

async fn requeue_dead(
    tx: &impl GenericClient,
    id: i64,
    delivery: &NewDelivery,
    now: Millis,
) -> Result<(), StoreError> {
    let (body, status, error) = match &delivery.plan {
        Plan::Body(body) => (body.as_str(), "pending", None),
        Plan::Failed { error, .. } => ("", "dead", Some(error)),
        Plan::Burst { .. } | Plan::Digest { .. } => ("", "pending", None),
    };
    let part = match &delivery.plan {
        Plan::Failed { part, .. } => Some(part),
        Plan::Body(_) => delivery.context.as_ref(),
        Plan::Burst { .. } | Plan::Digest { .. } => None,
    };
    if let Some(part) = part {
        tx.run("DELETE FROM parts WHERE delivery_id = $1", &[&id]).await.map_err(query_error)?;
        add_part(tx, id, part).await?;
    }
    tx.run(
        "UPDATE deliveries SET body = $2, status = $3, template = $4, render_error = $5,
                last_error = COALESCE($5, last_error), next_attempt_at = $6, queued_at = $6, failures = 0
         WHERE id = $1",
        &[&id, &body, &status, &delivery.template, &error, &now],
    )
    .await
    .map_err(query_error)?;
    Ok(())
}

async fn add_part(tx: &impl GenericClient, delivery: i64, part: &str) -> Result<(), StoreError> {
    tx.run("INSERT INTO parts (delivery_id, part) VALUES ($1, $2)", &[&delivery, &part])
        .await
        .map_err(query_error)?;
    Ok(())
}

async fn release(tx: &impl GenericClient, release: &Release, now: Millis) -> Result<Released, StoreError> {
    let late = |due: Millis| release.now - due > release.late_after;
    let due: Vec<(i64, Millis)> = tx
        .rows(
            "SELECT id, digest_due FROM deliveries WHERE channel = $1 AND status = 'pending'
             AND held_until = $2 AND digest_due <= $3 FOR UPDATE",
            &[&release.channel, &HELD, &release.due_by],
        )
        .await
        .map_err(query_error)?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut released = Released::default();
    for (id, due) in due {
        tx.run(
            "UPDATE deliveries SET held_until = NULL, next_attempt_at = $2, queued_at = $2, digest_late = $3
             WHERE id = $1",
            &[&id, &now, &late(due)],
        )
        .await
        .map_err(query_error)?;
        released.digests += 1;
        released.late += late(due) as usize;
    }
    let Some((due, period)) = &release.empty else { return Ok(released) };
    let through: Option<Millis> = tx
        .row_opt("SELECT through FROM digest_schedules WHERE channel = $1 FOR UPDATE", &[&release.channel])
        .await
        .map_err(query_error)?
        .map(|row| row.get(0));
    tx.run(
        "INSERT INTO digest_schedules (channel, through) VALUES ($1, $2)
         ON CONFLICT (channel) DO UPDATE SET through = GREATEST(digest_schedules.through, $2)",
        &[&release.channel, due],
    )
    .await
    .map_err(query_error)?;
    let claimed = through.is_some_and(|through| through < *due);
    let collected: bool = tx
        .row(
            "SELECT EXISTS (SELECT 1 FROM events WHERE source = $1 AND event_id = $2)",
            &[&BRIDGE_SOURCE, period],
        )
        .await
        .map_err(query_error)?
        .get(0);
    if claimed && !collected {
        open_digest(tx, &release.channel, &release.template, *due, period, now, None, late(*due)).await?;
        released.digests += 1;
        released.late += late(*due) as usize;
    }
    Ok(released)
}

impl Store for PostgresStore {
    fn accept(&self, event: NewEvent) -> StoreFuture<'_, Accepted> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .row_opt(
                    "INSERT INTO events (source, event_id, received_at, content_type, headers, body)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, event_id) DO NOTHING RETURNING seq",
                    &[
                        &event.source,
                        &event.event_id,
                        &event.received_at,
                        &event.content_type,
                        &event.headers,
                        &event.body,
                    ],
                )
                .await
                .map_err(query_error)?;
            Ok(match row {
                Some(row) => {
                    // The router's holder, on whichever replica, hears of it at once.
                    self.routing_note.ring();
                    Accepted::Inserted { seq: row.get(0) }
                }
                None => Accepted::Duplicate,
            })
        })
    }

    fn unrouted(&self, limit: usize, max_bytes: usize) -> StoreFuture<'_, Vec<StoredEvent>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .rows(
                    &format!(
                        "SELECT {EVENT_COLUMNS} FROM (
                             SELECT *, (SUM(length(body)) OVER (ORDER BY seq) - length(body))::bigint AS before,
                                    ROW_NUMBER() OVER (ORDER BY seq) AS position
                             FROM events WHERE NOT routed ORDER BY seq LIMIT $1) batch
                         WHERE position = 1 OR before < $2 ORDER BY seq"
                    ),
                    &[&(limit as i64), &(max_bytes as i64)],
                )
                .await
                .map_err(query_error)?;
            Ok(rows.iter().map(event_from_row).collect())
        })
    }

    fn commit_routes(&self, routes: Vec<EventRoutes>, routed: bool) -> StoreFuture<'_, Vec<Queued>> {
        Box::pin(async move {
            transaction!(self, |tx| {
                if routed {
                    self.fence_router(&tx).await?;
                }
                let now = now_millis();
                let seqs: Vec<i64> = routes.iter().map(|event| event.seq).collect();
                let routed_before: std::collections::HashSet<i64> = tx
                    .rows("SELECT DISTINCT event_seq FROM routes WHERE event_seq = ANY($1)", &[&seqs])
                    .await
                    .map_err(query_error)?
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                let mut queued = Vec::with_capacity(routes.len());
                for event in &routes {
                    let before = routed_before.contains(&event.seq);
                    queued.push(commit_event_routes(&tx, event, before, now).await?);
                }
                if routed {
                    tx.run("UPDATE events SET routed = true WHERE seq = ANY($1)", &[&seqs])
                        .await
                        .map_err(query_error)?;
                }
                // Whichever replica holds a channel hears of its new messages.
                let channels: std::collections::BTreeSet<&String> =
                    queued.iter().flat_map(|queued: &Queued| &queued.channels).collect();
                for channel in channels {
                    tx.run("SELECT pg_notify('storybridge', 'queued:' || $1)", &[channel])
                        .await
                        .map_err(query_error)?;
                }
                queued
            })
        })
    }

    fn claim_unrouted(&self, limit: usize, max_bytes: usize) -> StoreFuture<'_, Vec<StoredEvent>> {
        Box::pin(async move {
            match self.lease(leases::ROUTER).await? {
                Some(_) => self.unrouted(limit, max_bytes).await,
                None => Ok(Vec::new()),
            }
        })
    }

    fn owns_channel(&self, channel: &str) -> bool {
        self.leases.owns(&leases::channel(channel))
    }

    fn release_leases(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            self.leases.release(&client).await
        })
    }

    fn listen(&self, wake: std::sync::Arc<dyn Fn(Wakeup) + Send + Sync>) {
        self.io.handle.spawn(listen::run(
            self.connect.clone(),
            std::sync::Arc::downgrade(&self.leases),
            wake,
        ));
    }

    fn stored_events(&self, which: EventSelection) -> StoreFuture<'_, Vec<StoredEvent>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = match which {
                EventSelection::Ids(ids) => client
                    .rows(
                        &format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ANY($1) ORDER BY seq"),
                        &[&ids],
                    )
                    .await
                    .map_err(query_error)?,
                EventSelection::Since { since, source } => client
                    .rows(
                        &format!(
                            "SELECT {EVENT_COLUMNS} FROM events WHERE received_at >= $1
                             AND ($2::text IS NULL OR source = $2) ORDER BY seq"
                        ),
                        &[&since, &source],
                    )
                    .await
                    .map_err(query_error)?,
            };
            Ok(rows.iter().map(event_from_row).collect())
        })
    }

    fn parts(&self, delivery: i64) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .rows("SELECT part FROM parts WHERE delivery_id = $1 ORDER BY id", &[&delivery])
                .await
                .map_err(query_error)?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn thread(&self, channel: &str, key: &str) -> StoreFuture<'_, Option<ThreadRoot>> {
        let (channel, key) = (channel.to_owned(), key.to_owned());
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .row_opt(
                    "SELECT root_channel, root_ts FROM threads WHERE channel = $1 AND thread_key = $2",
                    &[&channel, &key],
                )
                .await
                .map_err(query_error)?;
            Ok(row.map(|row| ThreadRoot { channel_id: row.get(0), ts: row.get(1) }))
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
        Box::pin(async move {
            let client = self.client().await?;
            client
                .run(
                    "INSERT INTO threads (channel, thread_key, root_channel, root_ts, created_at, card_hash)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (channel, thread_key) DO UPDATE
                     SET root_channel = $3, root_ts = $4, created_at = $5, card_hash = $6",
                    &[&channel, &key, &root.channel_id, &root.ts, &now_millis(), &card],
                )
                .await
                .map_err(query_error)?;
            Ok(())
        })
    }

    fn card_shown(&self, channel: &str, key: &str, hash: String) -> StoreFuture<'_, ()> {
        let (channel, key) = (channel.to_owned(), key.to_owned());
        Box::pin(async move {
            let client = self.client().await?;
            client
                .run(
                    "UPDATE threads SET card_hash = $3 WHERE channel = $1 AND thread_key = $2",
                    &[&channel, &key, &hash],
                )
                .await
                .map_err(query_error)?;
            Ok(())
        })
    }

    fn stories(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<StoryRecord>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .rows("SELECT story_key, seq, state FROM stories WHERE story_key = ANY($1)", &[&keys])
                .await
                .map_err(query_error)?;
            Ok(rows
                .iter()
                .map(|row| StoryRecord { key: row.get(0), seq: row.get(1), state: row.get(2) })
                .collect())
        })
    }

    fn card(&self, channel: &str, key: &str, recent: usize) -> StoreFuture<'_, CardSource> {
        let (channel, key) = (channel.to_owned(), key.to_owned());
        Box::pin(async move {
            let client = self.client().await?;
            let state = client
                .row_opt("SELECT state FROM stories WHERE story_key = $1", &[&key])
                .await
                .map_err(query_error)?
                .map(|row| row.get(0));
            let shown = client
                .row_opt(
                    "SELECT card_hash FROM threads WHERE channel = $1 AND thread_key = $2",
                    &[&channel, &key],
                )
                .await
                .map_err(query_error)?
                .and_then(|row| row.get(0));
            let recent = client
                .rows(
                    "SELECT p.part FROM deliveries d JOIN parts p ON p.delivery_id = d.id
                     WHERE d.channel = $1 AND d.thread_key = $2 ORDER BY d.id DESC, p.id DESC LIMIT $3",
                    &[&channel, &key, &(recent as i64)],
                )
                .await
                .map_err(query_error)?
                .iter()
                .map(|row| row.get(0))
                .collect();
            Ok(CardSource { state, recent, shown })
        })
    }

    fn rendered(&self, delivery: i64, outcome: Result<String, String>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            match outcome {
                Ok(body) => client
                    .run("UPDATE deliveries SET body = $2, render_error = NULL WHERE id = $1", &[&delivery, &body])
                    .await,
                Err(error) => client
                    .run(
                        "UPDATE deliveries SET status = 'dead', render_error = $2, last_error = $2 WHERE id = $1",
                        &[&delivery, &error],
                    )
                    .await,
            }
            .map_err(query_error)?;
            Ok(())
        })
    }

    fn pending_batch(&self, channel: &str, limit: usize) -> StoreFuture<'_, Vec<Delivery>> {
        let channel = channel.to_owned();
        Box::pin(async move {
            let client = self.client().await?;
            pending(&client, &channel, limit).await
        })
    }

    fn finish_attempt(&self, delivery: i64, attempt: Attempt, resolution: Resolution) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            transaction!(self, |tx| record_attempt(&tx, delivery, &attempt, resolution).await?)
        })
    }

    fn finish_attempts(&self, records: Vec<(i64, Attempt, Resolution)>) -> StoreFuture<'_, ()> {
        Box::pin(async move { transaction!(self, |tx| record_attempts(&tx, &records).await?) })
    }

    fn record_and_claim(
        &self,
        channel: &str,
        finished: Vec<(i64, Attempt, Resolution)>,
        limit: usize,
    ) -> StoreFuture<'_, Claim> {
        let channel = channel.to_owned();
        Box::pin(async move {
            let lease = leases::channel(&channel);
            let held_before = self.leases.token(&lease);
            let token = self.lease(&lease).await?;
            transaction!(self, |tx| {
                // Fencing: attempts made under a lease since taken over are not
                // recorded over the new holder's (it sends them again).
                if token.is_some() && token == held_before {
                    record_attempts(&tx, &finished).await?;
                } else if !finished.is_empty() {
                    tracing::warn!(%channel, count = finished.len(), "another bridge took this channel over; its attempts are left to it");
                }
                let pause = pause_of(&tx, &channel).await?;
                let pending = match token {
                    Some(_) => pending(&tx, &channel, limit).await?,
                    None => Vec::new(),
                };
                Claim { pause, pending }
            })
        })
    }

    fn deliveries(&self, filter: DeliveryFilter) -> StoreFuture<'_, Vec<Delivery>> {
        Box::pin(async move {
            let client = self.client().await?;
            let limit = if filter.limit == 0 { None } else { Some(filter.limit as i64) };
            let status = filter.status.map(DeliveryStatus::as_str);
            let rows = client
                .rows(
                    &format!(
                        "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq
                         WHERE ($1::text IS NULL OR d.status = $1) AND ($2::text IS NULL OR d.channel = $2)
                           AND ($4::text IS NULL OR e.event_id = $4)
                         ORDER BY d.id DESC LIMIT $3"
                    ),
                    &[&status, &filter.channel, &limit, &filter.event_id],
                )
                .await
                .map_err(query_error)?;
            Ok(rows.iter().map(delivery_from_row).collect())
        })
    }

    fn attempts(&self, delivery: i64) -> StoreFuture<'_, Vec<Attempt>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .rows(
                    "SELECT at, status, error, latency_ms FROM attempts WHERE delivery_id = $1 ORDER BY id",
                    &[&delivery],
                )
                .await
                .map_err(query_error)?;
            Ok(rows
                .iter()
                .map(|row| Attempt {
                    at: row.get(0),
                    status: row
                        .get::<_, Option<i32>>(1)
                        .map(|status| status.clamp(0, u16::MAX as i32) as u16),
                    error: row.get(2),
                    latency_ms: row.get(3),
                })
                .collect())
        })
    }

    fn replay(&self, which: Replay) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let client = self.client().await?;
            let now = now_millis();
            let requeue = "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, queued_at = $1, failures = 0,
                           body = CASE WHEN render_error IS NULL THEN body ELSE '' END, render_error = NULL";
            let count = match which {
                Replay::Ids(ids) => client.run(&format!("{requeue} WHERE id = ANY($2)"), &[&now, &ids]).await,
                Replay::Dead { channel, since } => {
                    client
                        .run(
                            &format!(
                                "{requeue} WHERE status = 'dead' AND ($2::text IS NULL OR channel = $2)
                                 AND ($3::bigint IS NULL OR created_at >= $3)"
                            ),
                            &[&now, &channel, &since],
                        )
                        .await
                }
            }
            .map_err(query_error)?;
            Ok(count as usize)
        })
    }

    fn prune(&self, before: i64) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            transaction!(self, |tx| {
                let done = "SELECT id FROM deliveries WHERE status = 'delivered' AND delivered_at < $1";
                for table in ["attempts", "parts"] {
                    tx.run(&format!("DELETE FROM {table} WHERE delivery_id IN ({done})"), &[&before])
                        .await
                        .map_err(query_error)?;
                }
                let deliveries = tx
                    .run(
                        "DELETE FROM deliveries WHERE status = 'delivered' AND delivered_at < $1",
                        &[&before],
                    )
                    .await
                    .map_err(query_error)?;
                // As in SQLite: an event leaves with its last message, once routed.
                let gone = "SELECT seq FROM events WHERE received_at < $1 AND routed
                            AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)";
                tx.run(&format!("DELETE FROM routes WHERE event_seq IN ({gone})"), &[&before])
                    .await
                    .map_err(query_error)?;
                tx.run(&format!("DELETE FROM events WHERE seq IN ({gone})"), &[&before])
                    .await
                    .map_err(query_error)?;
                deliveries as usize
            })
        })
    }

    fn pause_channel(&self, channel: &str, pause: Pause) -> StoreFuture<'_, ()> {
        let channel = channel.to_owned();
        Box::pin(async move {
            let client = self.client().await?;
            client
                .run(
                    "INSERT INTO channel_pauses (channel, url_fingerprint, reason, paused_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (channel) DO UPDATE SET url_fingerprint = $2, reason = $3, paused_at = $4",
                    &[&channel, &pause.url_fingerprint, &pause.reason, &now_millis()],
                )
                .await
                .map_err(query_error)?;
            Ok(())
        })
    }

    fn resume_channel(&self, channel: &str) -> StoreFuture<'_, ()> {
        let channel = channel.to_owned();
        Box::pin(async move {
            let client = self.client().await?;
            client
                .run("DELETE FROM channel_pauses WHERE channel = $1", &[&channel])
                .await
                .map_err(query_error)?;
            Ok(())
        })
    }

    fn channel_pause(&self, channel: &str) -> StoreFuture<'_, Option<Pause>> {
        let channel = channel.to_owned();
        Box::pin(async move {
            let client = self.client().await?;
            pause_of(&client, &channel).await
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            // Ready means a write commits (a read succeeds on a read-only standby too).
            let client = self.client().await?;
            client
                .run(
                    "INSERT INTO health (id, touched_at) VALUES (1, $1)
                     ON CONFLICT (id) DO UPDATE SET touched_at = $1",
                    &[&now_millis()],
                )
                .await
                .map_err(query_error)?;
            Ok(())
        })
    }

    fn queue_stats(&self) -> StoreFuture<'_, Vec<QueueStats>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .rows(
                    "SELECT channel, COUNT(*), MIN(created_at) FROM deliveries
                     WHERE status = 'pending' AND (held_until IS NULL OR held_until < $1) GROUP BY channel",
                    &[&HELD],
                )
                .await
                .map_err(query_error)?;
            Ok(rows
                .iter()
                .map(|row| QueueStats {
                    channel: row.get(0),
                    pending: row.get(1),
                    oldest_created_at: row.get(2),
                })
                .collect())
        })
    }

    fn release_digests(&self, which: Release) -> StoreFuture<'_, Released> {
        Box::pin(async move { transaction!(self, |tx| release(&tx, &which, now_millis()).await?) })
    }

    fn held_digest(&self, channel: &str) -> StoreFuture<'_, Option<HeldDigest>> {
        let channel = channel.to_owned();
        Box::pin(async move {
            let client = self.client().await?;
            let due: Option<Millis> = client
                .row(
                    "SELECT MIN(digest_due) FROM deliveries WHERE channel = $1 AND status = 'pending' AND held_until = $2",
                    &[&channel, &HELD],
                )
                .await
                .map_err(query_error)?
                .get(0);
            let Some(due) = due else { return Ok(None) };
            let parts = client
                .rows(
                    "SELECT p.part FROM deliveries d JOIN parts p ON p.delivery_id = d.id
                     WHERE d.channel = $1 AND d.status = 'pending' AND d.held_until = $2 ORDER BY d.id, p.id",
                    &[&channel, &HELD],
                )
                .await
                .map_err(query_error)?
                .iter()
                .map(|row| row.get(0))
                .collect();
            Ok(Some(HeldDigest { due, parts }))
        })
    }

    fn digest_items(&self) -> StoreFuture<'_, Vec<(String, i64)>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .rows(
                    "SELECT d.channel, COUNT(*) FROM deliveries d JOIN parts p ON p.delivery_id = d.id
                     WHERE d.status = 'pending' AND d.held_until = $1 GROUP BY d.channel",
                    &[&HELD],
                )
                .await
                .map_err(query_error)?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }
}
