//! `storybridge digest CHANNEL [--send]`: what a digest channel's summary
//! would say now, or (`--send`) its release ahead of time, straight on the
//! store; the running bridge sends a released digest within a second.

use std::sync::Arc;

use anyhow::Context;
use storybridge::store::{now_millis, Store};
use storybridge::Bridge;

pub async fn digest(
    bridge: Arc<Bridge>,
    store: Arc<dyn Store>,
    channel: String,
    send: bool,
) -> anyhow::Result<()> {
    if send {
        let released = storybridge::digest::send_now(&bridge, &*store, &channel, now_millis()).await?;
        match released {
            0 => println!("{channel}: nothing collected; nothing to send"),
            _ => println!("{channel}: digest queued; the bridge sends it within a second (a stopped one at its next start)"),
        }
        return Ok(());
    }
    let preview = storybridge::digest::preview(&bridge, &*store, &channel, now_millis()).await?;
    println!("{channel}: due {} ({}), {} stories so far", preview.due_local, preview.due, preview.stories);
    println!("{}", serde_json::to_string_pretty(&preview.body).context("the digest's body")?);
    Ok(())
}
