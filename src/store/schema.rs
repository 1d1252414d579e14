//! The schema, as numbered migrations tracked in `PRAGMA user_version`: each runs
//! once, in order, in its own transaction, when the store opens.

use rusqlite::Connection;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: events, deliveries, attempts, channel pauses.
    "CREATE TABLE events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        source       TEXT    NOT NULL,
        event_id     TEXT    NOT NULL,
        received_at  INTEGER NOT NULL,
        content_type TEXT,
        headers      TEXT    NOT NULL,
        body         BLOB    NOT NULL,
        UNIQUE (source, event_id)
    );
    CREATE TABLE deliveries (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        event_seq       INTEGER NOT NULL REFERENCES events (seq),
        change_index    INTEGER NOT NULL,
        rule            TEXT    NOT NULL,
        channel         TEXT    NOT NULL,
        body            TEXT    NOT NULL,
        status          TEXT    NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        failures        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        queued_at       INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        delivered_at    INTEGER,
        last_status     INTEGER,
        last_error      TEXT
    );
    CREATE INDEX deliveries_by_channel ON deliveries (channel, status, id);
    CREATE INDEX deliveries_by_status ON deliveries (status, id);
    CREATE TABLE attempts (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
        at          INTEGER NOT NULL,
        status      INTEGER,
        error       TEXT,
        latency_ms  INTEGER NOT NULL
    );
    CREATE INDEX attempts_by_delivery ON attempts (delivery_id);
    CREATE TABLE channel_pauses (
        channel         TEXT PRIMARY KEY,
        url_fingerprint TEXT NOT NULL,
        reason          TEXT NOT NULL,
        paused_at       INTEGER NOT NULL
    );",
    // 2: coalescing. A held delivery collects the changes of one burst in
    // `parts` until `held_until`.
    "ALTER TABLE deliveries ADD COLUMN coalesce_key TEXT;
    ALTER TABLE deliveries ADD COLUMN held_until INTEGER;
    ALTER TABLE deliveries ADD COLUMN parts TEXT;
    CREATE INDEX deliveries_by_coalesce_key ON deliveries (coalesce_key, status);",
    // 3: partial indexes. Only pending (and dead) rows are ever looked up by
    // channel or burst key; delivered rows, nearly all of them, now leave those
    // indexes instead of being moved within them: fewer pages written per message.
    "DROP INDEX deliveries_by_channel;
    DROP INDEX deliveries_by_status;
    DROP INDEX deliveries_by_coalesce_key;
    CREATE INDEX deliveries_pending ON deliveries (channel, id) WHERE status = 'pending';
    CREATE INDEX deliveries_dead ON deliveries (channel, id) WHERE status = 'dead';
    CREATE INDEX deliveries_held ON deliveries (coalesce_key) WHERE coalesce_key IS NOT NULL AND status = 'pending';",
    // 4: routing is a stage of its own. Ingest stores the event; the router
    // takes events in `seq` order and commits their deliveries together with
    // its position (`router.routed_through`): every event after it is unrouted.
    // One row moves per batch, where a flag per event would churn an index. `routes` is the
    // ledger that makes routing idempotent: one row per (event, change, rule,
    // channel), naming the delivery that carries it (a burst carries several).
    // `parts` holds the template contexts a delivery is rendered from when it
    // is sent (bursts, replayed template failures), one row each, so joining a
    // burst is one small insert. Events stored before this were routed at
    // ingest; their messages enter the ledger, and open bursts their parts.
    "CREATE TABLE router (
        id             INTEGER PRIMARY KEY CHECK (id = 1),
        routed_through INTEGER NOT NULL
    );
    INSERT INTO router (id, routed_through) SELECT 1, COALESCE(MAX(seq), 0) FROM events;
    ALTER TABLE deliveries ADD COLUMN template TEXT;
    ALTER TABLE deliveries ADD COLUMN render_error TEXT;
    CREATE TABLE routes (
        event_seq    INTEGER NOT NULL,
        change_index INTEGER NOT NULL,
        rule         TEXT    NOT NULL,
        channel      TEXT    NOT NULL,
        delivery_id  INTEGER NOT NULL,
        PRIMARY KEY (event_seq, change_index, rule, channel)
    ) WITHOUT ROWID;
    CREATE TABLE parts (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id INTEGER NOT NULL,
        part        TEXT    NOT NULL
    );
    CREATE INDEX parts_by_delivery ON parts (delivery_id, id);
    INSERT OR IGNORE INTO routes (event_seq, change_index, rule, channel, delivery_id)
        SELECT event_seq, change_index, rule, channel, id FROM deliveries;
    INSERT INTO parts (delivery_id, part)
        SELECT d.id, p.value FROM deliveries d, json_each(d.parts) p
        WHERE d.parts IS NOT NULL AND d.status = 'pending';",
    // 5: threads. A message knows the story it is about; a channel that threads
    // keeps, per story, the message its replies go under.
    "ALTER TABLE deliveries ADD COLUMN thread_key TEXT;
    CREATE TABLE threads (
        channel      TEXT    NOT NULL,
        thread_key   TEXT    NOT NULL,
        root_channel TEXT    NOT NULL,
        root_ts      TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        PRIMARY KEY (channel, thread_key)
    ) WITHOUT ROWID;",
    // 6: live cards. What the bridge has seen of each story, folded by the
    // router in acceptance order (`seq`: the last event folded in, so routing
    // an older event again never moves a story back); per channel and story a
    // hash of the card shown, so an edit that would change nothing is skipped;
    // and the index a card's latest messages are read by.
    "CREATE TABLE stories (
        story_key  TEXT    PRIMARY KEY,
        seq        INTEGER NOT NULL,
        state      TEXT    NOT NULL,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE threads ADD COLUMN card_hash TEXT;
    CREATE INDEX deliveries_by_story ON deliveries (channel, thread_key, id) WHERE thread_key IS NOT NULL;",
    // 7: digests. A digest is a delivery held (`held_until` at its maximum)
    // until its period is due (`digest_due`), then released, marked late when
    // that was long after; it belongs to an event of the bridge's own per
    // channel and period, whose unique id makes one digest per period. Per
    // channel, the last period the release loop has seen, so an empty digest
    // is made once per period and never for one before the schedule existed.
    "ALTER TABLE deliveries ADD COLUMN digest_due INTEGER;
    ALTER TABLE deliveries ADD COLUMN digest_late INTEGER;
    CREATE INDEX deliveries_digest ON deliveries (channel, digest_due) WHERE digest_due IS NOT NULL AND status = 'pending';
    CREATE TABLE digest_schedules (
        channel TEXT    PRIMARY KEY,
        through INTEGER NOT NULL
    ) WITHOUT ROWID;",
];

pub fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", (index + 1) as i64)?;
        transaction.commit()?;
    }
    Ok(())
}
