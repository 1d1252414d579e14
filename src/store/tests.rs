//! One suite for every back end: each test runs against SQLite in memory and on
//! disk, and PostgreSQL (a database of its own per test) when
//! `STORYBRIDGE_TEST_PG_URL` names a server.

use std::sync::Arc;

use super::*;

fn backends() -> Vec<(&'static str, Arc<dyn Store>, Option<std::path::PathBuf>)> {
    let dir = std::env::temp_dir().join(format!("storybridge-store-{}-{}", std::process::id(), now_millis()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("t{}.db", rand_suffix()));
    let mut backends: Vec<(&'static str, Arc<dyn Store>, Option<std::path::PathBuf>)> = vec![
        ("memory", open("sqlite::memory:", &dir).unwrap(), None),
        (
            "file",
            open(&format!("sqlite://{}", file.file_name().unwrap().to_string_lossy()), &dir).unwrap(),
            Some(file),
        ),
    ];
    if let Some(url) = testing::fresh_postgres_database() {
        backends.push(("postgres", open(&url, &dir).unwrap(), None));
    }
    backends
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
        template: "default".into(),
        plan: Plan::Body(format!(r#"{{"text":"{text}"}}"#)),
        thread_key: None,
        context: None,
    }
}

/// Accepts `event` and routes it: its i-th change to the i-th message.
async fn accept_routed(store: &Arc<dyn Store>, event: NewEvent, messages: Vec<NewDelivery>) -> Accepted {
    let accepted = store.accept(event).await.unwrap();
    if let Accepted::Inserted { seq } = accepted {
        let deliveries = messages
            .into_iter()
            .enumerate()
            .map(|(index, message)| NewDelivery { change_index: index, ..message })
            .collect();
        store.commit_routes(vec![EventRoutes { seq, deliveries, stories: Vec::new() }], true).await.unwrap();
    }
    accepted
}

fn attempt(at: Millis, status: u16) -> Attempt {
    Attempt { at, status: Some(status), error: None, latency_ms: 3 }
}

#[tokio::test]
async fn an_event_and_its_deliveries_are_stored_once() {
    for (name, store, _) in backends() {
        let first =
            accept_routed(&store, event("e1", 1000), vec![message("a", "one"), message("b", "two")]).await;
        assert!(matches!(first, Accepted::Inserted { .. }), "{name}");
        let again = accept_routed(&store, event("e1", 2000), vec![message("a", "three")]).await;
        assert_eq!(again, Accepted::Duplicate, "{name}");
        let all = store.deliveries(DeliveryFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 2, "{name}");
        assert!(all.iter().all(|d| d.status == DeliveryStatus::Pending && d.event_id == "e1"), "{name}");
    }
}

#[tokio::test]
async fn each_channel_takes_its_oldest_pending_delivery_first() {
    for (name, store, _) in backends() {
        accept_routed(&store, event("e1", 1000), vec![message("a", "first")]).await;
        accept_routed(&store, event("e2", 1001), vec![message("b", "other"), message("a", "second")]).await;
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
        accept_routed(&store, event("e1", 1000), vec![message("a", "x")]).await;
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
        accept_routed(&store, event("e1", 1000), vec![message("a", "x"), message("b", "y")]).await;
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
        accept_routed(&store, event("old", 1000), vec![message("a", "old")]).await;
        accept_routed(&store, event("new", 1000), vec![message("a", "new")]).await;
        let old = store.next_pending("a").await.unwrap().unwrap();
        store.finish_attempt(old.id, attempt(2000, 200), Resolution::Delivered).await.unwrap();
        assert_eq!(store.prune(3000).await.unwrap(), 1, "{name}");
        let left = store.deliveries(DeliveryFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(left.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(), [r#"{"text":"new"}"#], "{name}");
        // The pruned event is forgotten; the other still dedupes.
        assert_eq!(accept_routed(&store, event("new", 4000), vec![]).await, Accepted::Duplicate, "{name}");
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
        accept_routed(&store, event("e1", 1000), messages).await;
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
                    accept_routed(&store, event(&format!("e{i}"), i), vec![message("a", "m")]).await
                })
            })
            .collect();
        for task in tasks {
            assert!(matches!(task.await.unwrap(), Accepted::Inserted { .. }), "{name}");
        }
        let all = store.deliveries(DeliveryFilter { limit: 0, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 200, "{name}");
    }
}

#[tokio::test]
async fn a_file_store_keeps_everything_across_a_reopen() {
    let (_, store, file) = backends().into_iter().find(|(name, _, _)| *name == "file").unwrap();
    let file = file.unwrap();
    accept_routed(&store, event("e1", 1000), vec![message("a", "kept")]).await;
    drop(store);
    let reopened = SqliteStore::open(&file).unwrap();
    let head = reopened.next_pending("a").await.unwrap().unwrap();
    assert_eq!(head.body, r#"{"text":"kept"}"#);
    assert_eq!(reopened.accept(event("e1", 2000)).await.unwrap(), Accepted::Duplicate);
}

fn planned(change_index: usize, channel: &str, plan: Plan) -> NewDelivery {
    NewDelivery {
        change_index,
        rule: "r".into(),
        channel: channel.into(),
        template: "t".into(),
        plan,
        thread_key: None,
        context: None,
    }
}

#[tokio::test]
async fn events_wait_unrouted_in_acceptance_order_and_routing_twice_queues_nothing_twice() {
    for (name, store, _) in backends() {
        let Accepted::Inserted { seq: first } = store.accept(event("e1", 1000)).await.unwrap() else {
            panic!()
        };
        let Accepted::Inserted { seq: second } = store.accept(event("e2", 900)).await.unwrap() else {
            panic!()
        };
        let waiting: Vec<String> =
            store.unrouted(10, 1 << 20).await.unwrap().into_iter().map(|e| e.event.event_id).collect();
        assert_eq!(waiting, ["e1", "e2"], "{name}: acceptance order, not the sender's time");
        assert!(store.deliveries(DeliveryFilter::default()).await.unwrap().is_empty(), "{name}");

        let routes = EventRoutes {
            seq: first,
            deliveries: vec![message("a", "one"), planned(1, "b", Plan::Body("{}".into()))],
            stories: Vec::new(),
        };
        let queued = store.commit_routes(vec![routes.clone()], true).await.unwrap();
        assert_eq!((queued[0].queued, queued[0].already), (2, 0), "{name}");
        assert_eq!(queued[0].channels.iter().collect::<Vec<_>>(), ["a", "b"], "{name}");
        let waiting: Vec<i64> =
            store.unrouted(10, 1 << 20).await.unwrap().into_iter().map(|e| e.seq).collect();
        assert_eq!(waiting, [second], "{name}");

        // Routed again (a crash before the mark, or a reroute): nothing new.
        let again = store.commit_routes(vec![routes], false).await.unwrap();
        assert_eq!((again[0].queued, again[0].already), (0, 2), "{name}");
        assert_eq!(store.deliveries(DeliveryFilter::default()).await.unwrap().len(), 2, "{name}");
    }
}

#[tokio::test]
async fn routing_again_requeues_only_a_dead_message() {
    for (name, store, _) in backends() {
        let Accepted::Inserted { seq } = store.accept(event("e1", 1000)).await.unwrap() else { panic!() };
        let first = vec![
            planned(0, "a", Plan::Body("{\"v\":1}".into())),
            planned(1, "a", Plan::Body("{\"v\":1}".into())),
        ];
        store
            .commit_routes(vec![EventRoutes { seq, deliveries: first, stories: Vec::new() }], true)
            .await
            .unwrap();
        let claimed = store.pending_batch("a", 10).await.unwrap();
        store.finish_attempt(claimed[0].id, attempt(2000, 200), Resolution::Delivered).await.unwrap();
        store.finish_attempt(claimed[1].id, attempt(2000, 400), Resolution::Dead).await.unwrap();

        let second = vec![
            planned(0, "a", Plan::Body("{\"v\":2}".into())),
            planned(1, "a", Plan::Body("{\"v\":2}".into())),
        ];
        let queued = store
            .commit_routes(vec![EventRoutes { seq, deliveries: second, stories: Vec::new() }], false)
            .await
            .unwrap();
        assert_eq!((queued[0].queued, queued[0].requeued, queued[0].already), (0, 1, 1), "{name}");
        let pending = store.pending_batch("a", 10).await.unwrap();
        assert_eq!(
            pending.iter().map(|d| (d.id, d.body.as_str())).collect::<Vec<_>>(),
            [(claimed[1].id, "{\"v\":2}")],
            "{name}"
        );
        assert_eq!(pending[0].failures, 0, "{name}");
    }
}

#[tokio::test]
async fn a_burst_collects_parts_from_several_events_and_renders_nothing_itself() {
    for (name, store, _) in backends() {
        let far = now_millis() + 60_000;
        let burst =
            |part: &str| Plan::Burst { key: "a|r|story|1".into(), hold_until: far, part: part.into() };
        for (id, part) in [("e1", "{\"n\":1}"), ("e2", "{\"n\":2}"), ("e3", "{\"n\":3}")] {
            let Accepted::Inserted { seq } = store.accept(event(id, 1000)).await.unwrap() else { panic!() };
            store
                .commit_routes(
                    vec![EventRoutes {
                        seq,
                        deliveries: vec![planned(0, "a", burst(part))],
                        stories: Vec::new(),
                    }],
                    true,
                )
                .await
                .unwrap();
        }
        let all = store.deliveries(DeliveryFilter::default()).await.unwrap();
        assert_eq!(all.len(), 1, "{name}: one message for the burst");
        assert!(all[0].needs_render(), "{name}");
        assert_eq!(store.parts(all[0].id).await.unwrap(), ["{\"n\":1}", "{\"n\":2}", "{\"n\":3}"], "{name}");
        assert!(
            store.pending_batch("a", 10).await.unwrap().is_empty(),
            "{name}: held until its window closes"
        );

        store.rendered(all[0].id, Ok("{\"text\":\"three changes\"}".into())).await.unwrap();
        let shown = store.deliveries(DeliveryFilter::default()).await.unwrap();
        assert_eq!(shown[0].body, "{\"text\":\"three changes\"}", "{name}");
    }
}

#[tokio::test]
async fn a_template_failure_is_kept_dead_with_its_context_and_replayed_for_rendering() {
    for (name, store, _) in backends() {
        let Accepted::Inserted { seq } = store.accept(event("e1", 1000)).await.unwrap() else { panic!() };
        let failed = Plan::Failed {
            error: "template `t`: unknown helper `nope`".into(),
            part: "{\"name\":\"x\"}".into(),
        };
        let queued = store
            .commit_routes(
                vec![EventRoutes { seq, deliveries: vec![planned(0, "a", failed)], stories: Vec::new() }],
                true,
            )
            .await
            .unwrap();
        assert_eq!((queued[0].queued, queued[0].failed), (0, 1), "{name}");
        assert!(queued[0].channels.is_empty(), "{name}: nothing to wake a worker for");
        let dead = store
            .deliveries(DeliveryFilter { status: Some(DeliveryStatus::Dead), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(dead.len(), 1, "{name}");
        assert_eq!(dead[0].render_error.as_deref(), Some("template `t`: unknown helper `nope`"), "{name}");
        assert_eq!(dead[0].last_error, dead[0].render_error, "{name}");
        assert_eq!(dead[0].template.as_deref(), Some("t"), "{name}");

        assert_eq!(store.replay(Replay::Ids(vec![dead[0].id])).await.unwrap(), 1, "{name}");
        let pending = store.pending_batch("a", 10).await.unwrap();
        assert!(pending[0].needs_render() && pending[0].render_error.is_none(), "{name}");
        assert_eq!(store.parts(pending[0].id).await.unwrap(), ["{\"name\":\"x\"}"], "{name}");

        // Rendering fails again at send time: dead again, with the new error.
        store.rendered(pending[0].id, Err("template `t`: still broken".into())).await.unwrap();
        let dead = store
            .deliveries(DeliveryFilter { status: Some(DeliveryStatus::Dead), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(dead[0].render_error.as_deref(), Some("template `t`: still broken"), "{name}");
    }
}

#[tokio::test]
async fn stored_events_are_found_by_id_or_by_time_and_source() {
    for (name, store, _) in backends() {
        store.accept(event("e1", 1000)).await.unwrap();
        let mut other = event("e2", 5000);
        other.source = "tracker".into();
        store.accept(other).await.unwrap();
        store.accept(event("e3", 6000)).await.unwrap();
        let ids = |events: Vec<StoredEvent>| events.into_iter().map(|e| e.event.event_id).collect::<Vec<_>>();
        assert_eq!(ids(store.events("e2").await.unwrap()), ["e2"], "{name}");
        let since = EventSelection::Since { since: 4000, source: None };
        assert_eq!(ids(store.stored_events(since).await.unwrap()), ["e2", "e3"], "{name}");
        let since = EventSelection::Since { since: 0, source: Some("shortcut".into()) };
        assert_eq!(ids(store.stored_events(since).await.unwrap()), ["e1", "e3"], "{name}");
    }
}

#[tokio::test]
async fn unrouted_events_come_in_batches_bounded_by_count_and_bytes() {
    for (name, store, _) in backends() {
        for id in ["e1", "e2", "e3", "e4"] {
            store.accept(event(id, 1000)).await.unwrap();
        }
        let ids = |events: Vec<StoredEvent>| events.into_iter().map(|e| e.event.event_id).collect::<Vec<_>>();
        // Each body is 10 bytes.
        assert_eq!(ids(store.unrouted(3, 1 << 20).await.unwrap()), ["e1", "e2", "e3"], "{name}");
        assert_eq!(
            ids(store.unrouted(10, 15).await.unwrap()),
            ["e1", "e2"],
            "{name}: the second starts within the budget"
        );
        assert_eq!(
            ids(store.unrouted(10, 0).await.unwrap()),
            ["e1"],
            "{name}: always the first, however large"
        );

        let first = store.unrouted(2, 1 << 20).await.unwrap();
        let routes = |events: &[StoredEvent]| -> Vec<EventRoutes> {
            events.iter().map(|event| EventRoutes { seq: event.seq, ..Default::default() }).collect()
        };
        store.commit_routes(routes(&first), true).await.unwrap();
        assert_eq!(ids(store.unrouted(10, 1 << 20).await.unwrap()), ["e3", "e4"], "{name}: the rest");
        // A reroute marks nothing, and routing an event again moves nothing back.
        let rest = store.unrouted(10, 1 << 20).await.unwrap();
        store.commit_routes(routes(&rest), false).await.unwrap();
        store.commit_routes(routes(&first[..1]), true).await.unwrap();
        assert_eq!(ids(store.unrouted(10, 1 << 20).await.unwrap()), ["e3", "e4"], "{name}");
    }
}

#[tokio::test]
async fn a_story_thread_is_kept_per_channel_and_can_be_re_pointed() {
    for (_, store, _) in backends() {
        threads_on(store).await;
    }
}

async fn threads_on(store: Arc<dyn Store>) {
    assert_eq!(store.thread("team", "shortcut:story:11").await.unwrap(), None);
    let root = ThreadRoot { channel_id: "C1".into(), ts: "1.1".into() };
    store.set_thread("team", "shortcut:story:11", root.clone(), None).await.unwrap();
    assert_eq!(store.thread("team", "shortcut:story:11").await.unwrap(), Some(root));
    assert_eq!(store.thread("other", "shortcut:story:11").await.unwrap(), None, "per channel");
    let fresh = ThreadRoot { channel_id: "C1".into(), ts: "2.2".into() };
    store.set_thread("team", "shortcut:story:11", fresh.clone(), None).await.unwrap();
    assert_eq!(store.thread("team", "shortcut:story:11").await.unwrap(), Some(fresh));
}

#[tokio::test]
async fn a_story_s_state_only_moves_forward_and_its_card_reads_the_channel_s_latest_messages() {
    for (name, store, _) in backends() {
        cards_on(name, store).await;
    }
}

async fn cards_on(name: &str, store: Arc<dyn Store>) {
    let key = "shortcut:story:11";
    let story = |seq: EventSeq, state: &str| StoryRecord { key: key.into(), seq, state: state.into() };
    let about = |channel: &str, text: &str| NewDelivery {
        thread_key: Some(key.into()),
        context: Some(format!(r#"{{"said":"{text}"}}"#)),
        ..message(channel, text)
    };
    let mut seqs = Vec::new();
    for (id, text) in [("e1", "first"), ("e2", "second"), ("e3", "third")] {
        let Accepted::Inserted { seq } = store.accept(event(id, 1000)).await.unwrap() else { panic!() };
        let routes = EventRoutes {
            seq,
            deliveries: vec![about("cards", text), about("elsewhere", text)],
            stories: vec![story(seq, &format!(r#"{{"name":"{text}"}}"#))],
        };
        store.commit_routes(vec![routes], true).await.unwrap();
        seqs.push(seq);
    }
    // Routing the first event again (a reroute) does not move the story back.
    let again = EventRoutes { seq: seqs[0], deliveries: Vec::new(), stories: vec![story(seqs[0], "{}")] };
    store.commit_routes(vec![again], false).await.unwrap();
    let states = store.stories(vec![key.into(), "shortcut:story:12".into()]).await.unwrap();
    assert_eq!(states, [story(seqs[2], r#"{"name":"third"}"#)], "{name}");

    let card = store.card("cards", key, 2).await.unwrap();
    assert_eq!(card.state.as_deref(), Some(r#"{"name":"third"}"#), "{name}");
    assert_eq!(card.recent, [r#"{"said":"third"}"#, r#"{"said":"second"}"#], "{name}: newest first");
    assert_eq!(card.shown, None, "{name}");
    let root = ThreadRoot { channel_id: "C1".into(), ts: "1.1".into() };
    store.set_thread("cards", key, root.clone(), Some("h1".into())).await.unwrap();
    assert_eq!(store.card("cards", key, 1).await.unwrap().shown.as_deref(), Some("h1"), "{name}");
    store.card_shown("cards", key, "h2".into()).await.unwrap();
    assert_eq!(store.card("cards", key, 1).await.unwrap().shown.as_deref(), Some("h2"), "{name}");
    assert_eq!(store.card("elsewhere", key, 1).await.unwrap().shown, None, "{name}: per channel");
    // A fresh root is a fresh card: what it shows is what it was posted with.
    store.set_thread("cards", key, root, None).await.unwrap();
    assert_eq!(store.card("cards", key, 1).await.unwrap().shown, None, "{name}");
}

#[tokio::test]
async fn a_digest_is_held_until_released_once_per_period_and_an_empty_one_is_made_once() {
    for (name, store, _) in backends() {
        digests_on(name, store).await;
    }
}

async fn digests_on(name: &str, store: Arc<dyn Store>) {
    let due = 1_000_000;
    let item = |text: &str| NewDelivery {
        plan: Plan::Digest {
            due,
            period: "digest:standup:a".into(),
            part: format!(r#"{{"said":"{text}"}}"#),
        },
        ..message("standup", text)
    };
    for (id, text) in [("e1", "one"), ("e2", "two")] {
        let Accepted::Inserted { seq } = store.accept(event(id, 1000)).await.unwrap() else { panic!() };
        let routes = EventRoutes { seq, deliveries: vec![item(text)], stories: Vec::new() };
        let queued = store.commit_routes(vec![routes], true).await.unwrap();
        assert_eq!((queued[0].queued, queued[0].coalesced), (0, 1), "{name}: collected, nothing to send yet");
    }
    let held = store.held_digest("standup").await.unwrap().unwrap();
    assert_eq!((held.due, held.parts.len()), (due, 2), "{name}");
    assert!(store.pending_batch("standup", 10).await.unwrap().is_empty(), "{name}: held back");
    assert!(store.queue_stats().await.unwrap().is_empty(), "{name}: not a waiting message");
    assert_eq!(store.digest_items().await.unwrap(), [("standup".to_owned(), 2)], "{name}");

    let release = |due_by: Millis, now: Millis, empty: Option<(Millis, String)>| Release {
        channel: "standup".into(),
        due_by,
        now,
        late_after: 60_000,
        empty,
        template: "digest".into(),
    };
    assert_eq!(store.release_digests(release(due - 1, due - 1, None)).await.unwrap().digests, 0, "{name}");
    let released = store.release_digests(release(due + 120_000, due + 120_000, None)).await.unwrap();
    assert_eq!(released, Released { digests: 1, late: 1 }, "{name}: two minutes after its time");
    let sent = store.pending_batch("standup", 10).await.unwrap();
    assert_eq!(sent.len(), 1, "{name}");
    assert_eq!(sent[0].digest, Some(DigestMark { due, late: true }), "{name}");
    assert_eq!(store.parts(sent[0].id).await.unwrap().len(), 2, "{name}");
    assert_eq!(
        store.release_digests(release(Millis::MAX, due, None)).await.unwrap().digests,
        0,
        "{name}: once"
    );

    // Empty digests: none for a period before the channel's first look, one
    // for a later period that collected nothing, and one only.
    let empty = |due: Millis| Some((due, format!("digest:standup:{due}")));
    assert_eq!(
        store.release_digests(release(5, 5, empty(5))).await.unwrap().digests,
        0,
        "{name}: first look"
    );
    assert_eq!(store.release_digests(release(9, 9, empty(9))).await.unwrap().digests, 1, "{name}");
    assert_eq!(store.release_digests(release(9, 9, empty(9))).await.unwrap().digests, 0, "{name}: once");
    // A period that collected something gets no empty one beside it.
    assert_eq!(
        store
            .release_digests(release(due, due, Some((due, "digest:standup:a".into()))))
            .await
            .unwrap()
            .digests,
        0,
        "{name}"
    );
}
