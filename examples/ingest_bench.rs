//! Ingest throughput per store mode, measured in one run: the full ingest path
//! (verify → normalize → store → 2xx) under 16 concurrent keep-alive
//! connections. Neither the router nor the delivery workers are started, so the
//! figures are the ingest path's alone. Run through `bench/ingest`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use storybridge::config::{load_str, ConfigOrigin};
use storybridge::ingest::router;
use storybridge::store::{
    Accepted, Attempt, Delivery, DeliveryFilter, EventRoutes, EventSelection, Millis, NewEvent, Pause,
    QueueStats, Queued, Replay, Resolution, SqliteOptions, SqliteStore, Store, StoreFuture, StoredEvent,
};
use storybridge::verify::sign_hex;
use storybridge::{Bridge, Shared};

/// As the binary does (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-secret";
const CONCURRENCY: usize = 16;

const CONFIG: &str = r#"
sources:
  shortcut: { kind: shortcut, secrets: ["bench-secret"] }
channels:
  deploys: { kind: slack, url: "http://127.0.0.1:9/unused" }
rules:
  - name: ready
    when: { entity_type: story, to: { workflow_state_id: "Ready for Deploy" } }
    send: [deploys]
"#;

/// The pipeline with nothing stored: every event is "accepted" and forgotten.
struct NullStore;

impl Store for NullStore {
    fn accept(&self, _: NewEvent) -> StoreFuture<'_, Accepted> {
        Box::pin(async move { Ok(Accepted::Inserted { seq: 0 }) })
    }
    fn unrouted(&self, _: usize, _: usize) -> StoreFuture<'_, Vec<StoredEvent>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn commit_routes(&self, _: Vec<EventRoutes>, _: bool) -> StoreFuture<'_, Vec<Queued>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn stored_events(&self, _: EventSelection) -> StoreFuture<'_, Vec<StoredEvent>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn parts(&self, _: i64) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn thread(&self, _: &str, _: &str) -> StoreFuture<'_, Option<storybridge::store::ThreadRoot>> {
        Box::pin(async { Ok(None) })
    }
    fn set_thread(
        &self,
        _: &str,
        _: &str,
        _: storybridge::store::ThreadRoot,
        _: Option<String>,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn card_shown(&self, _: &str, _: &str, _: String) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn stories(&self, _: Vec<String>) -> StoreFuture<'_, Vec<storybridge::store::StoryRecord>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn card(&self, _: &str, _: &str, _: usize) -> StoreFuture<'_, storybridge::store::CardSource> {
        Box::pin(async { Ok(Default::default()) })
    }
    fn release_digests(
        &self,
        _: storybridge::store::Release,
    ) -> StoreFuture<'_, storybridge::store::Released> {
        Box::pin(async { Ok(Default::default()) })
    }
    fn held_digest(&self, _: &str) -> StoreFuture<'_, Option<storybridge::store::HeldDigest>> {
        Box::pin(async { Ok(None) })
    }
    fn digest_items(&self) -> StoreFuture<'_, Vec<(String, i64)>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn rendered(&self, _: i64, _: Result<String, String>) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn pending_batch(&self, _: &str, _: usize) -> StoreFuture<'_, Vec<Delivery>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn finish_attempt(&self, _: i64, _: Attempt, _: Resolution) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn deliveries(&self, _: DeliveryFilter) -> StoreFuture<'_, Vec<Delivery>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn attempts(&self, _: i64) -> StoreFuture<'_, Vec<Attempt>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn replay(&self, _: Replay) -> StoreFuture<'_, usize> {
        Box::pin(async { Ok(0) })
    }
    fn prune(&self, _: Millis) -> StoreFuture<'_, usize> {
        Box::pin(async { Ok(0) })
    }
    fn pause_channel(&self, _: &str, _: Pause) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn resume_channel(&self, _: &str) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn channel_pause(&self, _: &str) -> StoreFuture<'_, Option<Pause>> {
        Box::pin(async { Ok(None) })
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn queue_stats(&self) -> StoreFuture<'_, Vec<QueueStats>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn events(&self, _: &str) -> StoreFuture<'_, Vec<StoredEvent>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A Shortcut state change to "Ready for Deploy", about 900 bytes like a real one.
fn event(run: &str, n: usize) -> (String, Vec<u8>) {
    let body = json!({
        "id": format!("{run}-{n}"), "changed_at": "2026-11-25T12:00:00.000Z", "primary_id": n,
        "version": "v1", "member_id": "5b1fda16-626f-487f-9ecf-f3a4abf42b8b",
        "actions": [{
            "id": n, "entity_type": "story", "action": "update", "name": format!("Story number {n}"),
            "story_type": "feature", "app_url": format!("https://app.shortcut.com/acme/story/{n}"),
            "changes": {
                "started": {"new": true, "old": false},
                "workflow_state_id": {"new": 500000010, "old": 500000008},
                "started_at": {"new": "2026-11-25T12:00:00Z"},
                "owner_ids": {"adds": ["5b1fda16-626f-487f-9ecf-f3a4abf42b8b"]}
            }
        }],
        "references": [
            {"id": 500000010, "entity_type": "workflow-state", "name": "Ready for Deploy", "type": "started"},
            {"id": 500000008, "entity_type": "workflow-state", "name": "In Review", "type": "started"}
        ]
    })
    .to_string()
    .into_bytes();
    (sign_hex(SECRET, &body), body)
}

