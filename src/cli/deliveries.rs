//! `storybridge deliveries` and `storybridge replay`: the delivery log and
//! re-queueing, straight from the store, safe while the server runs (SQLite in
//! WAL mode; the running workers pick replayed messages up within a second).

use std::sync::Arc;

use anyhow::{bail, Context};
use storybridge::normalize::rfc3339_from_millis;
use storybridge::store::{self, Delivery, DeliveryFilter, DeliveryStatus, Millis, Replay, Store};

pub async fn list(
    store: Arc<dyn Store>,
    status: Option<&str>,
    channel: Option<String>,
    limit: usize,
) -> anyhow::Result<()> {
    let status = match status {
        Some(text) => Some(
            DeliveryStatus::parse(text)
                .with_context(|| format!("unknown status `{text}` (pending, delivered, dead)"))?,
        ),
        None => None,
    };
    let rows = store.deliveries(DeliveryFilter { status, channel, limit, event_id: None }).await?;
    print!("{}", table(&rows));
    Ok(())
}

pub async fn replay(
    store: Arc<dyn Store>,
    ids: Vec<i64>,
    dead: bool,
    channel: Option<String>,
    since: Option<&str>,
) -> anyhow::Result<()> {
    let which = match (ids.is_empty(), dead) {
        (false, false) => Replay::Ids(ids),
        (true, true) => Replay::Dead { channel, since: since.map(parse_since).transpose()? },
        (false, true) => bail!("give delivery ids or --dead, not both"),
        (true, false) => bail!("give delivery ids, or --dead to replay every dead message"),
    };
    let asked = match &which {
        Replay::Ids(ids) => Some(ids.len()),
        Replay::Dead { .. } => None,
    };
    let count = store.replay(which).await?;
    println!("queued {count} message(s) again");
    if let Some(asked) = asked.filter(|asked| count < *asked) {
        bail!("{} of the {asked} id(s) given are no delivery (see `storybridge deliveries`)", asked - count);
    }
    Ok(())
}

fn parse_since(text: &str) -> anyhow::Result<Millis> {
    store::parse_since(text)
        .with_context(|| format!("`{text}` is neither a duration (2h) nor a time (2026-11-25T13:00:00Z)"))
}

fn table(rows: &[Delivery]) -> String {
    let mut lines = vec![[
        "ID",
        "STATUS",
        "CHANNEL",
        "RULE",
        "EVENT",
        "ATTEMPTS",
        "CREATED",
        "LAST STATUS",
        "LAST ERROR",
    ]
    .map(str::to_owned)
    .to_vec()];
    for row in rows {
        lines.push(vec![
            row.id.to_string(),
            row.status.as_str().to_owned(),
            row.channel.clone(),
            row.rule.clone(),
            row.event_id.clone(),
            row.attempts.to_string(),
            rfc3339_from_millis(row.created_at),
            row.last_status.map_or("-".into(), |status| status.to_string()),
            row.last_error.as_deref().unwrap_or("-").replace('\n', " ").chars().take(60).collect(),
        ]);
    }
    super::aligned(&lines)
}
