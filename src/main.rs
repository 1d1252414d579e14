//! The `storybridge` command: serve, check a config, preview an event.

mod cli;

/// The pipeline allocates many small JSON values and strings per event; glibc's
/// allocator took ~30% of ingest time under load (perf), mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit` in mimalloc v2's `mimalloc.h` (the bindings
/// do not export it).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Commit arena memory as it is used, not a whole arena up front: idle RSS
/// 11.9 MiB instead of 18.9. It must be set before the first allocation, which
/// the Rust runtime makes before `main`: hence a constructor, run by the loader
/// before the runtime starts.
extern "C" fn lazy_arena_commit() {
    // SAFETY: sets a mimalloc option; safe to call at any time, and no Rust
    // allocation has happened yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
}

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static LAZY_ARENA_COMMIT: extern "C" fn() = lazy_arena_commit;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use storybridge::config::{self, ConfigOrigin, LogFormat};
use storybridge::reload::Reloader;
use storybridge::store::{self, Store};
use storybridge::{Bridge, Launch};

#[derive(Parser)]
#[command(name = "storybridge", version, about = "Tracker webhooks in, chat messages out")]
struct Cli {
    /// Config file. Default: ./bridge.yaml if present, else the embedded copy.
    #[arg(long, short, global = true, env = "STORYBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve webhooks (the default).
    Serve,
    /// Check the config and templates; exit 1 with every problem found.
    Check,
    /// Show which rules an event file matches and the exact JSON each channel
    /// would receive. Sends nothing.
    Preview {
        /// The source (as named under `sources:`) the event comes from.
        #[arg(long)]
        source: String,
        /// A header the sender would send, e.g. -H 'X-GitHub-Event: issues'.
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
        /// Print JSON (as the admin API's preview answers) instead of text.
        #[arg(long)]
        json: bool,
        /// Also say, for every rule and change, whether it matched and, if
        /// not, the first matcher that failed and why (the JSON always does).
        #[arg(long)]
        explain: bool,
        /// The event's JSON body.
        event: PathBuf,
    },
    /// Recent deliveries and their last error, newest first.
    Deliveries {
        #[arg(long, value_parser = ["pending", "delivered", "dead"])]
        status: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Post a test message to a channel now, and show what the platform answered.
    TestChannel {
        /// The channel, as named under `channels:`.
        name: String,
    },
    /// Each channel's queue (pending, oldest) and whether it is paused, and why.
    Channels,
    /// Pause a channel: its messages wait (nothing is dropped) until `resume`.
    Pause {
        /// The channel, as named under `channels:`.
        name: String,
        /// Why, shown with the pause (`channels`, the API).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a paused channel (an admin's pause, or the platform's).
    Resume {
        /// The channel, as named under `channels:`.
        name: String,
    },
    /// Exit 0 if the bridge on this config's `listen` address is ready (for
    /// container HEALTHCHECKs: the image has no curl).
    Healthcheck,
    /// Queue deliveries again: by id, or every dead one (of a channel, since a time).
    Replay {
        /// Delivery ids, as `deliveries` lists them.
        ids: Vec<i64>,
        #[arg(long)]
        dead: bool,
        #[arg(long)]
        channel: Option<String>,
        /// Only messages created since: a duration ago (2h) or a time (2026-11-25T13:00:00Z).
        #[arg(long)]
        since: Option<String>,
    },
    /// Route stored events again under the current config and templates (after
    /// fixing a rule or a template): queues only messages not already queued or
    /// delivered for the same change, rule and channel, and prints them.
    Reroute {
        /// Event ids, as the tracker sent them.
        ids: Vec<String>,
        /// Every event received since: a duration ago (2h) or a time.
        #[arg(long)]
        since: Option<String>,
        /// With --since: only events from this source.
        #[arg(long)]
        source: Option<String>,
    },
    /// Copy a single bridge's SQLite store (its queue, attempts, threads and
    /// cards) into an empty PostgreSQL database, ids kept. Stop the bridge first.
    Migrate {
        /// The store to copy: sqlite://FILE (relative to the current directory).
        #[arg(long)]
        from: String,
        /// The empty database: postgres://USER@HOST:PORT/DATABASE (the
        /// password from the URL or PGPASSWORD).
        #[arg(long)]
        to: String,
    },
    /// What a digest channel's summary would say now (the exact JSON), or
    /// with --send, send it now.
    Digest {
        channel: String,
        #[arg(long)]
        send: bool,
    },
}

fn main() -> anyhow::Result<()> {
    #[cfg(not(target_os = "linux"))]
    lazy_arena_commit();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    // Needs no config: it names both stores.
    if let Command::Migrate { from, to } = &command {
        init_logging(false, LogFormat::Text);
        return migrate(from, to);
    }
    let (bridge, config_file) = match load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!("{errors}");
            std::process::exit(1);
        }
    };
    init_logging(matches!(command, Command::Serve), bridge.config.log_format);
    match command {
        Command::Serve => serve(bridge, config_file),
        Command::TestChannel { name } => test_channel(&bridge, &name),
        Command::Healthcheck => healthcheck(&bridge),
        Command::Check => {
            for warning in bridge.lints().into_iter().chain(cli::check::name_warnings(&bridge)) {
                println!("warning: {warning}");
            }
            println!(
                "{}: ok ({} sources, {} channels, {} rules)",
                bridge.origin.name,
                bridge.config.sources.len(),
                bridge.config.channels.len(),
                bridge.rules.len()
            );
            Ok(())
        }
        Command::Preview { source, headers, event, json, explain } => {
            cli::preview::preview(&bridge, &source, &headers, &event, json, explain)
        }
        Command::Channels => with_store(&bridge, |store| cli::channels::list(&bridge, store)),
        Command::Pause { name, reason } => {
            with_store(&bridge, |store| cli::channels::pause(&bridge, store, &name, reason))
        }
        Command::Resume { name } => with_store(&bridge, |store| cli::channels::resume(&bridge, store, &name)),
        Command::Deliveries { status, channel, limit } => with_store(&bridge, |store| async move {
            cli::deliveries::list(store, status.as_deref(), channel, limit).await
        }),
        Command::Replay { ids, dead, channel, since } => with_store(&bridge, |store| async move {
            cli::deliveries::replay(store, ids, dead, channel, since.as_deref()).await
        }),
        Command::Reroute { ids, since, source } => {
            let bridge = Arc::new(bridge);
            with_store(&bridge.clone(), |store| async move {
                cli::reroute::reroute(bridge, store, ids, since, source).await
            })
        }
        Command::Migrate { .. } => unreachable!("handled before the config is loaded"),
        Command::Digest { channel, send } => {
            let bridge = Arc::new(bridge);
            with_store(&bridge.clone(), |store| async move {
                cli::digest::digest(bridge, store, channel, send).await
            })
        }
    }
}

