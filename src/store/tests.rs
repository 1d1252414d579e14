//! One suite for every back end: each test runs against SQLite in memory and on
//! disk (and a PostgreSQL store would join the list).

use std::sync::Arc;

use super::*;

fn backends() -> Vec<(&'static str, Arc<dyn Store>, Option<std::path::PathBuf>)> {
    let dir = std::env::temp_dir().join(format!("storybridge-store-{}-{}", std::process::id(), now_millis()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("t{}.db", rand_suffix()));
    vec![
        ("memory", open("sqlite::memory:", &dir).unwrap(), None),
        (
            "file",
            open(&format!("sqlite://{}", file.file_name().unwrap().to_string_lossy()), &dir).unwrap(),
            Some(file),
        ),
    ]
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn event(id: &str, at: Millis) -> NewEvent {
    NewEvent {
        source: "shortcut".into(),
        event_id: id.into(),
        received_at: at,
        content_type: Some("application/json".into()),
        headers: "{}".into(),
        body: br#"{"id":"x"}"#.to_vec(),
    }
}

fn message(channel: &str, text: &str) -> NewDelivery {
    NewDelivery {
        change_index: 0,
        rule: "r".into(),
        channel: channel.into(),
        body: format!(r#"{{"text":"{text}"}}"#),
        coalesce: None,
    }
}

fn attempt(at: Millis, status: u16) -> Attempt {
    Attempt { at, status: Some(status), error: None, latency_ms: 3 }
}

#[tokio::test]
async fn an_event_and_its_deliveries_are_stored_once() {
    for (name, store, _) in backends() {
        let first =
            store.accept(event("e1", 1000), vec![message("a", "one"), message("b", "two")]).await.unwrap();
        assert_eq!(first, Accepted::Inserted { deliveries: 2, coalesced: 0 }, "{name}");
        let again = store.accept(event("e1", 2000), vec![message("a", "three")]).await.unwrap();
        assert_eq!(again, Accepted::Duplicate, "{name}");
        let all = store.deliveries(DeliveryFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 2, "{name}");
        assert!(all.iter().all(|d| d.status == DeliveryStatus::Pending && d.event_id == "e1"), "{name}");
    }
}

#[tokio::test]
async fn each_channel_takes_its_oldest_pending_delivery_first() {
    for (name, store, _) in backends() {
        store.accept(event("e1", 1000), vec![message("a", "first")]).await.unwrap();
        store.accept(event("e2", 1001), vec![message("b", "other"), message("a", "second")]).await.unwrap();
        let head = store.next_pending("a").await.unwrap().unwrap();
        assert_eq!(head.body, r#"{"text":"first"}"#, "{name}");

        // A retry keeps its place at the head: later messages wait behind it.
        store
            .finish_attempt(head.id, attempt(1100, 500), Resolution::Retry { at: 5000, failed: true })
            .await
            .unwrap();
        let still = store.next_pending("a").await.unwrap().unwrap();
        assert_eq!((still.id, still.failures, still.next_attempt_at), (head.id, 1, 5000), "{name}");

        store.finish_attempt(head.id, attempt(5000, 200), Resolution::Delivered).await.unwrap();
        let next = store.next_pending("a").await.unwrap().unwrap();
        assert_eq!(next.body, r#"{"text":"second"}"#, "{name}");
        let attempts = store.attempts(head.id).await.unwrap();
        assert_eq!(attempts.iter().map(|a| a.status).collect::<Vec<_>>(), [Some(500), Some(200)], "{name}");
    }
}

#[tokio::test]
async fn a_rate_limited_retry_is_not_a_failure() {
    for (name, store, _) in backends() {
        store.accept(event("e1", 1000), vec![message("a", "x")]).await.unwrap();
        let head = store.next_pending("a").await.unwrap().unwrap();
        store
            .finish_attempt(head.id, attempt(1001, 429), Resolution::Retry { at: 2000, failed: false })
            .await
            .unwrap();
        let after = store.next_pending("a").await.unwrap().unwrap();
        assert_eq!((after.attempts, after.failures, after.last_status), (1, 0, Some(429)), "{name}");
    }
}

#[tokio::test]
async fn dead_deliveries_can_be_replayed_by_channel() {
    for (name, store, _) in backends() {
        store.accept(event("e1", 1000), vec![message("a", "x"), message("b", "y")]).await.unwrap();
        for channel in ["a", "b"] {
            let head = store.next_pending(channel).await.unwrap().unwrap();
            let mut refused = attempt(1001, 404);
            refused.error = Some("channel_not_found".into());
            store.finish_attempt(head.id, refused, Resolution::Dead).await.unwrap();
        }
        let dead = DeliveryFilter { status: Some(DeliveryStatus::Dead), limit: 10, ..Default::default() };
        let found = store.deliveries(dead.clone()).await.unwrap();
        assert_eq!(found.len(), 2, "{name}");
        assert_eq!(found[0].last_error.as_deref(), Some("channel_not_found"), "{name}");

        let replayed = store.replay(Replay::Dead { channel: Some("a".into()), since: None }).await.unwrap();
        assert_eq!(replayed, 1, "{name}");
        let again = store.next_pending("a").await.unwrap().unwrap();
        assert_eq!((again.status, again.failures), (DeliveryStatus::Pending, 0), "{name}");
        assert_eq!(store.deliveries(dead).await.unwrap().len(), 1, "{name}: b stays dead");
    }
}

#[tokio::test]
async fn pruning_removes_only_old_delivered_messages() {
    for (name, store, _) in backends() {
        store.accept(event("old", 1000), vec![message("a", "old")]).await.unwrap();
        store.accept(event("new", 1000), vec![message("a", "new")]).await.unwrap();
        let old = store.next_pending("a").await.unwrap().unwrap();
        store.finish_attempt(old.id, attempt(2000, 200), Resolution::Delivered).await.unwrap();
        assert_eq!(store.prune(3000).await.unwrap(), 1, "{name}");
        let left = store.deliveries(DeliveryFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(left.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(), [r#"{"text":"new"}"#], "{name}");
        // The pruned event is forgotten; the other still dedupes.
        assert_eq!(store.accept(event("new", 4000), vec![]).await.unwrap(), Accepted::Duplicate, "{name}");
    }
}

#[tokio::test]
async fn a_channel_pause_is_kept_until_resumed() {
    for (name, store, _) in backends() {
        assert_eq!(store.channel_pause("team").await.unwrap(), None, "{name}");
        let pause = Pause { url_fingerprint: "abc".into(), reason: "404 Unknown Webhook".into() };
        store.pause_channel("team", pause.clone()).await.unwrap();
        assert_eq!(store.channel_pause("team").await.unwrap(), Some(pause), "{name}");
        store.resume_channel("team").await.unwrap();
        assert_eq!(store.channel_pause("team").await.unwrap(), None, "{name}");
    }
}

#[tokio::test]
async fn a_claim_records_the_last_batch_first_and_carries_the_pause() {
    for (name, store, _) in backends() {
        let messages = vec![message("a", "one"), message("a", "two"), message("a", "three")];
        store.accept(event("e1", 1000), messages).await.unwrap();
        let first = store.record_and_claim("a", Vec::new(), 2).await.unwrap();
        assert_eq!(first.pause, None, "{name}");
        let ids: Vec<i64> = first.pending.iter().map(|d| d.id).collect();
        assert_eq!(ids.len(), 2, "{name}");

        let pause = Pause { url_fingerprint: "abc".into(), reason: "404".into() };
        store.pause_channel("a", pause.clone()).await.unwrap();
        let finished = ids.iter().map(|id| (*id, attempt(2000, 200), Resolution::Delivered)).collect();
        let next = store.record_and_claim("a", finished, 2).await.unwrap();
        assert_eq!(next.pause, Some(pause), "{name}");
        assert_eq!(next.pending.len(), 1, "{name}: the two just recorded are no longer pending");
        assert!(next.pending[0].body.contains("three"), "{name}");
        assert_eq!(store.attempts(ids[0]).await.unwrap(), [attempt(2000, 200)], "{name}");
    }
}

#[tokio::test]
async fn concurrent_accepts_are_all_committed() {
    for (name, store, _) in backends() {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.accept(event(&format!("e{i}"), i), vec![message("a", "m")]).await
                })
            })
            .collect();
        for task in tasks {
            assert!(
                matches!(task.await.unwrap(), Ok(Accepted::Inserted { deliveries: 1, coalesced: 0 })),
                "{name}"
            );
        }
        let all = store.deliveries(DeliveryFilter { limit: 0, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 200, "{name}");
    }
}

#[tokio::test]
async fn a_file_store_keeps_everything_across_a_reopen() {
    let (_, store, file) = backends().pop().unwrap();
    let file = file.unwrap();
    store.accept(event("e1", 1000), vec![message("a", "kept")]).await.unwrap();
    drop(store);
    let reopened = SqliteStore::open(&file).unwrap();
    let head = reopened.next_pending("a").await.unwrap().unwrap();
    assert_eq!(head.body, r#"{"text":"kept"}"#);
    assert_eq!(reopened.accept(event("e1", 2000), vec![]).await.unwrap(), Accepted::Duplicate);
}
