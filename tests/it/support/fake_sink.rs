//! A stand-in for Slack and Discord: an HTTP server on port 0 that records every
//! request and answers from a script (then `200 ok`, or for Slack's Web API
//! `chat.postMessage` and `chat.update` its `{"ok":true,…}`), so tests can make it answer 429,
//! 500 or 404 on cue.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::sync::mpsc;

/// One request the sink received.
#[derive(Debug)]
pub struct Received {
    pub method: axum::http::Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Value,
    pub at: Instant,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Self {
        Reply { status, headers: Vec::new(), body: body.into() }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Clone)]
struct SinkState {
    script: Arc<Mutex<VecDeque<Reply>>>,
    received: mpsc::UnboundedSender<Received>,
    archived: Arc<Mutex<HashSet<String>>>,
}

pub struct FakeSink {
    pub address: SocketAddr,
    script: Arc<Mutex<VecDeque<Reply>>>,
    received: mpsc::UnboundedReceiver<Received>,
    archived: Arc<Mutex<HashSet<String>>>,
}

impl FakeSink {
    pub async fn start() -> Self {
        Self::start_at("127.0.0.1:0".parse().unwrap()).await
    }

    /// Starts on a given address, e.g. one that was refusing connections so far.
    pub async fn start_at(address: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let (sender, received) = mpsc::unbounded_channel();
        let archived = Arc::new(Mutex::new(HashSet::new()));
        let state = SinkState { script: script.clone(), received: sender, archived: archived.clone() };
        let app = Router::new().fallback(record).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeSink { address, script, received, archived }
    }

    /// Archives a Discord thread, as Discord does after a while without
    /// messages: its messages take no edits (50083) until a message is posted
    /// into it, which unarchives it.
    pub fn archive_thread(&self, thread_id: &str) {
        self.archived.lock().unwrap().insert(thread_id.to_owned());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The next requests get these answers, in order; after them, `200 ok`.
    pub fn reply_next(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// The next request received, waiting up to ten seconds.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("the sink received nothing within 10 s")
            .expect("sink stopped")
    }

    /// The next request received within `wait`, if one came.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Received> {
        tokio::time::timeout(wait, self.received.recv()).await.ok().flatten()
    }

    /// Every request received so far and not yet taken with `next`. Call after
    /// `TestApp::stop`, which waits for queued messages, to see that no more came.
    pub fn take_all(&mut self) -> Vec<Received> {
        let mut all = Vec::new();
        while let Ok(request) = self.received.try_recv() {
            all.push(request);
        }
        all
    }
}

/// Discord's answer to an executed webhook with `?wait=true`: the message, with
/// its id and the channel it landed in. Like Discord, a `thread_name` opens a
/// post only on a forum's webhook (here: a path with `forum` in it) and is
/// refused elsewhere with 220003; `thread_id` posts into that thread (and
/// unarchives it). An edit in an archived thread is refused with 50083.
fn discord_answer(
    uri: &Uri,
    method: &axum::http::Method,
    body: &Value,
    archived: &Mutex<HashSet<String>>,
) -> Reply {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let query = uri.query().unwrap_or("");
    let thread_id = query.split('&').find_map(|pair| pair.strip_prefix("thread_id="));
    let forum = uri.path().contains("forum");
    if *method == axum::http::Method::PATCH {
        let id = uri.path().rsplit('/').next().unwrap_or("0");
        let channel = thread_id.unwrap_or("100");
        if archived.lock().unwrap().contains(channel) {
            return Reply::new(400, r#"{"message":"Thread is archived","code":50083}"#);
        }
        return Reply::new(200, &format!(r#"{{"id":"{id}","channel_id":"{channel}"}}"#));
    }
    if let Some(thread) = thread_id {
        archived.lock().unwrap().remove(thread);
    }
    match (body.get("thread_name"), thread_id) {
        (Some(_), _) if !forum => Reply::new(
            400,
            r#"{"message":"Webhooks can only create threads in forum channels","code":220003}"#,
        ),
        (Some(_), _) => Reply::new(200, &format!(r#"{{"id":"{n}","channel_id":"9{n}"}}"#)),
        (None, Some(thread)) => Reply::new(200, &format!(r#"{{"id":"{n}","channel_id":"{thread}"}}"#)),
        (None, None) => Reply::new(200, &format!(r#"{{"id":"{n}","channel_id":"100"}}"#)),
    }
}

async fn record(
    State(state): State<SinkState>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value =
        serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
    let edit = method == axum::http::Method::PATCH;
    let discord =
        uri.path().starts_with("/discord") && (edit || uri.query().is_some_and(|q| q.contains("wait=true")));
    let discord_reply = discord.then(|| discord_answer(&uri, &method, &body, &state.archived));
    let _ = state.received.send(Received {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
        at: Instant::now(),
    });
    let scripted = state.script.lock().unwrap().pop_front();
    let web_api = uri.path().ends_with("/chat.postMessage") || uri.path().ends_with("/chat.update");
    let reply = scripted.or(discord_reply).unwrap_or_else(|| match web_api {
        // The Web API's answer: the channel's id and the message's ts.
        true => Reply::new(200, r#"{"ok":true,"channel":"C0123456789","ts":"1700000000.000100"}"#),
        false => Reply::new(200, "ok"),
    });
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}
