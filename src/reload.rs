//! Hot reload: on a change to the config file or a template (polled), on
//! SIGHUP and on `POST /-/reload`, load and check the new config; if it is
//! valid, swap it in for new events; if not, keep the old one and say why.
//! Queued deliveries are already rendered, so a reload never disturbs them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{load_file_with, ConfigErrors};
use crate::{Bridge, Shared};

/// Where `${VAR}` values come from: the process environment, or a test's table.
pub type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How often the config file and templates are checked for changes. A poll,
/// not inotify: a watch on the config's directory wakes for every write to a
/// database kept beside it (thousands a second under load), and a poll also
/// sees a ConfigMap's symlink swap or a file on a network mount.
const POLL: Duration = Duration::from_secs(1);

/// Editors save in bursts (write, rename, chmod): one reload per burst.
const SETTLE: Duration = Duration::from_millis(300);

pub struct Reloader {
    path: PathBuf,
    lookup: Lookup,
}

/// Keys read once, at start: a reload that changes one says so.
fn warn_of_restart_keys(running: &crate::config::Config, loaded: &crate::config::Config) {
    let changed = [
        ("listen", running.listen != loaded.listen),
        ("admin_listen", running.admin_listen != loaded.admin_listen),
        ("max_connections", running.max_connections != loaded.max_connections),
        ("idle_timeout", running.idle_timeout != loaded.idle_timeout),
        ("max_body_bytes_in_flight", running.max_body_bytes_in_flight != loaded.max_body_bytes_in_flight),
        ("storage", running.storage != loaded.storage),
    ];
    for (key, _) in changed.into_iter().filter(|(_, changed)| *changed) {
        tracing::warn!(key, "changed: it takes effect at the next restart");
    }
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
                warn_of_restart_keys(&shared.bridge().config, &bridge.config);
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

/// Takes the files' fingerprint now, before the server answers anything, and
/// returns the loop that reloads on file changes and SIGHUP until `stopped`.
pub fn watch_loop(
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let seen = shared.reloader.as_ref().map(|reloader| {
        let (config_file, templates) = reloader.watched(&shared);
        fingerprint(&config_file, templates.as_deref())
    });
    reload_loop(shared, stopped, seen)
}

async fn reload_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>, seen: Option<Fingerprint>) {
    let (Some(reloader), Some(mut seen)) = (shared.reloader.as_ref(), seen) else { return };
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
            _ = poll.tick() => {
                let (config_file, templates) = reloader.watched(&shared);
                if fingerprint(&config_file, templates.as_deref()) == seen {
                    continue;
                }
                // Let the burst of writes from one save settle into one reload.
                tokio::time::sleep(SETTLE).await;
            }
            _ = signal => tracing::info!("SIGHUP: reloading"),
            _ = stopped.changed() => return,
        }
        let _ = reloader.reload(&shared);
        // Taken after the reload, under the config now running: its `templates:`
        // directory may be a new one.
        let (config_file, templates) = reloader.watched(&shared);
        seen = fingerprint(&config_file, templates.as_deref());
    }
}

/// What the poll compares: for the config file and each template, the inode,
/// size and modification time (a save by rename changes the inode, an edit in
/// place the time), and which templates exist.
type Fingerprint = Vec<(PathBuf, Option<(u64, u64, Option<std::time::SystemTime>)>)>;

fn fingerprint(config_file: &Path, templates: Option<&Path>) -> Fingerprint {
    let stat = |path: &Path| {
        // Follows symlinks: a Kubernetes ConfigMap swaps the link's target.
        let metadata = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Some((inode, metadata.len(), metadata.modified().ok()))
    };
    let mut files = vec![config_file.to_path_buf()];
    if let Some(entries) = templates.and_then(|dir| std::fs::read_dir(dir).ok()) {
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "hbs"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
        .into_iter()
        .map(|path| {
            let stat = stat(&path);
            (path, stat)
        })
        .collect()
}
