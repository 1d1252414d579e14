//! `storybridge migrate`: a bridge's SQLite store moves to PostgreSQL whole,
//! and the bridge on PostgreSQL goes on with the queue where it stopped.

use std::process::Command;
use std::time::{Duration, Instant};

use storybridge::store::testing::fresh_postgres_database;
use storybridge::store::DeliveryStatus;

use axum::http::Method;

use crate::durability::{story_event, story_of};
use crate::postgres::{post, three_queued_arrive_and_a_repeat_is_a_duplicate};
use crate::support::app::{spawn_with_storage, TestApp, SHORTCUT_SECRET};
use crate::support::process::{free_address, temp_dir};
use crate::support::FakeSink;

/// Every change to Slack (queued while it is away) and to a Discord card,
/// one per story, edited in place (the story map must move too).
fn config(cards: &FakeSink) -> String {
    format!(
        r#"
storage: "${{STORAGE}}"
sources:
  shortcut: {{ kind: shortcut, secrets: ["{SHORTCUT_SECRET}"] }}
channels:
  deploys: {{ kind: slack, url: "${{SLACK_DEPLOYS_URL}}" }}
  cards: {{ kind: discord, url: "{}", update: in-place }}
rules:
  - {{ name: all, when: {{ primary: true }}, send: [deploys, cards] }}
"#,
        cards.url("/discord/cards")
    )
}

async fn slack_deliveries(app: &TestApp) -> Vec<storybridge::store::Delivery> {
    app.deliveries().await.into_iter().filter(|delivery| delivery.channel == "deploys").collect()
}

fn migrate(from: &str, to: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_storybridge"))
        .args(["migrate", "--from", from, "--to", to])
        .output()
        .unwrap()
}

