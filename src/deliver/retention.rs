//! Forgetting delivered messages after `retention`, hourly.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::store::now_millis;
use crate::Shared;

const EVERY: Duration = Duration::from_secs(3600);

pub async fn prune_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        let retention = shared.bridge().config.retention.0;
        let before = now_millis() - retention.as_millis() as i64;
        match shared.store.prune(before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned delivered messages past retention"),
            Err(error) => tracing::warn!(%error, "pruning failed; will try again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stopped.changed() => return,
        }
    }
}
