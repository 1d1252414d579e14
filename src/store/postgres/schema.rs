//! The PostgreSQL schema, as numbered migrations recorded in
//! `storybridge_migrations`. They run at open under an advisory lock held for
//! the whole run, so bridges starting together wait for one another and each
//! migration runs once, each in its own transaction.
//!
//! The first migration is the SQLite schema as it stands after its seven
//! (ids from sequences, BYTEA bodies, booleans), plus `events.routed` in place
//! of the router's position.

/// `pg_advisory_lock` key for migrations: "storybri" in ASCII.
const MIGRATION_LOCK: i64 = 0x73746f7279627269;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite's seven migrations built.
    "CREATE TABLE events (
        seq          BIGSERIAL PRIMARY KEY,
        source       TEXT    NOT NULL,
        event_id     TEXT    NOT NULL,
        received_at  BIGINT  NOT NULL,
        content_type TEXT,
        headers      TEXT    NOT NULL,
        body         BYTEA   NOT NULL,
        routed       BOOLEAN NOT NULL DEFAULT false,
        UNIQUE (source, event_id)
    );
    CREATE INDEX events_unrouted ON events (seq) WHERE NOT routed;
    CREATE INDEX events_received ON events (received_at);
    CREATE TABLE deliveries (
        id              BIGSERIAL PRIMARY KEY,
        event_seq       BIGINT  NOT NULL REFERENCES events (seq),
        change_index    INTEGER NOT NULL,
        rule            TEXT    NOT NULL,
        channel         TEXT    NOT NULL,
        body            TEXT    NOT NULL,
        status          TEXT    NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        failures        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT  NOT NULL,
        queued_at       BIGINT  NOT NULL,
        created_at      BIGINT  NOT NULL,
        delivered_at    BIGINT,
        last_status     INTEGER,
        last_error      TEXT,
        coalesce_key    TEXT,
        held_until      BIGINT,
        template        TEXT,
        render_error    TEXT,
        thread_key      TEXT,
        digest_due      BIGINT,
        digest_late     BOOLEAN
    );
    CREATE INDEX deliveries_pending ON deliveries (channel, id) WHERE status = 'pending';
    CREATE INDEX deliveries_dead ON deliveries (channel, id) WHERE status = 'dead';
    CREATE INDEX deliveries_held ON deliveries (coalesce_key) WHERE coalesce_key IS NOT NULL AND status = 'pending';
    CREATE INDEX deliveries_by_story ON deliveries (channel, thread_key, id) WHERE thread_key IS NOT NULL;
    CREATE INDEX deliveries_digest ON deliveries (channel, digest_due) WHERE digest_due IS NOT NULL AND status = 'pending';
    CREATE INDEX deliveries_by_event ON deliveries (event_seq);
    CREATE INDEX deliveries_delivered ON deliveries (delivered_at) WHERE status = 'delivered';
    CREATE TABLE attempts (
        id          BIGSERIAL PRIMARY KEY,
        delivery_id BIGINT  NOT NULL REFERENCES deliveries (id),
        at          BIGINT  NOT NULL,
        status      INTEGER,
        error       TEXT,
        latency_ms  BIGINT  NOT NULL
    );
    CREATE INDEX attempts_by_delivery ON attempts (delivery_id);
    CREATE TABLE channel_pauses (
        channel         TEXT   PRIMARY KEY,
        url_fingerprint TEXT   NOT NULL,
        reason          TEXT   NOT NULL,
        paused_at       BIGINT NOT NULL
    );
    CREATE TABLE routes (
        event_seq    BIGINT  NOT NULL,
        change_index INTEGER NOT NULL,
        rule         TEXT    NOT NULL,
        channel      TEXT    NOT NULL,
        delivery_id  BIGINT  NOT NULL,
        PRIMARY KEY (event_seq, change_index, rule, channel)
    );
    CREATE TABLE parts (
        id          BIGSERIAL PRIMARY KEY,
        delivery_id BIGINT NOT NULL,
        part        TEXT   NOT NULL
    );
    CREATE INDEX parts_by_delivery ON parts (delivery_id, id);
    CREATE TABLE threads (
        channel      TEXT   NOT NULL,
        thread_key   TEXT   NOT NULL,
        root_channel TEXT   NOT NULL,
        root_ts      TEXT   NOT NULL,
        created_at   BIGINT NOT NULL,
        card_hash    TEXT,
        PRIMARY KEY (channel, thread_key)
    );
    CREATE TABLE stories (
        story_key  TEXT   PRIMARY KEY,
        seq        BIGINT NOT NULL,
        state      TEXT   NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE digest_schedules (
        channel TEXT   PRIMARY KEY,
        through BIGINT NOT NULL
    );
    CREATE TABLE health (
        id         INTEGER PRIMARY KEY,
        touched_at BIGINT  NOT NULL
    );",
    // 2: leases, for replicas sharing the database (`leases.rs`).
    "CREATE TABLE leases (
        name  TEXT   PRIMARY KEY,
        owner TEXT   NOT NULL,
        token BIGINT NOT NULL,
        until BIGINT NOT NULL
    );
    CREATE SEQUENCE lease_tokens;",
];

/// Connects (`config`), takes the migration lock and runs what has not run.
pub(super) async fn migrate(connect: &super::Connect) -> Result<(), String> {
    let (mut client, connection) = connect
        .config
        .connect(connect.tls.clone())
        .await
        .map_err(|error| format!("cannot connect: {error}"))?;
    let driver = tokio::spawn(connection);
    let result = run(&mut client).await.map_err(|error| format!("migrating the schema: {error}"));
    drop(client);
    let _ = driver.await;
    result
}

async fn run(client: &mut tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    // Session-level: released when this connection closes, whatever happens.
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS storybridge_migrations (
                 version    INTEGER PRIMARY KEY,
                 applied_at BIGINT  NOT NULL
             )",
        )
        .await?;
    let done: i32 =
        client.query_one("SELECT COALESCE(MAX(version), 0) FROM storybridge_migrations", &[]).await?.get(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(done.max(0) as usize) {
        let transaction = client.transaction().await?;
        transaction.batch_execute(migration).await?;
        transaction
            .execute(
                "INSERT INTO storybridge_migrations (version, applied_at) VALUES ($1, $2)",
                &[&(index as i32 + 1), &crate::store::now_millis()],
            )
            .await?;
        transaction.commit().await?;
    }
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
    Ok(())
}
