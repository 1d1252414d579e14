//! `storybridge deliveries` and `storybridge replay`: the delivery log and
//! re-queueing, straight from the store, safe while the server runs (SQLite in
//! WAL mode; the running workers pick replayed messages up within a second).

use std::sync::Arc;

use anyhow::{bail, Context};
use storybridge::config::ConfigDuration;
use storybridge::normalize::rfc3339_from_millis;
use storybridge::store::{now_millis, Delivery, DeliveryFilter, DeliveryStatus, Millis, Replay, Store};

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
    let rows = store.deliveries(DeliveryFilter { status, channel, limit }).await?;
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
    let count = store.replay(which).await?;
    println!("queued {count} message(s) again");
    Ok(())
}

/// `2h` (that long ago) or an RFC 3339 UTC time such as `2026-11-25T13:00:00Z`.
fn parse_since(text: &str) -> anyhow::Result<Millis> {
    if let Some(ago) = ConfigDuration::parse(text) {
        return Ok(now_millis() - ago.as_millis() as Millis);
    }
    parse_rfc3339(text)
        .with_context(|| format!("`{text}` is neither a duration (2h) nor a time (2026-11-25T13:00:00Z)"))
}

fn parse_rfc3339(text: &str) -> Option<Millis> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let mut time = time.split(':').map(|part| part.parse::<f64>().ok());
    let (hour, minute, second) = (time.next()??, time.next()??, time.next().flatten().unwrap_or(0.0));
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400) as f64 * 1000.0 + (hour * 3600.0 + minute * 60.0 + second) * 1000.0) as Millis)
}

/// Howard Hinnant's `days_from_civil`: the inverse of the store's date rendering.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|column| lines.iter().map(|line| line[column].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> =
            line.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_read_back_to_the_same_instant() {
        let millis = 1_764_075_600_000;
        assert_eq!(parse_rfc3339(&rfc3339_from_millis(millis)), Some(millis));
        assert_eq!(parse_rfc3339("2026-11-25"), None);
    }
}
