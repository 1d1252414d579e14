//! A chat sink for `bench/run`: answers every POST `200 ok` (as Slack does),
//! counts them, and tells `GET /count` how many arrived and when the last did
//! (milliseconds since the Unix epoch).
//! Usage: bench_sink PORT

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::{get, post};

#[derive(Default)]
struct Counts {
    received: AtomicU64,
    last_millis: AtomicU64,
}

/// One thread: the bridge sends to it over one connection per channel, and the
/// sink should take as little of the machine from the bridge as it can.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).expect("port");
    let counts = Arc::new(Counts::default());
    let app = axum::Router::new()
        .route(
            "/slack",
            post(|State(counts): State<Arc<Counts>>| async move {
                counts.received.fetch_add(1, Ordering::SeqCst);
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
                counts.last_millis.store(now, Ordering::SeqCst);
                "ok"
            }),
        )
        .route(
            "/count",
            get(|State(counts): State<Arc<Counts>>| async move {
                format!(
                    "{} {}\n",
                    counts.received.load(Ordering::SeqCst),
                    counts.last_millis.load(Ordering::SeqCst)
                )
            }),
        )
        .with_state(counts);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
