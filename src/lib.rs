//! storybridge: tracker webhooks in, chat messages out.
//!
//! A request travels the modules in this order:
//! `ingest` (HTTP, limits) → `verify` (HMAC / token) → `normalize` (one event
//! model) → `store` (the raw event, committed before the 2xx). Off the request
//! path, `route` takes it from there: `resolve` (names for ids) → `rules`
//! (which rules fire) → `render` (templates), shown in one function by
//! `pipeline::process`, and commits the messages → `deliver` (per-channel
//! workers, pace, retries) → `sinks` (Slack, Discord, console). `config` turns
//! `bridge.yaml` into typed values before any of it runs.

pub mod admin;
pub mod config;
pub mod deliver;
pub mod ingest;
pub mod metrics;
pub mod normalize;
pub mod pipeline;
pub mod reload;
pub mod render;
pub mod resolve;
pub mod route;
pub mod rules;
pub mod server;
pub mod sinks;
pub mod store;
pub mod verify;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;

use config::{ChannelKind, Config, ConfigError, ConfigErrors, ConfigOrigin};
use render::Templates;
use resolve::Directory;
use rules::Rule;

/// How long shutdown waits for in-flight sends.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// A loaded, checked configuration with everything compiled that requests need:
/// rules, templates, the names directory.
pub struct Bridge {
    pub config: Config,
    pub origin: ConfigOrigin,
    pub rules: Vec<Rule>,
    pub templates: Templates,
    pub directory: Directory,
}

impl Bridge {
    /// Compiles `config`, checking what spans config and template files.
    pub fn build(config: Config, origin: ConfigOrigin) -> Result<Bridge, ConfigErrors> {
        let directory = config.templates.as_ref().map(|dir| origin.base_dir.join(dir));
        let templates = Templates::load(directory.as_deref(), &origin.name).map_err(ConfigErrors)?;
        let problems = check_template_names(&config, &templates, &origin.name);
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        Ok(Bridge {
            rules: config.rules.iter().map(Rule::compile).collect(),
            directory: Directory::from_config(&config),
            templates,
            config,
            origin,
        })
    }
}

impl Bridge {
    /// What each listener's connections may hold. Read at start: like `listen`,
    /// a change takes effect at the next restart.
    pub fn connection_limits(&self) -> server::ConnectionLimits {
        server::ConnectionLimits {
            max_connections: self.config.max_connections,
            max_buffer_bytes: server::MAX_BUFFER_BYTES,
            head_timeout: self.config.idle_timeout.0,
        }
    }

    /// Things that are valid but probably not meant: `storybridge check` prints
    /// them as warnings. Channels no rule sends to, and templates in the
    /// `templates:` directory that no rule or channel names.
    pub fn lints(&self) -> Vec<String> {
        let file = &self.origin.name;
        let mut warnings = Vec::new();
        for channel in self.config.channels.keys() {
            if !self.rules.iter().any(|rule| rule.send.contains(channel)) {
                warnings.push(format!("{file}: channels.{channel}: no rule sends to this channel"));
            }
        }
        let named: Vec<&str> = self
            .rules
            .iter()
            .filter_map(|rule| rule.template.as_deref())
            .chain(self.config.channels.values().filter_map(|channel| channel.template.as_deref()))
            .chain([render::DEFAULT_TEMPLATE])
            .collect();
        for template in self.templates.from_directory() {
            if !named.contains(&template) {
                warnings.push(format!("{file}: templates: `{template}` is used by no rule or channel"));
            }
        }
        warnings
    }
}

/// A named template must exist for every platform it will render for.
fn check_template_names(config: &Config, templates: &Templates, file: &str) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    let mut require = |path: String, name: &str, kind: ChannelKind, channel: &str| {
        if !templates.has(name, kind) {
            let known: Vec<&str> = templates.names().collect();
            problems.push(ConfigError {
                file: file.into(),
                path,
                message: format!(
                    "unknown template `{name}` for {kind} channel `{channel}` (known: {})",
                    known.join(", ")
                ),
            });
        }
    };
    for (name, channel) in &config.channels {
        if let Some(template) = &channel.template {
            require(format!("channels.{name}.template"), template, channel.kind, name);
        }
    }
    for (index, rule) in config.rules.iter().enumerate() {
        let Some(template) = &rule.template else { continue };
        for channel_name in &rule.send {
            if let Some(channel) = config.channels.get(channel_name) {
                require(format!("rules[{index}].template"), template, channel.kind, channel_name);
            }
        }
    }
    problems
}

/// The HTTP client every sink shares: bounded timeouts, and no redirects, since a
/// webhook that redirects is misconfigured and following it could leak the body.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("storybridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("TLS backend initialises")
}

/// What ingest, the admin API and the delivery workers share while running.
pub struct Shared {
    /// The current config; a reload swaps it whole, so each request and each
    /// send sees one consistent version.
    bridge: ArcSwap<Bridge>,
    pub store: Arc<dyn store::Store>,
    pub metrics: metrics::Metrics,
    pub client: reqwest::Client,
    pub wakers: deliver::Wakers,
    /// Wakes the router when ingest stored an event.
    pub router_wake: Arc<tokio::sync::Notify>,
    pub workers: deliver::Workers,
    /// Sized at start (`max_body_bytes_in_flight`); a reload leaves it.
    pub body_budget: ingest::BodyBudget,
    pub reloader: Option<reload::Reloader>,
    /// Tracker API clients by source name; their caches outlive reloads that
    /// leave the source's API settings alone.
    apis: std::sync::Mutex<std::collections::HashMap<String, Arc<resolve::ShortcutApi>>>,
}

