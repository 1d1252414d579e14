//! A stand-in for the Shortcut REST API: members, workflows and labels, a count
//! of requests per path, the token it was sent, and an outage on cue.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

#[derive(Default)]
struct Tracker {
    requests: Mutex<HashMap<String, usize>>,
    tokens: Mutex<Vec<String>>,
    down: AtomicBool,
    /// How long each answer takes.
    delay: Mutex<std::time::Duration>,
}

pub struct FakeTracker {
    pub address: SocketAddr,
    state: Arc<Tracker>,
}

impl FakeTracker {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = Arc::new(Tracker::default());
        let app = Router::new().fallback(answer).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeTracker { address, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v3", self.address)
    }

    /// Requests so far, all paths together.
    pub fn requests(&self) -> usize {
        self.state.requests.lock().unwrap().values().sum()
    }

    pub fn tokens(&self) -> Vec<String> {
        self.state.tokens.lock().unwrap().clone()
    }

    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn set_delay(&self, delay: std::time::Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }
}

async fn answer(State(state): State<Arc<Tracker>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches("/api/v3").to_owned();
    *state.requests.lock().unwrap().entry(path.clone()).or_default() += 1;
    let token = headers.get("shortcut-token").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    state.tokens.lock().unwrap().push(token);
    let delay = *state.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    if state.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    match path.as_str() {
        "/members" => Json(json!([
            {"id": "5b1fda16-626f-487f-9ecf-f3a4abf42b8b", "profile": {"name": "Grace Hopper", "mention_name": "grace"}},
            {"id": "6071752f-e16e-4f79-b41e-7c78b76aa4bd", "profile": {"name": "Alan Turing", "mention_name": "alan"}}
        ]))
        .into_response(),
        "/workflows" => Json(json!([{"id": 1, "name": "Engineering", "states": [
            {"id": 500000008, "name": "Unscheduled", "type": "unstarted"},
            {"id": 500000011, "name": "Ready for Deploy", "type": "started"}
        ]}]))
        .into_response(),
        "/labels/77" => Json(json!({"id": 77, "name": "urgent"})).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
