//! `storybridge channels`, `pause CHANNEL` and `resume CHANNEL`: each channel's
//! queue and pause, straight from the store, safe while the server runs (its
//! workers see a pause or a resume within a second).

use std::sync::Arc;

use storybridge::admin::channels::{self, ChannelState};
use storybridge::store::Store;
use storybridge::Bridge;

pub async fn list(bridge: &Bridge, store: Arc<dyn Store>) -> anyhow::Result<()> {
    print!("{}", table(&channels::states(bridge, store.as_ref()).await?));
    Ok(())
}

pub async fn pause(
    bridge: &Bridge,
    store: Arc<dyn Store>,
    name: &str,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let state = channels::pause(bridge, store.as_ref(), name, reason).await?;
    print!("{}", table(&[state]));
    Ok(())
}

pub async fn resume(bridge: &Bridge, store: Arc<dyn Store>, name: &str) -> anyhow::Result<()> {
    let state = channels::resume(bridge, store.as_ref(), name).await?;
    print!("{}", table(&[state]));
    Ok(())
}

fn table(states: &[ChannelState]) -> String {
    let mut lines = vec![["CHANNEL", "KIND", "PENDING", "OLDEST", "PAUSED"].map(str::to_owned).to_vec()];
    for state in states {
        lines.push(vec![
            state.name.clone(),
            state.kind.to_owned(),
            state.pending.to_string(),
            state.oldest_pending_s.map_or("-".into(), |seconds| format!("{seconds:.0}s")),
            state
                .paused
                .as_ref()
                .map_or("no".into(), |paused| format!("by {}: {}", paused.by, paused.reason)),
        ]);
    }
    super::aligned(&lines)
}
