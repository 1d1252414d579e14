//! Serving: the listeners, the router, the delivery workers and the config
//! watch, started together and stopped together.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{admin, ingest, reload, route, server, store, Bridge, Shared};

/// How long shutdown waits for in-flight sends.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Everything `serve` needs.
pub struct Launch {
    pub bridge: Arc<Bridge>,
    pub store: Arc<dyn store::Store>,
    pub listener: TcpListener,
    /// Serve the admin API here instead of on `listener` (`admin_listen`).
    pub admin_listener: Option<TcpListener>,
    /// Where to reload the config from (file poll, SIGHUP, `POST /-/reload`).
    pub reloader: Option<reload::Reloader>,
    /// The time schedules follow: the system's, unless a test moves it.
    pub clock: Arc<crate::clock::Clock>,
}

/// Serves `bridge` on `listener` until `shutdown` resolves, without reloads or a
/// separate admin listener.
pub async fn run(
    bridge: Arc<Bridge>,
    store: Arc<dyn store::Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let launch =
        Launch { bridge, store, listener, admin_listener: None, reloader: None, clock: Arc::default() };
    serve(launch, shutdown).await
}

/// Serves until `shutdown` resolves: then stops accepting, lets in-flight sends
/// finish (up to ten seconds) and leaves the rest queued in the store.
pub async fn serve(
    launch: Launch,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Shared::new(launch.bridge, launch.store, launch.reloader, launch.clock);
    shared.workers.ensure(&shared);
    // The workers run on their own thread and hold `shared`: if this future is
    // dropped rather than shut down, they must end with it.
    let _workers_end_with_this = AbandonOnDrop(shared.clone());
    // Other bridges on a shared store say when they queue work for this one.
    let listener = Arc::downgrade(&shared);
    shared.store.listen(Arc::new(move |wakeup| {
        let Some(shared) = listener.upgrade() else { return };
        match wakeup {
            store::Wakeup::Routing => shared.router_wake.notify_one(),
            store::Wakeup::Queued(channel) => shared.wakers.wake(&channel),
        }
    }));
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    if shared.reloader.is_some() {
        tokio::spawn(reload::watch_loop(shared.clone(), stopped.clone()));
    }
    tokio::spawn(crate::digest::release_loop(shared.clone(), stopped.clone()));
    // Events stored but not routed before a crash are routed first.
    let router = route::start(shared.clone(), stopped.clone());
    let until = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    // With an admin listener, the public one serves webhooks and probes only;
    // the API and the metrics move to the admin listener.
    let public = ingest::router(shared.clone()).merge(admin::probes_router(shared.clone()));
    let public = match &launch.admin_listener {
        Some(_) => public,
        None => public
            .merge(admin::router(shared.clone()))
            .merge(admin::console_router(shared.clone()))
            .merge(admin::metrics_router(shared.clone())),
    };
    // Each listener has its own connection slots: a flood of webhooks cannot
    // lock the admin out.
    let limits = shared.bridge().connection_limits();
    let admin = launch.admin_listener.map(|listener| {
        let app = admin::router(shared.clone())
            .merge(admin::console_router(shared.clone()))
            .merge(admin::probes_router(shared.clone()))
            .merge(admin::metrics_router(shared.clone()));
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
    if let Err(error) = shared.store.release_leases().await {
        tracing::warn!(%error, "cannot let go of this bridge's leases; other replicas take over when they lapse");
    }
    Ok(())
}

struct AbandonOnDrop(Arc<Shared>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.workers.abandon();
    }
}
