//! What ingest, the router, the admin API and the delivery workers share while
//! running: the current config (swapped whole by a reload), the store, the
//! metrics, the HTTP client, the wake-ups, and the tracker API clients.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::{config, deliver, ingest, metrics, reload, resolve, store, Bridge};

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
    /// The time schedules follow (digests); tests move it.
    pub clock: Arc<crate::clock::Clock>,
    /// Tracker API clients by source name; their caches outlive reloads that
    /// leave the source's API settings alone.
    apis: std::sync::Mutex<std::collections::HashMap<String, Arc<resolve::ShortcutApi>>>,
}

impl Shared {
    pub fn new(
        bridge: Arc<Bridge>,
        store: Arc<dyn store::Store>,
        reloader: Option<reload::Reloader>,
        clock: Arc<crate::clock::Clock>,
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
            clock,
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
