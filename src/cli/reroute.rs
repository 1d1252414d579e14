//! `storybridge reroute`: routes stored events again under the current config
//! and templates, straight from the store (safe while the server runs: its
//! workers pick the new messages up within a second), and prints what it
//! queued.

use std::sync::Arc;

use anyhow::{bail, Context};
use storybridge::route::{reroute as route_again, Rerouted};
use storybridge::store::{self, EventSelection, Store};
use storybridge::{Bridge, Shared};

pub async fn reroute(
    bridge: Arc<Bridge>,
    store: Arc<dyn Store>,
    ids: Vec<String>,
    since: Option<String>,
    source: Option<String>,
) -> anyhow::Result<()> {
    let which = match (ids.is_empty(), since) {
        (false, None) if source.is_none() => EventSelection::Ids(ids),
        (false, _) => bail!("give event ids, or --since (with --source), not both"),
        (true, Some(since)) => {
            let since = store::parse_since(&since).with_context(|| {
                format!("`{since}` is neither a duration (2h) nor a time (2026-11-25T13:00:00Z)")
            })?;
            EventSelection::Since { since, source }
        }
        (true, None) => bail!("give event ids, or --since 2h to route every event received since then"),
    };
    let shared = Shared::new(bridge, store, None, Default::default());
    let reports = route_again(&shared, which).await?;
    if reports.is_empty() {
        bail!("no stored event matches");
    }
    print!("{}", summary(&reports));
    Ok(())
}

fn summary(reports: &[Rerouted]) -> String {
    let mut out = String::new();
    for report in reports {
        let mut said = vec![format!("queued {}", report.queued + report.requeued)];
        for (count, what) in [
            (report.coalesced, "joined a burst"),
            (report.failed, "template failed (dead)"),
            (report.already, "already queued or delivered"),
        ] {
            if count > 0 {
                said.push(format!("{count} {what}"));
            }
        }
        if let Some(why) = &report.skipped {
            said.push(format!("nothing routed: {why}"));
        }
        out.push_str(&format!("event {} ({}): {}\n", report.event_id, report.source, said.join(", ")));
    }
    let queued: usize = reports.iter().map(|report| report.queued + report.requeued).sum();
    out.push_str(&format!("queued {queued} message(s) for {} event(s)\n", reports.len()));
    out
}
