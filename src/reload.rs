//! Hot reload: on a change to the config file or a template (watched), on
//! SIGHUP and on `POST /-/reload`, load and check the new config; if it is
//! valid, swap it in for new events; if not, keep the old one and say why.
//! Queued deliveries are already rendered, so a reload never disturbs them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use crate::config::{load_file_with, ConfigErrors};
use crate::{Bridge, Shared};

/// Where `${VAR}` values come from: the process environment, or a test's table.
pub type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Editors save in bursts (write, rename, chmod): one reload per burst.
const SETTLE: Duration = Duration::from_millis(300);

pub struct Reloader {
    path: PathBuf,
    lookup: Lookup,
}

impl Reloader {
    pub fn new(path: PathBuf, lookup: Lookup) -> Self {
        Reloader { path, lookup }
    }

    pub fn from_environment(path: PathBuf) -> Self {
        Reloader::new(path, Arc::new(|name: &str| std::env::var(name).ok()))
    }

    /// Loads the file again; swaps it in if valid. Either way, counts and logs it.
    pub fn reload(&self, shared: &Arc<Shared>) -> Result<(), ConfigErrors> {
        let loaded = load_file_with(&self.path, &*self.lookup)
            .and_then(|(config, origin)| Bridge::build(config, origin));
        match loaded {
            Ok(bridge) => {
                if bridge.config.listen != shared.bridge().config.listen {
                    tracing::warn!("`listen` changed: it takes effect at the next restart");
                }
                let rules = bridge.rules.len();
                shared.swap(bridge);
                shared.metrics.reload("success");
                tracing::info!(config = %self.path.display(), rules, "config reloaded");
                Ok(())
            }
            Err(errors) => {
                shared.metrics.reload("failure");
                tracing::error!(config = %self.path.display(), %errors, "config rejected; still running on the previous one");
                Err(errors)
            }
        }
    }

    /// The files whose change means a reload: the config file and the templates directory.
    fn watched(&self, shared: &Shared) -> (PathBuf, Option<PathBuf>) {
        let bridge = shared.bridge();
        let templates = bridge.config.templates.as_ref().map(|dir| bridge.origin.base_dir.join(dir));
        (self.path.clone(), templates)
    }
}

/// Arms the file watch now, before the server answers anything, and returns
/// the loop that reloads on file changes and SIGHUP until `stopped`.
pub fn watch_loop(
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let (changed, changes) = mpsc::unbounded_channel::<()>();
    let watcher = shared.reloader.as_ref().and_then(|reloader| {
        let (config_file, templates) = reloader.watched(&shared);
        start_watcher(&config_file, templates.as_deref(), changed.clone())
            .inspect_err(|error| {
                tracing::warn!(%error, "cannot watch the config; reload with SIGHUP or POST /-/reload")
            })
            .ok()
    });
    reload_loop(shared, stopped, watcher, changed, changes)
}

async fn reload_loop(
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    watcher: Option<notify::RecommendedWatcher>,
    changed: mpsc::UnboundedSender<()>,
    mut changes: mpsc::UnboundedReceiver<()>,
) {
    let Some(reloader) = shared.reloader.as_ref() else { return };
    let (config_file, mut templates) = reloader.watched(&shared);
    // Held, not read: dropping the watcher would stop the watching.
    let mut _watcher = watcher;
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let signal = async {
            match hangup.as_mut() {
                Some(hangup) => hangup.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signal = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = changes.recv() => {
                // Let the burst of events from one save settle into one reload.
                tokio::time::sleep(SETTLE).await;
                while changes.try_recv().is_ok() {}
            }
            _ = signal => tracing::info!("SIGHUP: reloading"),
            _ = stopped.changed() => return,
        }
        let _ = reloader.reload(&shared);
        let (_, now_templates) = reloader.watched(&shared);
        if now_templates != templates {
            templates = now_templates;
            _watcher = start_watcher(&config_file, templates.as_deref(), changed.clone()).ok();
        }
    }
}

/// Watches the config file's directory (editors replace files by renaming, which
/// a watch on the file itself would miss) and the templates directory, and
/// signals changes to the config file or any template.
fn start_watcher(
    config_file: &Path,
    templates: Option<&Path>,
    changed: mpsc::UnboundedSender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    let config_file = std::path::absolute(config_file)?;
    let templates = templates.map(std::path::absolute).transpose()?;
    let (file, dir) = (config_file.clone(), templates.clone());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let relevant = event.paths.iter().any(|path| {
            path == &file
                || dir
                    .as_ref()
                    .is_some_and(|dir| path.starts_with(dir) && path.extension().is_some_and(|e| e == "hbs"))
        });
        if relevant && !event.kind.is_access() {
            let _ = changed.send(());
        }
    })?;
    let config_dir = config_file.parent().unwrap_or(Path::new("."));
    watcher.watch(config_dir, RecursiveMode::NonRecursive)?;
    if let Some(templates) = &templates {
        watcher.watch(templates, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}
