//! `spawn_app`: the real bridge, from a real config, on port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use std::path::PathBuf;

use storybridge::config::{load_file_with, load_str, ConfigOrigin};
use storybridge::reload::{Lookup, Reloader};
use storybridge::store::{self, Delivery, DeliveryFilter, Store};
use storybridge::verify::sign_hex;
use storybridge::{Bridge, Launch};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::FakeSink;

pub const SHORTCUT_SECRET: &str = "shortcut-secret";
pub const OLD_SHORTCUT_SECRET: &str = "previous-secret";
pub const PIVOTAL_TOKEN: &str = "pivotal-token";
pub const CLUBMED_SECRET: &str = "clubmed-secret";
pub const GITHUB_SECRET: &str = "github-secret";
pub const GITLAB_TOKEN: &str = "gitlab-token";
pub const LINEAR_SECRET: &str = "linear-secret";
pub const JIRA_SECRET: &str = "jira-secret";

/// The issue's contract config, with the sink's URLs and `rules` supplied by the test.
const CONFIG: &str = r#"
listen: "127.0.0.1:0"
max_body_bytes: 65536
storage: "${STORAGE:-sqlite::memory:}"
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
  github: { kind: github, secrets: ["github-secret"] }
  gitlab: { kind: gitlab, token: "gitlab-token" }
  linear: { kind: linear, secrets: ["linear-secret"] }
  jira: { kind: jira, secrets: ["jira-secret"] }
channels:
  deploys: { kind: slack,   url: "${SLACK_DEPLOYS_URL}" }
  team:    { kind: discord, url: "${DISCORD_TEAM_URL}", username: "Story Bot" }
people:
  5b1fda16-626f-487f-9ecf-f3a4abf42b8b: { name: "Ada Lovelace" }
"#;

pub struct TestApp {
    pub address: SocketAddr,
    pub admin_address: Option<SocketAddr>,
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts the bridge on the contract config plus `rules` (YAML for the `rules:` key).
pub async fn spawn_app(sink: &FakeSink, rules: &str) -> TestApp {
    spawn_with_storage(&sink.base(), &config_with(rules), None).await
}

/// The contract config with these rules.
pub fn config_with(rules: &str) -> String {
    format!("{CONFIG}\nrules:\n{rules}\n")
}

/// The values the config's `${VAR}`s take in tests: the sink at `sink_base`,
/// the store at `storage` (default: in memory).
pub fn variables(sink_base: &str, storage: Option<&str>) -> Vec<(&'static str, String)> {
    let mut variables = vec![
        ("SHORTCUT_WEBHOOK_SECRET", SHORTCUT_SECRET.to_owned()),
        ("PIVOTAL_WEBHOOK_TOKEN", PIVOTAL_TOKEN.to_owned()),
        ("CLUBMED_WEBHOOK_SECRET", CLUBMED_SECRET.to_owned()),
        ("SLACK_DEPLOYS_URL", format!("{sink_base}/slack/deploys")),
        ("DISCORD_TEAM_URL", format!("{sink_base}/discord/team")),
    ];
    if let Some(storage) = storage {
        variables.push(("STORAGE", storage.to_owned()));
    }
    variables
}

/// Starts the bridge on `yaml`, its chat URLs under `sink_base` and its store at
/// `storage` (a `sqlite://` URL), so a test can stop it and start another on the
/// same store, or point the CLI at it.
pub async fn spawn_with_storage(sink_base: &str, yaml: &str, storage: Option<&str>) -> TestApp {
    spawn(sink_base, yaml, Options { storage: storage.map(str::to_owned), ..Default::default() }).await
}

/// Starts the bridge on the contract config plus `rules`, written to
/// `dir/bridge.yaml` (reloaded when it changes), with `templates: templates`
/// and the one template file `name` = `text` there.
pub async fn spawn_with_template(
    sink_base: &str,
    dir: &std::path::Path,
    name: &str,
    text: &str,
    rules: &str,
) -> TestApp {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("templates").join(name), text).unwrap();
    let yaml = format!("templates: templates\n{}", config_with(rules));
    spawn(sink_base, &yaml, Options { config_file: Some(dir.join("bridge.yaml")), ..Default::default() })
        .await
}

