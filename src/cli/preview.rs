//! `storybridge preview`: an event file through normalize → rules → render, with
//! no network and nothing stored.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value;
use storybridge::normalize::{decode, normalize, BodyFormat, Normalized};
use storybridge::pipeline::{route, RouteOutcome};
use storybridge::verify::Verified;
use storybridge::Bridge;

pub fn preview(
    bridge: &Bridge,
    source_name: &str,
    raw_headers: &[String],
    path: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let Some(source) = bridge.config.sources.get(source_name) else {
        let known: Vec<&str> = bridge.config.sources.keys().map(String::as_str).collect();
        bail!("no source named `{source_name}` (known: {})", known.join(", "));
    };
    let mut headers = axum::http::HeaderMap::new();
    for raw in raw_headers {
        let (name, value) =
            raw.split_once(':').with_context(|| format!("header `{raw}` is not `Name: value`"))?;
        headers.insert(
            axum::http::HeaderName::try_from(name.trim()).context("header name")?,
            axum::http::HeaderValue::try_from(value.trim()).context("header value")?,
        );
    }
    let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if json {
        let preview = storybridge::pipeline::preview(bridge, source_name, &headers, body.into())
            .map_err(|message| anyhow::anyhow!(message))?;
        println!("{}", serde_json::to_string_pretty(&preview)?);
        return Ok(());
    }
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
            println!("  rule {} → channel {} (template {})", routed.rule, routed.channel, routed.template);
            match &routed.outcome {
                RouteOutcome::Message(body) => println!("{}", indent(&pretty(&body.json()), 4)),
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
    text.lines().map(|line| format!("{pad}{line}")).collect::<Vec<_>>().join("\n")
}