fn migrate(from: &str, to: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let copied = runtime.block_on(store::migrate::sqlite_to_postgres(from, to, Path::new(".")))?;
    for (table, rows) in &copied.tables {
        println!("{table:<17} {rows:>9} rows");
    }
    println!("copied {} to {}: point storage at it and start the bridge", from, store::redacted(to));
    Ok(())
}

/// The bridge, and the file it came from (none for the embedded config).
fn load(path: Option<&Path>) -> Result<(Bridge, Option<PathBuf>), config::ConfigErrors> {
    let default_path = Path::new("bridge.yaml");
    let file = match path {
        Some(path) => Some(path.to_path_buf()),
        None if default_path.exists() => Some(default_path.to_path_buf()),
        None => None,
    };
    let (config, origin) = match &file {
        Some(file) => config::load_file(file)?,
        None => {
            let origin = ConfigOrigin::embedded();
            let config =
                config::load_str(config::EMBEDDED_CONFIG, &origin, &|name| std::env::var(name).ok())?;
            (config, origin)
        }
    };
    Ok((Bridge::build(config, origin)?, file))
}

fn init_logging(serving: bool, format: LogFormat) {
    use std::io::IsTerminal;
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Logs go to stderr so stdout holds only what the console channel and
    // `preview` print.
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn open_store(bridge: &Bridge) -> anyhow::Result<Arc<dyn Store>> {
    store::open(&bridge.config.storage, &bridge.origin.base_dir)
        .with_context(|| format!("{}: storage", bridge.origin.name))
}

/// Runs an admin command on the store the config names, which must exist:
/// opening a path with a typo would create an empty store and report
/// nothing to do.
fn with_store<F, Fut>(bridge: &Bridge, command: F) -> anyhow::Result<()>
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    if let Some(path) = bridge.config.storage.strip_prefix("sqlite://") {
        let file = bridge.origin.base_dir.join(path);
        anyhow::ensure!(
            file.exists(),
            "{}: storage: there is no store at {} (is this the config the bridge runs with?)",
            bridge.origin.name,
            file.display()
        );
    }
    let store = open_store(bridge)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(command(store))
}