#[derive(Default)]
pub struct Options {
    /// A `sqlite://` URL for the store; default in memory.
    pub storage: Option<String>,
    /// Use this store instead (e.g. one that can fail on cue).
    pub store: Option<Arc<dyn Store>>,
    /// Write the config here and reload from it (file watch, `POST /-/reload`).
    pub config_file: Option<PathBuf>,
    /// Serve the admin API on a listener of its own (`admin_listen`).
    pub admin_listener: bool,
    /// The clock schedules follow (digests), for the test to move.
    pub clock: Option<Arc<storybridge::clock::Clock>>,
}

pub async fn spawn(sink_base: &str, yaml: &str, options: Options) -> TestApp {
    let variables = variables(sink_base, options.storage.as_deref());
    let lookup: Lookup = Arc::new(move |name: &str| {
        variables.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone())
    });
    let (config, origin, reloader) = match &options.config_file {
        Some(path) => {
            std::fs::write(path, yaml).unwrap();
            let (config, origin) = load_file_with(path, &*lookup).unwrap_or_else(|errors| panic!("{errors}"));
            (config, origin, Some(Reloader::new(path.clone(), lookup.clone())))
        }
        None => {
            let origin = ConfigOrigin { name: "test.yaml".into(), base_dir: ".".into() };
            let config = load_str(yaml, &origin, &*lookup).unwrap_or_else(|errors| panic!("{errors}"));
            (config, origin, None)
        }
    };
    let store = match options.store {
        Some(store) => store,
        None => store::open(&config.storage, &origin.base_dir).unwrap(),
    };
    let bridge = Bridge::build(config, origin).unwrap_or_else(|errors| panic!("{errors}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let admin_listener = match options.admin_listener {
        true => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        false => None,
    };
    let admin_address = admin_listener.as_ref().map(|listener| listener.local_addr().unwrap());
    let clock = options.clock.unwrap_or_default();
    let launch =
        Launch { bridge: Arc::new(bridge), store: store.clone(), listener, admin_listener, reloader, clock };
    let server = tokio::spawn(storybridge::serve(launch, async {
        let _ = stopped.await;
    }));
    let app = TestApp {
        address,
        admin_address,
        store,
        http: reqwest::Client::new(),
        shutdown: Some(shutdown),
        server: Some(server),
    };
    // `serve` runs in a task of its own: wait until it answers, so everything it
    // sets up first (workers, the config watch) is in place for the test.
    app.http.get(app.url("/healthz")).send().await.expect("the bridge answers");
    app
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

    /// Waits (up to ten seconds) until every accepted event is routed and no
    /// delivery is pending: every message the bridge owes has been delivered or
    /// declared dead, so the sink has seen all it will see (digests still
    /// collecting wait for their period).
    pub async fn settled(&self) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            self.routed().await;
            // Pending, but for digests still collecting (they wait for their period).
            if self.store.queue_stats().await.unwrap().is_empty()
                && self.store.unrouted(1, 0).await.unwrap().is_empty()
            {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "deliveries still pending after 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to ten seconds) until the router has routed every accepted event.
    pub async fn routed(&self) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.store.unrouted(1, 0).await.unwrap().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "events still unrouted after 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// The `/metrics` page, as Prometheus would scrape it.
    pub async fn metrics(&self) -> String {
        self.http.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap()
    }

    /// How many config reloads ended in `outcome` (success, failure).
    pub async fn reloads(&self, outcome: &str) -> f64 {
        let text = self.metrics().await;
        let series = format!("storybridge_config_reloads_total{{outcome=\"{outcome}\"}} ");
        text.lines().find_map(|line| line.strip_prefix(&series)?.parse().ok()).unwrap_or(0.0)
    }

    /// Waits (up to ten seconds) until `count` reloads have ended in `outcome`.
    pub async fn wait_for_reloads(&self, outcome: &str, count: f64) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.reloads(outcome).await < count {
            assert!(tokio::time::Instant::now() < deadline, "no {outcome} reload within 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Every delivery in the store, oldest first.
    pub async fn deliveries(&self) -> Vec<Delivery> {
        let mut all = self.store.deliveries(DeliveryFilter { limit: 0, ..Default::default() }).await.unwrap();
        all.reverse();
        all
    }

    /// Stops accepting and lets in-flight sends finish; the rest stays in the store.
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
