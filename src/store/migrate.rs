//! `storybridge migrate --from sqlite://FILE --to postgres://…`: a single
//! bridge's store moves to PostgreSQL whole (events, their messages and
//! attempts, the routing ledger, threads, cards, pauses, digest schedules),
//! ids kept, in one transaction, so the queue goes on where it stopped.
//!
//! The copy is driven by the PostgreSQL schema: every column it has that the
//! SQLite table has too is copied, converted to the PostgreSQL column's type;
//! a column SQLite never had is left to its default. `events.routed` stands
//! for SQLite's router position.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

use super::postgres::{connect_of, redacted, PostgresStore};
use super::{lock_for_serving, SqliteStore, StoreError};

/// The tables copied, parents before children.
const TABLES: &[&str] = &[
    "events",
    "deliveries",
    "attempts",
    "routes",
    "parts",
    "channel_pauses",
    "threads",
    "stories",
    "digest_schedules",
];

/// Ids PostgreSQL draws from sequences, set past the copied rows.
const SERIALS: &[(&str, &str)] =
    &[("events", "seq"), ("deliveries", "id"), ("attempts", "id"), ("parts", "id")];

/// Parameters per INSERT: PostgreSQL takes at most 65535.
const MAX_PARAMETERS: usize = 30_000;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("--from: {0}")]
    From(String),
    #[error("--to: {0}")]
    To(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{target} holds {events} events already: migrate copies a store into an empty database (drop and recreate it, or name another)")]
    NotEmpty { target: String, events: i64 },
    #[error("reading {path}: {message}")]
    Read { path: String, message: String },
    #[error("writing {table} to {target}: {message} (nothing was copied: the copy is one transaction)")]
    Write { table: String, target: String, message: String },
}

/// Rows copied, per table, in copy order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub tables: Vec<(String, u64)>,
}

/// The SQLite file a `sqlite://PATH` URL names (relative to `base_dir`).
fn sqlite_path(from: &str, base_dir: &Path) -> Result<PathBuf, MigrateError> {
    let path = from
        .strip_prefix("sqlite://")
        .ok_or_else(|| MigrateError::From(format!("{from} is not a SQLite store: expected sqlite://FILE")))?;
    let file = base_dir.join(path);
    if !file.is_file() {
        return Err(MigrateError::From(format!("there is no store at {}", file.display())));
    }
    Ok(file)
}

/// Copies the SQLite store `from` into the empty PostgreSQL database `to`.
/// Holds the SQLite file's serve lock throughout: a bridge serving it would
/// go on changing the queue being copied.
pub async fn sqlite_to_postgres(from: &str, to: &str, base_dir: &Path) -> Result<Copied, MigrateError> {
    let file = sqlite_path(from, base_dir)?;
    if !super::is_postgres(to) {
        return Err(MigrateError::To(format!(
            "{} is not a PostgreSQL URL: expected postgres://USER@HOST:PORT/DATABASE",
            redacted(to)
        )));
    }
    let _lock = lock_for_serving(from, base_dir).map_err(|error| match error {
        StoreError::Locked { path } => MigrateError::From(format!(
            "{path} is served by a running storybridge: stop it first, or its queue moves while it is copied"
        )),
        other => MigrateError::Store(other),
    })?;
    // Brings an older file to the current schema, as the bridge would.
    drop(SqliteStore::open(&file)?);
    let rows = read_sqlite(&file)?;
    // Creates (or brings up to date) the schema, under its migration lock.
    let to_owned = to.to_owned();
    tokio::task::spawn_blocking(move || PostgresStore::open(&to_owned).map(drop))
        .await
        .map_err(|error| MigrateError::To(error.to_string()))??;
    write_postgres(to, rows).await
}

