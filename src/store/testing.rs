//! For tests: a fresh PostgreSQL database per test, on the server
//! `STORYBRIDGE_TEST_PG_URL` names (`.ci/run` sets it). Without it the
//! PostgreSQL cases are skipped, with a note, unless `CI=true`: there they
//! fail, so a CI run without its database cannot pass.

use std::sync::atomic::{AtomicU64, Ordering};

/// Databases made by runs older than this are dropped by the next run.
const STALE_SECONDS: u64 = 3600;

/// The URL of a new, empty database, or `None` (PostgreSQL not configured,
/// outside CI).
pub fn fresh_postgres_database() -> Option<String> {
    let server = match std::env::var("STORYBRIDGE_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but STORYBRIDGE_TEST_PG_URL is not set: the PostgreSQL tests cannot run")
        }
        _ => {
            eprintln!(
                "note: STORYBRIDGE_TEST_PG_URL is not set; the PostgreSQL store is not tested in this run"
            );
            return None;
        }
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let name =
        format!("storybridge_test_{started}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let admin = server.clone();
    let created = name.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async move {
            let connect =
                super::postgres::connect_of(&admin).expect("STORYBRIDGE_TEST_PG_URL is a PostgreSQL URL");
            let (client, connection) = connect.config.connect(connect.tls).await.unwrap_or_else(|error| {
                panic!("PostgreSQL at STORYBRIDGE_TEST_PG_URL is unreachable: {error}")
            });
            tokio::spawn(connection);
            for row in client
                .query("SELECT datname FROM pg_database WHERE datname LIKE 'storybridge_test_%'", &[])
                .await
                .expect("listing test databases")
            {
                let old: String = row.get(0);
                let made: u64 = old.split('_').nth(2).and_then(|n| n.parse().ok()).unwrap_or(u64::MAX);
                if made.saturating_add(STALE_SECONDS) < started {
                    // FORCE: a process left serving it (a killed test run's child) would
                    // otherwise make every test wait on the drop.
                    let _ =
                        client.batch_execute(&format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)")).await;
                }
            }
            client
                .batch_execute(&format!("CREATE DATABASE {created}"))
                .await
                .expect("creating a test database");
        })
    })
    .join()
    .unwrap_or_else(|_| panic!("cannot make a test database on STORYBRIDGE_TEST_PG_URL"));
    let mut url = url::Url::parse(&server).expect("STORYBRIDGE_TEST_PG_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}