/// Rows per table as `migrate` printed them.
fn printed_counts(stdout: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (table, rows, unit) = (words.next()?, words.next()?, words.next()?);
            (unit == "rows").then(|| (table.to_owned(), rows.parse().unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn migrate_moves_a_sqlite_queue_to_postgres_and_the_bridge_goes_on_with_it() {
    let Some(database) = fresh_postgres_database() else { return };
    let dir = temp_dir("migrate");
    let sqlite = format!("sqlite://{}", dir.join("bridge.db").display());
    // Nothing listens at the sink's address yet: the messages stay queued,
    // the first tried and failed (the others wait behind it, in order).
    let address = free_address();
    let mut cards = FakeSink::start().await;
    let app = spawn_with_storage(&format!("http://{address}"), &config(&cards), Some(&sqlite)).await;
    for n in 1..=3 {
        assert_eq!(post(&app, n).await.status(), 202);
        assert_eq!(cards.next().await.method, Method::POST);
    }
    app.routed().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while slack_deliveries(&app).await.first().is_none_or(|delivery| delivery.failures == 0) {
        assert!(Instant::now() < deadline, "the first attempt did not fail within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = slack_deliveries(&app).await;
    app.stop().await;

    let output = migrate(&sqlite, &database);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}{}", stdout, String::from_utf8_lossy(&output.stderr));
    // Every table's rows, as many as the SQLite file holds.
    let source = rusqlite::Connection::open(dir.join("bridge.db")).unwrap();
    let counts = printed_counts(&stdout);
    assert_eq!(counts.len(), 9, "{stdout}");
    for (table, rows) in &counts {
        let held: i64 =
            source.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0)).unwrap();
        assert_eq!(*rows, held as u64, "{table}");
    }
    assert_eq!(counts[0], ("events".to_owned(), 3));
    assert!(counts.iter().any(|(table, rows)| table == "attempts" && *rows >= 1), "{stdout}");
    assert!(counts.contains(&("stories".to_owned(), 3)), "{stdout}");
    assert!(counts.contains(&("threads".to_owned(), 3)), "{stdout}");
    drop(source);

    // On PostgreSQL the same messages, with the same ids and history, go out
    // in order; an event already stored is still a duplicate.
    let mut sink = FakeSink::start_at(address).await;
    let app = spawn_with_storage(&sink.base(), &config(&cards), Some(&database)).await;
    three_queued_arrive_and_a_repeat_is_a_duplicate(&app, &mut sink).await;
    // A new event gets the next ids, past the copied ones; a change to a
    // story from before edits that story's card.
    assert_eq!(post(&app, 4).await.status(), 202);
    assert_eq!(story_of(&sink.next().await.body), "story-4");
    assert_eq!(cards.next().await.method, Method::POST);
    let mut moved_back = story_event(1);
    moved_back = String::from_utf8(moved_back).unwrap().replace("event-1", "event-5").into_bytes();
    let response = app.post_shortcut(&moved_back).await;
    assert_eq!(response.status(), 202);
    assert_eq!(story_of(&sink.next().await.body), "story-1");
    let edit = cards.next().await;
    assert_eq!(edit.method, Method::PATCH, "{edit:?}");
    app.settled().await;
    let after = slack_deliveries(&app).await;
    app.stop().await;
    assert_eq!(after.len(), 5);
    for old in &before {
        let moved = after.iter().find(|delivery| delivery.id == old.id).expect("the same delivery id");
        assert_eq!(moved.status, DeliveryStatus::Delivered);
        assert!(moved.failures >= old.failures, "{moved:?}");
    }
    assert!(after.iter().map(|delivery| delivery.id).max() > before.iter().map(|delivery| delivery.id).max());

    // A second copy into the same database is refused, and names why.
    let twice = migrate(&sqlite, &database);
    assert_eq!(twice.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&twice.stderr);
    assert!(
        stderr.contains("holds 5 events already: migrate copies a store into an empty database"),
        "{stderr}"
    );
}

#[tokio::test]
async fn migrate_names_a_missing_store_a_served_one_and_a_target_that_is_not_postgres() {
    let dir = temp_dir("migrate-bad");
    let missing = format!("sqlite://{}", dir.join("nope.db").display());
    let output = migrate(&missing, "postgres://storybridge@127.0.0.1:1/x");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("--from: there is no store at {}", dir.join("nope.db").display())),
        "{stderr}"
    );

    // A file a bridge serves is left alone: its queue would move mid-copy.
    let served = dir.join("served.db");
    std::fs::write(&served, b"").unwrap();
    let served_url = format!("sqlite://{}", served.display());
    let lock = storybridge::store::lock_for_serving(&served_url, &dir).unwrap();
    let output = migrate(&served_url, "postgres://storybridge@127.0.0.1:1/x");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "--from: {} is served by a running storybridge: stop it first",
            served.display()
        )),
        "{stderr}"
    );
    drop(lock);

    std::fs::write(dir.join("empty.db"), b"").unwrap();
    let output = migrate(&format!("sqlite://{}", dir.join("empty.db").display()), "mysql://x:secret@h/db");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--to: mysql://x:***@h/db is not a PostgreSQL URL"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[tokio::test]
async fn a_copy_that_fails_half_way_leaves_the_database_empty_and_says_where() {
    let Some(database) = fresh_postgres_database() else { return };
    let dir = temp_dir("migrate-fails");
    let file = dir.join("bridge.db");
    drop(storybridge::store::SqliteStore::open(&file).unwrap());
    // A value PostgreSQL's column cannot take, in the second table copied.
    let source = rusqlite::Connection::open(&file).unwrap();
    source
        .execute_batch(
            "INSERT INTO events (seq, source, event_id, received_at, headers, body) VALUES (1, 'shortcut', 'e1', 0, '[]', x'7b7d');
             INSERT INTO deliveries (event_seq, change_index, rule, channel, body, status, next_attempt_at, queued_at, created_at)
             VALUES (1, 1099511627776, 'all', 'deploys', '{}', 'pending', 0, 0, 0);",
        )
        .unwrap();
    drop(source);
    let output = migrate(&format!("sqlite://{}", file.display()), &database);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("writing deliveries to ") && stderr.contains(
            "change_index: 1099511627776 does not fit an integer column (nothing was copied: the copy is one transaction)"
        ),
        "{stderr}"
    );
    let (client, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let events: i64 = client.query_one("SELECT count(*) FROM events", &[]).await.unwrap().get(0);
    assert_eq!(events, 0);
}
