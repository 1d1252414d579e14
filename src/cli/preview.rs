//! `storybridge preview`: an event file through normalize → rules → render, with
//! no network and nothing stored; the admin API's preview, printed as text or
//! as the API's JSON.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value;
use storybridge::admin::preview::{preview as analyse, Preview};
use storybridge::pipeline::RouteOutcome;
use storybridge::rules::Outcome;
use storybridge::Bridge;

pub fn preview(
    bridge: &Bridge,
    source_name: &str,
    raw_headers: &[String],
    path: &Path,
    json: bool,
    explain: bool,
) -> anyhow::Result<()> {
    if !bridge.config.sources.contains_key(source_name) {
        let known: Vec<&str> = bridge.config.sources.keys().map(String::as_str).collect();
        bail!("no source named `{source_name}` (known: {})", known.join(", "));
    }
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
    let preview = analyse(bridge, source_name, &headers, body.into())?;
    let shown = match json {
        true => format!("{}\n", serde_json::to_string_pretty(&preview.to_json())?),
        false => text(&preview, explain),
    };
    print_all(&shown)
}

/// Prints `text`; a reader that stopped early (`| head`) is not an error.
fn print_all(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn text(preview: &Preview, explain: bool) -> String {
    let Preview::Event { event, routes, verdicts } = preview else {
        return "a ping: acknowledged, nothing routed\n".into();
    };
    let mut out = format!(
        "event {} from {} ({}), {} change(s)\n",
        event.id,
        event.source,
        event.source_kind,
        event.changes.len()
    );
    for (index, change) in event.changes.iter().enumerate() {
        let name = change.name.as_deref().unwrap_or("");
        let primary = if change.primary { "primary" } else { "side effect" };
        out.push_str(&format!(
            "\nchange {}: {} {} {} \"{name}\" ({primary})\n",
            index + 1,
            change.entity_type,
            change.action,
            change.entity_id.as_deref().unwrap_or("-")
        ));
        if explain {
            for verdict in &verdicts[index] {
                let said = match (&verdict.outcome, verdict.why()) {
                    (_, None) => "matched".to_owned(),
                    (Outcome::NotMatched(why), _) => format!("not matched: {why}"),
                    (_, Some(why)) => why,
                };
                out.push_str(&format!("  rule {}: {said}\n", verdict.rule));
            }
        }
        let mine: Vec<_> = routes.iter().filter(|r| r.change == index).collect();
        if mine.is_empty() {
            out.push_str("  no rule matched\n");
        }
        for routed in mine {
            out.push_str(&format!(
                "  rule {} → channel {} (template {})\n",
                routed.rule, routed.channel, routed.template
            ));
            match &routed.outcome {
                RouteOutcome::Message(body) => {
                    out.push_str(&format!("{}\n", indent(&pretty(&body.json()), 4)))
                }
                RouteOutcome::Silent => out.push_str("    (template rendered nothing: no message)\n"),
                RouteOutcome::Failed(error) => out.push_str(&format!("    template error: {error}\n")),
                RouteOutcome::Collected => {
                    out.push_str("    (collected for the channel's digest: `storybridge digest` shows it)\n")
                }
            }
        }
    }
    out
}

fn pretty(body: &Value) -> String {
    serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string())
}

fn indent(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines().map(|line| format!("{pad}{line}")).collect::<Vec<_>>().join("\n")
}
