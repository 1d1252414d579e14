//! `spawn_app`: the real bridge, from a real config, on port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use storybridge::config::{load_str, ConfigOrigin};
use storybridge::verify::sign_hex;
use storybridge::Bridge;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::FakeSink;

pub const SHORTCUT_SECRET: &str = "shortcut-secret";
pub const OLD_SHORTCUT_SECRET: &str = "previous-secret";
pub const PIVOTAL_TOKEN: &str = "pivotal-token";
pub const CLUBMED_SECRET: &str = "clubmed-secret";

/// The issue's contract config, with the sink's URLs and `rules` supplied by the test.
const CONFIG: &str = r#"
listen: "127.0.0.1:0"
max_body_bytes: 65536
sources:
  shortcut:
    kind: shortcut
    secrets: ["${SHORTCUT_WEBHOOK_SECRET}", "previous-secret"]
  tracker:
    kind: pivotal
    token: "${PIVOTAL_WEBHOOK_TOKEN}"
  clubmed:
    kind: generic
    signature: { header: X-Clubmed-Signature, prefix: "sha256=" }
    secrets: ["${CLUBMED_WEBHOOK_SECRET}"]
    event_type: { header: X-Clubmed-Event }
channels:
  deploys: { kind: slack,   url: "${SLACK_DEPLOYS_URL}" }
  team:    { kind: discord, url: "${DISCORD_TEAM_URL}", username: "Story Bot" }
people:
  5b1fda16-626f-487f-9ecf-f3a4abf42b8b: { name: "Ada Lovelace" }
"#;

pub struct TestApp {
    pub address: SocketAddr,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts the bridge on the contract config plus `rules` (YAML for the `rules:` key).
pub async fn spawn_app(sink: &FakeSink, rules: &str) -> TestApp {
    let yaml = format!("{CONFIG}\nrules:\n{rules}\n");
    spawn_with_config(sink, &yaml).await
}

pub async fn spawn_with_config(sink: &FakeSink, yaml: &str) -> TestApp {
    let slack = sink.url("/slack/deploys");
    let discord = sink.url("/discord/team");
    let lookup = move |name: &str| match name {
        "SHORTCUT_WEBHOOK_SECRET" => Some(SHORTCUT_SECRET.to_owned()),
        "PIVOTAL_WEBHOOK_TOKEN" => Some(PIVOTAL_TOKEN.to_owned()),
        "CLUBMED_WEBHOOK_SECRET" => Some(CLUBMED_SECRET.to_owned()),
        "SLACK_DEPLOYS_URL" => Some(slack.clone()),
        "DISCORD_TEAM_URL" => Some(discord.clone()),
        _ => None,
    };
    let origin = ConfigOrigin {
        name: "test.yaml".into(),
        base_dir: ".".into(),
    };
    let config = load_str(yaml, &origin, &lookup).unwrap_or_else(|errors| panic!("{errors}"));
    let bridge = Bridge::build(config, origin).unwrap_or_else(|errors| panic!("{errors}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(storybridge::run(Arc::new(bridge), listener, async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        http: reqwest::Client::new(),
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// POSTs `body` to `/hooks/shortcut`, signed the way Shortcut signs.
    pub async fn post_shortcut(&self, body: &[u8]) -> reqwest::Response {
        self.http
            .post(self.url("/hooks/shortcut"))
            .header("content-type", "application/json")
            .header("payload-signature", sign_hex(SHORTCUT_SECRET, body))
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    pub async fn post_pivotal(&self, body: &[u8], token: &str) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/hooks/tracker?token={token}")))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Stops accepting and waits for queued messages to go out.
    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

pub fn sign_clubmed(body: &[u8]) -> String {
    sign_hex(CLUBMED_SECRET, body)
}
