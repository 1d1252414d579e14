//! The `storybridge` command: serve, check a config, preview an event.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde_json::Value;
use storybridge::config::{self, ConfigOrigin};
use storybridge::normalize::{decode, normalize, BodyFormat, Normalized};
use storybridge::pipeline::{route, RouteOutcome};
use storybridge::verify::Verified;
use storybridge::Bridge;

#[derive(Parser)]
#[command(
    name = "storybridge",
    version,
    about = "Tracker webhooks in, chat messages out"
)]
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
        Command::Preview {
            source,
            headers,
            event,
        } => preview(&bridge, &source, &headers, &event),
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

fn serve(bridge: Bridge) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let address = bridge.config.listen;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        tracing::info!(config = %bridge.origin.name, %address, "storybridge listening");
        storybridge::run(Arc::new(bridge), listener, shutdown_signal()).await?;
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

fn preview(bridge: &Bridge, source_name: &str, raw_headers: &[String], path: &Path) -> anyhow::Result<()> {
    let Some(source) = bridge.config.sources.get(source_name) else {
        let known: Vec<&str> = bridge.config.sources.keys().map(String::as_str).collect();
        bail!("no source named `{source_name}` (known: {})", known.join(", "));
    };
    let mut headers = axum::http::HeaderMap::new();
    for raw in raw_headers {
        let (name, value) = raw
            .split_once(':')
            .with_context(|| format!("header `{raw}` is not `Name: value`"))?;
        headers.insert(
            axum::http::HeaderName::try_from(name.trim()).context("header name")?,
            axum::http::HeaderValue::try_from(value.trim()).context("header value")?,
        );
    }
    let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    // The file is the admin's own: there is no signature to check.
    let verified = Verified::local_file(body.into());
    let payload = decode(&verified, BodyFormat::Json)?;
    let event = match normalize(source_name, source, &headers, &verified, payload)? {
        Normalized::Ping => {
            println!("a ping: acknowledged, nothing routed");
            return Ok(());
        }
        Normalized::Event(event) => event,
    };
    let routed = route(bridge, &event);
    println!(
        "event {} from {} ({}), {} change(s)",
        event.id,
        event.source,
        event.source_kind,
        event.changes.len()
    );
    for (index, change) in event.changes.iter().enumerate() {
        let name = change.name.as_deref().unwrap_or("");
        let primary = if change.primary { "primary" } else { "side effect" };
        println!(
            "\nchange {}: {} {} {} \"{name}\" ({primary})",
            index + 1,
            change.entity_type,
            change.action,
            change.entity_id.as_deref().unwrap_or("-")
        );
        let mine: Vec<_> = routed.iter().filter(|r| r.change == index).collect();
        if mine.is_empty() {
            println!("  no rule matched");
        }
        for routed in mine {
            println!(
                "  rule {} → channel {} (template {})",
                routed.rule, routed.channel, routed.template
            );
            match &routed.outcome {
                RouteOutcome::Message(body) => println!("{}", indent(&pretty(body), 4)),
                RouteOutcome::Silent => println!("    (template rendered nothing: no message)"),
                RouteOutcome::Failed(error) => println!("    template error: {error}"),
            }
        }
    }
    Ok(())
}

fn pretty(body: &Value) -> String {
    serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string())
}

fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines()
        .map(|line| format!("{pad}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