/// One table's rows as SQLite holds them, by column name.
struct Table {
    name: &'static str,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

fn read_sqlite(file: &Path) -> Result<(Vec<Table>, i64), MigrateError> {
    let read_error = |error: rusqlite::Error| MigrateError::Read {
        path: file.display().to_string(),
        message: error.to_string(),
    };
    let connection = rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(read_error)?;
    let routed_through: i64 = connection
        .query_row("SELECT routed_through FROM router WHERE id = 1", [], |row| row.get(0))
        .map_err(read_error)?;
    let mut tables = Vec::with_capacity(TABLES.len());
    for name in TABLES {
        let mut statement = connection.prepare(&format!("SELECT * FROM {name}")).map_err(read_error)?;
        let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
        let width = columns.len();
        let rows = statement
            .query_map([], |row| (0..width).map(|index| row.get::<_, Value>(index)).collect())
            .map_err(read_error)?
            .collect::<Result<Vec<Vec<Value>>, _>>()
            .map_err(read_error)?;
        tables.push(Table { name, columns, rows });
    }
    Ok((tables, routed_through))
}

/// A SQLite value as the PostgreSQL column's type takes it.
fn convert(value: &Value, pg_type: &str) -> Result<Box<dyn ToSql + Sync + Send>, String> {
    Ok(match (pg_type, value) {
        ("bigint", Value::Null) => Box::new(None::<i64>),
        ("bigint", Value::Integer(n)) => Box::new(*n),
        ("integer", Value::Null) => Box::new(None::<i32>),
        ("integer", Value::Integer(n)) => {
            Box::new(i32::try_from(*n).map_err(|_| format!("{n} does not fit an integer column"))?)
        }
        ("boolean", Value::Null) => Box::new(None::<bool>),
        ("boolean", Value::Integer(n)) => Box::new(*n != 0),
        ("text", Value::Null) => Box::new(None::<String>),
        ("text", Value::Text(text)) => Box::new(text.clone()),
        ("text", Value::Integer(n)) => Box::new(n.to_string()),
        ("bytea", Value::Null) => Box::new(None::<Vec<u8>>),
        ("bytea", Value::Blob(bytes)) => Box::new(bytes.clone()),
        ("bytea", Value::Text(text)) => Box::new(text.clone().into_bytes()),
        (pg_type, value) => return Err(format!("cannot copy {value:?} into a {pg_type} column")),
    })
}

async fn write_postgres(
    to: &str,
    (tables, routed_through): (Vec<Table>, i64),
) -> Result<Copied, MigrateError> {
    let target = redacted(to);
    let connect = connect_of(to)?;
    let (mut client, connection) = connect
        .config
        .connect(connect.tls.clone())
        .await
        .map_err(|error| MigrateError::To(format!("cannot connect to {target}: {error}")))?;
    let driver = tokio::spawn(connection);
    let write_error = |table: &str, message: String| MigrateError::Write {
        table: table.to_owned(),
        target: target.clone(),
        message,
    };
    let tx = client.transaction().await.map_err(|error| write_error("events", error.to_string()))?;
    // A bridge already serving the target would accept events mid-copy.
    tx.batch_execute("LOCK TABLE events IN EXCLUSIVE MODE")
        .await
        .map_err(|error| write_error("events", error.to_string()))?;
    let events: i64 = tx
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .map_err(|error| write_error("events", error.to_string()))?
        .get(0);
    if events > 0 {
        return Err(MigrateError::NotEmpty { target, events });
    }
    let mut copied = Copied::default();
    for table in &tables {
        let pg_columns: BTreeMap<String, String> = tx
            .query(
                "SELECT column_name, data_type FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[&table.name],
            )
            .await
            .map_err(|error| write_error(table.name, error.to_string()))?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        // SQLite's columns PostgreSQL has too (SQLite keeps a few retired ones).
        let shared: Vec<(usize, &String, &String)> = table
            .columns
            .iter()
            .enumerate()
            .filter_map(|(index, name)| pg_columns.get(name).map(|pg_type| (index, name, pg_type)))
            .collect();
        let routed = table.name == "events";
        let mut names: Vec<&str> = shared.iter().map(|(_, name, _)| name.as_str()).collect();
        if routed {
            names.push("routed");
        }
        let seq_index = table.columns.iter().position(|name| name == "seq");
        let per_row = names.len();
        for chunk in table.rows.chunks((MAX_PARAMETERS / per_row.max(1)).max(1)) {
            let mut parameters: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(chunk.len() * per_row);
            let mut values = Vec::with_capacity(chunk.len());
            for row in chunk {
                let first = parameters.len();
                for (index, name, pg_type) in &shared {
                    let value = convert(&row[*index], pg_type)
                        .map_err(|message| write_error(table.name, format!("{name}: {message}")))?;
                    parameters.push(value);
                }
                if routed {
                    let seq = match seq_index.map(|index| &row[index]) {
                        Some(Value::Integer(seq)) => *seq,
                        _ => return Err(write_error(table.name, "an event without a seq".into())),
                    };
                    parameters.push(Box::new(seq <= routed_through));
                }
                let placeholders: Vec<String> =
                    (first + 1..=parameters.len()).map(|n| format!("${n}")).collect();
                values.push(format!("({})", placeholders.join(", ")));
            }
            let statement =
                format!("INSERT INTO {} ({}) VALUES {}", table.name, names.join(", "), values.join(", "));
            let borrowed: Vec<&(dyn ToSql + Sync)> =
                parameters.iter().map(|value| value.as_ref() as &(dyn ToSql + Sync)).collect();
            tx.execute(&statement, &borrowed)
                .await
                .map_err(|error| write_error(table.name, error.to_string()))?;
        }
        copied.tables.push((table.name.to_owned(), table.rows.len() as u64));
    }
    for (table, column) in SERIALS {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            ),
            &[],
        )
        .await
        .map_err(|error| write_error(table, error.to_string()))?;
    }
    tx.commit().await.map_err(|error| write_error("the copy", error.to_string()))?;
    driver.abort();
    Ok(copied)
}