async fn serve(store: Arc<dyn Store>) -> SocketAddr {
    let origin = ConfigOrigin { name: "bench.yaml".into(), base_dir: ".".into() };
    let config = load_str(CONFIG, &origin, &|_| None).expect("bench config");
    let bridge = Arc::new(Bridge::build(config, origin).expect("bench bridge"));
    // No workers are started: the figures are ingest's alone.
    let app = router(Shared::new(bridge, store, None, Default::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(address: SocketAddr, requests: Arc<Vec<(String, Vec<u8>)>>) -> Figures {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, next, requests) = (client.clone(), next.clone(), requests.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((signature, body)) = requests.get(index) else { break };
                    let sent = Instant::now();
                    let response = client
                        .post(format!("http://{address}/hooks/shortcut"))
                        .header("content-type", "application/json")
                        .header("payload-signature", signature)
                        .body(body.clone())
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(response.status(), 202, "every event is new and valid");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures { per_second: latencies.len() as f64 / elapsed.as_secs_f64(), p50: at(0.50), p99: at(0.99) }
}

fn sqlite(dir: &std::path::Path, name: &str, options: SqliteOptions) -> Arc<dyn Store> {
    let path = dir.join(format!("{name}.db"));
    Arc::new(SqliteStore::open_with(&path, options).expect("bench store"))
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("storybridge-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let modes: Vec<(&str, Arc<dyn Store>)> = vec![
        ("pipeline, storing nothing", Arc::new(NullStore)),
        ("sqlite, group commit, synchronous=FULL (default)", sqlite(&dir, "full", SqliteOptions::default())),
        (
            "sqlite, group commit, synchronous=NORMAL",
            sqlite(&dir, "normal", SqliteOptions { fsync_every_commit: false, ..Default::default() }),
        ),
        (
            "sqlite, one commit per request, FULL",
            sqlite(&dir, "single", SqliteOptions { max_batch: 1, ..Default::default() }),
        ),
    ];
    println!("ingest benchmark: {count} signed Shortcut events per mode, {CONCURRENCY} concurrent connections, loopback");
    println!("store files under {}\n", dir.display());
    println!("{:<50} {:>10} {:>9} {:>9} {:>12}", "mode", "events/s", "p50 ms", "p99 ms", "vs nothing");
    let mut baseline = None;
    for (name, store) in modes {
        let address = serve(store).await;
        let warmup = Arc::new((0..500).map(|n| event(&format!("{name}-warmup"), n)).collect::<Vec<_>>());
        load(address, warmup).await;
        let requests = Arc::new((0..count).map(|n| event(name, n)).collect::<Vec<_>>());
        let figures = load(address, requests).await;
        let base = *baseline.get_or_insert(figures.per_second);
        println!(
            "{:<50} {:>10.0} {:>9.2} {:>9.2} {:>11.0}%",
            name,
            figures.per_second,
            figures.p50.as_secs_f64() * 1000.0,
            figures.p99.as_secs_f64() * 1000.0,
            figures.per_second / base * 100.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
