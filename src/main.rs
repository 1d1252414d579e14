//! The `storybridge` command: serve, check a config, preview an event.

mod cli;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use storybridge::config::{self, ConfigOrigin};
use storybridge::store::{self, Store};
use storybridge::Bridge;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    init_logging(matches!(command, Command::Serve));
    let bridge = match load(cli.config.as_deref()) {
        Ok(bridge) => bridge,
        Err(errors) => {
            eprintln!("{errors}");
            std::process::exit(1);
        }
    };
    match command {
        Command::Serve => serve(bridge),
        Command::Check => {
            println!(
                "{}: ok ({} sources, {} channels, {} rules)",
                bridge.origin.name,
                bridge.config.sources.len(),
                bridge.config.channels.len(),
                bridge.rules.len()
            );
            Ok(())
        }
        Command::Preview { source, headers, event } => {
            cli::preview::preview(&bridge, &source, &headers, &event)
        }
        Command::Deliveries { status, channel, limit } => with_store(&bridge, |store| async move {
            cli::deliveries::list(store, status.as_deref(), channel, limit).await
        }),
        Command::Replay { ids, dead, channel, since } => with_store(&bridge, |store| async move {
            cli::deliveries::replay(store, ids, dead, channel, since.as_deref()).await
        }),
    }
}

fn load(path: Option<&Path>) -> Result<Bridge, config::ConfigErrors> {
    let default_path = Path::new("bridge.yaml");
    let (config, origin) = match path {
        Some(path) => config::load_file(path)?,
        None if default_path.exists() => config::load_file(default_path)?,
        None => {
            let origin = ConfigOrigin::embedded();
            let config =
                config::load_str(config::EMBEDDED_CONFIG, &origin, &|name| std::env::var(name).ok())?;
            (config, origin)
        }
    };
    Bridge::build(config, origin)
}

fn init_logging(serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Logs go to stderr so stdout holds only what the console channel and
    // `preview` print.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn open_store(bridge: &Bridge) -> anyhow::Result<Arc<dyn Store>> {
    store::open(&bridge.config.storage, &bridge.origin.base_dir)
        .with_context(|| format!("{}: storage", bridge.origin.name))
}

fn with_store<F, Fut>(bridge: &Bridge, command: F) -> anyhow::Result<()>
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let store = open_store(bridge)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(command(store))
}

fn serve(bridge: Bridge) -> anyhow::Result<()> {
    let store = open_store(&bridge)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let address = bridge.config.listen;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        tracing::info!(config = %bridge.origin.name, %address, "storybridge listening");
        storybridge::run(Arc::new(bridge), store, listener, shutdown_signal()).await?;
        Ok(())
    })
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