fn serve(bridge: Bridge, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let text = match &config_file {
        Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        None => config::EMBEDDED_CONFIG.to_owned(),
    };
    let defaults = config::development_defaults(&text, &|name| std::env::var(name).ok());
    let addresses: Vec<_> =
        [Some(bridge.config.listen), bridge.config.admin_listen].into_iter().flatten().collect();
    if let Some(refusal) = config::exposure(&addresses, &defaults) {
        anyhow::bail!("{}: {refusal}", bridge.origin.name);
    }
    let _only_bridge_on_this_store = store::lock_for_serving(&bridge.config.storage, &bridge.origin.base_dir)
        .with_context(|| format!("{}: storage", bridge.origin.name))?;
    let store = open_store(&bridge)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let address = bridge.config.listen;
        let listener = bind(address).await?;
        let admin_listener = match bridge.config.admin_listen {
            Some(admin) => Some(bind(admin).await?),
            None => None,
        };
        tracing::info!(config = %bridge.origin.name, %address, admin = ?bridge.config.admin_listen, "storybridge listening");
        let launch = Launch {
            bridge: Arc::new(bridge),
            store,
            listener,
            admin_listener,
            reloader: config_file.map(Reloader::from_environment),
            clock: Default::default(),
        };
        storybridge::serve(launch, shutdown_signal()).await?;
        Ok(())
    })
}

/// Connections the kernel holds for us while `max_connections` are served:
/// `TcpListener::bind` asks for 128, so a burst of senders past the limit had
/// its SYNs dropped and waited two minutes to connect (the memory test's flood
/// of 1,000 showed it). The kernel caps this at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 4096;

async fn bind(address: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let listen = || -> std::io::Result<tokio::net::TcpListener> {
        let socket = match address {
            std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        // A restart may bind while the last run's connections sit in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(address)?;
        socket.listen(ACCEPT_BACKLOG)
    };
    listen().with_context(|| format!("cannot listen on {address}"))
}

fn test_channel(bridge: &Bridge, name: &str) -> anyhow::Result<()> {
    let channel = bridge.config.channels.get(name).with_context(|| {
        let known: Vec<&str> = bridge.config.channels.keys().map(String::as_str).collect();
        format!("no channel named `{name}` (known: {})", known.join(", "))
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let answer =
        runtime.block_on(storybridge::admin::send_test_message(&storybridge::http_client(), name, channel));
    println!("{}", serde_json::to_string_pretty(&answer)?);
    anyhow::ensure!(answer["outcome"] == "delivered", "the test message was not delivered");
    Ok(())
}

fn healthcheck(bridge: &Bridge) -> anyhow::Result<()> {
    let mut address = bridge.config.listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let status = runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build()?;
        Ok::<_, reqwest::Error>(client.get(format!("http://{address}/readyz")).send().await?.status())
    })?;
    anyhow::ensure!(status.is_success(), "not ready: HTTP {status}");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