impl Shared {
    pub fn new(
        bridge: Arc<Bridge>,
        store: Arc<dyn store::Store>,
        reloader: Option<reload::Reloader>,
    ) -> Arc<Shared> {
        let metrics = metrics::Metrics::default();
        metrics.prime(&bridge);
        let body_budget = ingest::BodyBudget::new(bridge.config.max_body_bytes_in_flight);
        Arc::new(Shared {
            bridge: ArcSwap::new(bridge),
            store,
            metrics,
            client: http_client(),
            wakers: deliver::Wakers::default(),
            router_wake: Arc::default(),
            workers: deliver::Workers::default(),
            body_budget,
            reloader,
            apis: Default::default(),
        })
    }

    pub fn bridge(&self) -> Arc<Bridge> {
        self.bridge.load_full()
    }

    /// The API client for a source, if it has an `api_token`.
    pub fn tracker_api(
        &self,
        source_name: &str,
        source: &config::SourceConfig,
    ) -> Option<Arc<resolve::ShortcutApi>> {
        let config::SourceConfig::Shortcut(shortcut) = source else { return None };
        let mut apis = self.apis.lock().expect("apis lock");
        if let Some(api) = apis.get(source_name).filter(|api| api.same_as(shortcut)) {
            return Some(api.clone());
        }
        let api = Arc::new(resolve::ShortcutApi::for_source(shortcut, self.client.clone())?);
        apis.insert(source_name.to_owned(), api.clone());
        Some(api)
    }

    /// Makes `bridge` the config for every request and send from now on.
    pub fn swap(self: &Arc<Self>, bridge: Bridge) {
        self.metrics.prime(&bridge);
        self.bridge.store(Arc::new(bridge));
        self.workers.ensure(self);
    }
}

/// Everything `serve` needs.
pub struct Launch {
    pub bridge: Arc<Bridge>,
    pub store: Arc<dyn store::Store>,
    pub listener: TcpListener,
    /// Serve the admin API here instead of on `listener` (`admin_listen`).
    pub admin_listener: Option<TcpListener>,
    /// Where to reload the config from (file poll, SIGHUP, `POST /-/reload`).
    pub reloader: Option<reload::Reloader>,
}

/// Serves `bridge` on `listener` until `shutdown` resolves, without reloads or a
/// separate admin listener.
pub async fn run(
    bridge: Arc<Bridge>,
    store: Arc<dyn store::Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(Launch { bridge, store, listener, admin_listener: None, reloader: None }, shutdown).await
}

/// Serves until `shutdown` resolves: then stops accepting, lets in-flight sends
/// finish (up to ten seconds) and leaves the rest queued in the store.
pub async fn serve(
    launch: Launch,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Shared::new(launch.bridge, launch.store, launch.reloader);
    shared.workers.ensure(&shared);
    // The workers run on their own thread and hold `shared`: if this future is
    // dropped rather than shut down, they must end with it.
    let _workers_end_with_this = AbandonOnDrop(shared.clone());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    if shared.reloader.is_some() {
        tokio::spawn(reload::watch_loop(shared.clone(), stopped.clone()));
    }
    // Events stored but not routed before a crash are routed first.
    let router = route::start(shared.clone(), stopped.clone());
    let until = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let public = ingest::router(shared.clone()).merge(admin::health_router(shared.clone()));
    let public = match &launch.admin_listener {
        Some(_) => public,
        None => public.merge(admin::router(shared.clone())),
    };
    // Each listener has its own connection slots: a flood of webhooks cannot
    // lock the admin out.
    let limits = shared.bridge().connection_limits();
    let admin = launch.admin_listener.map(|listener| {
        let app = admin::router(shared.clone()).merge(admin::health_router(shared.clone()));
        tokio::spawn(server::serve(listener, app, limits, until(stopped.clone())))
    });
    server::serve(launch.listener, public, limits, until(stopped)).await;
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    // The router ends between batches (one cut short is routed again at the
    // next start); not waited for beyond the deadline.
    let _ = tokio::time::timeout(DRAIN_DEADLINE, tokio::task::spawn_blocking(move || router.join())).await;
    shared.workers.stop(DRAIN_DEADLINE).await;
    Ok(())
}

struct AbandonOnDrop(Arc<Shared>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.workers.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_warns_of_unused_channels_and_templates() {
        let dir = std::env::temp_dir().join(format!("storybridge-lints-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(dir.join("templates/deploy.hbs"), "{{name}}").unwrap();
        std::fs::write(dir.join("templates/orphan.slack.hbs"), "{{name}}").unwrap();
        let yaml = "templates: templates\nchannels:\n  a: { kind: console }\n  idle: { kind: console }\n\
                    rules:\n  - { name: r, send: [a], template: deploy }\n";
        let origin = ConfigOrigin { name: "bridge.yaml".into(), base_dir: dir };
        let bridge = Bridge::build(config::load_str(yaml, &origin, &|_| None).unwrap(), origin).unwrap();
        assert_eq!(
            bridge.lints(),
            [
                "bridge.yaml: channels.idle: no rule sends to this channel",
                "bridge.yaml: templates: `orphan` is used by no rule or channel",
            ]
        );
    }
}
