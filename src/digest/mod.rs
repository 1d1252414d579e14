//! Digests: a channel with `digest:` collects the changes routed to it and
//! sends one summary per period. A period's digest is one held message (the
//! router adds each change's context to it, in the routing transaction); the
//! release loop lets it go when the period is due, by the schedule's clock,
//! and the channel's worker draws it (`summary.rs`) and sends it like any
//! other message. A period is an event of the bridge's own in the store
//! (`digest:<channel>:<due>`): its unique id is the claim that makes one
//! digest per period, whatever restarts.

pub mod schedule;
pub mod summary;

pub use schedule::Schedule;

use crate::store::Millis;

/// The id of a channel's period due at `due`: the event of the bridge's own
/// that its digest belongs to (`digest:standup:2026-03-30T07:30:00Z`).
pub fn period_id(channel: &str, due: Millis) -> String {
    format!("digest:{channel}:{}", crate::normalize::rfc3339_from_millis(due))
}

/// Released more than this long after its due time, a digest is marked late:
/// the bridge was not running when it was due.
pub const LATE_AFTER: Millis = 2 * 60 * 1000;

/// A digest's body: its period's changes summarized and drawn with the
/// channel's digest template, with as many stories as fit the platform's
/// limits whole (the template says "and N more" for the rest), so no item
/// is ever cut in the middle.
pub fn draw(
    bridge: &crate::Bridge,
    delivery: &crate::store::Delivery,
    parts: &[String],
) -> Result<String, String> {
    let mark = delivery.digest.ok_or("not a digest")?;
    draw_parts(bridge, &delivery.channel, mark, parts).map(|(body, _)| body)
}

/// `draw` for a channel's period: the body, and how many stories it holds.
fn draw_parts(
    bridge: &crate::Bridge,
    channel_name: &str,
    mark: crate::store::DigestMark,
    parts: &[String],
) -> Result<(String, usize), String> {
    let channel = bridge.config.channels.get(channel_name).ok_or("the channel is gone")?;
    let schedule = bridge
        .schedules
        .get(channel_name)
        .ok_or("the channel no longer has a `digest:`; restore it, then replay the message")?;
    let parts: Vec<serde_json::Value> = parts
        .iter()
        .map(|part| serde_json::from_str(part))
        .collect::<Result<_, _>>()
        .map_err(|error| format!("a stored template context is not JSON: {error}"))?;
    let summary = summary::summarize(&parts);
    let period =
        summary::Period { start: schedule.last_at_or_before(mark.due - 1), end: mark.due, late: mark.late };
    let template = crate::render::digest_template(channel);
    let compose = |shown: usize| -> Result<Option<crate::sinks::Composed>, String> {
        let context = summary.context(shown, channel_name, schedule, period);
        let draft = bridge
            .templates
            .render(template, channel.kind, &crate::render::RenderContext::from(context))
            .map_err(|error| error.to_string())?;
        Ok(crate::sinks::compose(channel, draft))
    };
    let fits =
        |composed: &Option<crate::sinks::Composed>| composed.as_ref().is_none_or(|c| c.cuts.is_empty());
    // The most stories that fit: fewer never cut more, so search.
    let whole = compose(summary.stories())?;
    let composed = if fits(&whole) {
        whole
    } else {
        let (mut fitting, mut cut) = (0, summary.stories());
        while cut - fitting > 1 {
            let middle = (fitting + cut) / 2;
            if fits(&compose(middle)?) {
                fitting = middle
            } else {
                cut = middle
            }
        }
        let composed = compose(fitting)?;
        tracing::info!(channel = %channel_name, shown = fitting, of = summary.stories(), "digest shortened to fit the platform's limits");
        composed
    };
    let composed = composed.ok_or_else(|| format!("template `{template}` rendered nothing"))?;
    Ok((composed.body.to_string(), summary.stories()))
}

/// Why a channel's digest cannot be shown or sent.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("no channel named `{0}`")]
    NoChannel(String),
    #[error("channel `{0}` has no `digest:`")]
    NotADigest(String),
    #[error("the digest's template failed: {0}")]
    Template(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What a channel's digest would say now (`storybridge digest`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub channel: String,
    /// When it is due: the period collecting now.
    pub due: String,
    pub due_local: String,
    pub stories: usize,
    /// The exact JSON the channel would receive.
    pub body: serde_json::Value,
}

/// What the digest collecting for `channel` would say if it were sent at `now`.
pub async fn preview(
    bridge: &crate::Bridge,
    store: &dyn crate::store::Store,
    channel: &str,
    now: Millis,
) -> Result<Preview, DigestError> {
    let schedule = schedule_of(bridge, channel)?;
    let held = store.held_digest(channel).await?;
    let (due, parts) = match held {
        Some(held) => (held.due, held.parts),
        None => (schedule.next_after(now), Vec::new()),
    };
    let mark = crate::store::DigestMark { due, late: false };
    let (body, stories) = draw_parts(bridge, channel, mark, &parts).map_err(DigestError::Template)?;
    Ok(Preview {
        channel: channel.to_owned(),
        due: crate::normalize::rfc3339_from_millis(due),
        due_local: schedule.local_text(due),
        stories,
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    })
}

/// Sends the digest collecting for `channel` now, ahead of its time: it is
/// released to the channel's queue (the running bridge sends it within a
/// second). Changes routed after it wait for the next one. How many digests
/// were released (none: nothing was collected).
pub async fn send_now(
    bridge: &crate::Bridge,
    store: &dyn crate::store::Store,
    channel: &str,
    now: Millis,
) -> Result<usize, DigestError> {
    schedule_of(bridge, channel)?;
    let release = crate::store::Release {
        channel: channel.to_owned(),
        due_by: Millis::MAX,
        now,
        late_after: LATE_AFTER,
        empty: None,
        template: crate::render::digest_template(&bridge.config.channels[channel]).to_owned(),
    };
    Ok(store.release_digests(release).await?.digests)
}

fn schedule_of<'b>(bridge: &'b crate::Bridge, channel: &str) -> Result<&'b Schedule, DigestError> {
    if !bridge.config.channels.contains_key(channel) {
        return Err(DigestError::NoChannel(channel.to_owned()));
    }
    bridge.schedules.get(channel).ok_or_else(|| DigestError::NotADigest(channel.to_owned()))
}

/// Releases every digest channel's due periods, by the schedules' clock:
/// each due digest becomes a pending message, and a channel that sends empty
/// digests gets one for its last period if it collected nothing.
pub async fn release_due(shared: &crate::Shared) -> Result<crate::store::Released, crate::store::StoreError> {
    let bridge = shared.bridge();
    let now = shared.clock.now();
    let mut total = crate::store::Released::default();
    for (name, schedule) in &bridge.schedules {
        let channel = &bridge.config.channels[name];
        let sends_empty = channel.digest.as_ref().is_some_and(|digest| !digest.skip_empty);
        let empty = match (sends_empty, schedule.last_at_or_before(now)) {
            (true, Some(due)) => Some((due, period_id(name, due))),
            _ => None,
        };
        let release = crate::store::Release {
            channel: name.clone(),
            due_by: now,
            now,
            late_after: LATE_AFTER,
            empty,
            template: crate::render::digest_template(channel).to_owned(),
        };
        let released = shared.store.release_digests(release).await?;
        if released.digests > 0 {
            tracing::info!(channel = %name, digests = released.digests, late = released.late, "digest due: released");
            shared.wakers.wake(name);
        }
        total.digests += released.digests;
        total.late += released.late;
    }
    Ok(total)
}

/// How long the release loop waits at most between two looks: a reload may
/// have changed a schedule.
const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Releases due digests until `stopped`: at start (a digest due while the
/// bridge was down goes out now, marked late), at each due time, and when the
/// clock is moved.
pub async fn release_loop(
    shared: std::sync::Arc<crate::Shared>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    while !*stopped.borrow() {
        if let Err(error) = release_due(&shared).await {
            tracing::warn!(%error, "cannot release due digests; will try again");
        }
        let now = shared.clock.now();
        let next = shared.bridge().schedules.values().map(|schedule| schedule.next_after(now)).min();
        let wait = next.map_or(LOOK_AGAIN, |next| {
            std::time::Duration::from_millis(next.saturating_sub(now).max(0) as u64).min(LOOK_AGAIN)
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.clock.moved() => {}
            changed = stopped.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::summary::{summarize, Period};
    use super::Schedule;
    use crate::config::ChannelKind;
    use crate::render::{Draft, RenderContext, Templates, DIGEST_TEMPLATE};

    fn moved(story: u32, from: &str, to: &str, by: &str, epic: &str) -> Value {
        json!({
            "source": "shortcut", "entity_type": "story", "id": story, "kind": "update",
            "subject": {"name": format!("Story <{story}>"), "url": format!("https://example.com/story/{story}")},
            "actor": {"name": by}, "facts": [{"label": "Epic", "value": epic}],
            "change_list": [{"field": "workflow_state_id", "label": "state", "kind": "value", "old": from, "new": to}]
        })
    }

    fn draw(platform: ChannelKind, parts: &[Value], late: bool) -> Value {
        let schedule = Schedule::from_config(
            &serde_yaml::from_str("{ at: \"09:30\", timezone: Europe/Berlin }").unwrap(),
        )
        .unwrap();
        let end = schedule.next_after(1_795_600_000_000);
        let period = Period { start: schedule.last_at_or_before(end - 1), end, late };
        let summary = summarize(parts);
        let context = summary.context(summary.stories(), "standup", &schedule, period);
        match Templates::load(None, "bridge.yaml")
            .unwrap()
            .render(DIGEST_TEMPLATE, platform, &RenderContext::from(context))
            .unwrap()
        {
            Draft::Body(body) => Value::Object(body),
            Draft::Text(text) => Value::String(text),
        }
    }

    #[test]
    fn the_default_slack_digest_groups_where_stories_moved_with_counts_and_links() {
        let parts =
            [moved(1, "Started", "Done", "Ada", "Billing"), moved(2, "Review", "Done", "Bob", "Billing")];
        assert_eq!(
            draw(ChannelKind::Slack, &parts, false),
            json!({
                "text": "standup, Thu 26 Nov: 2 stories, 2 moved",
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "standup · Thu 26 Nov"}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": "*→ Done* (2)\n_Billing_\n• <https://example.com/story/1|Story &lt;1&gt;> from Started · Ada\n• <https://example.com/story/2|Story &lt;2&gt;> from Review · Bob"}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": "2 stories · 2 moved · 2 updates since 2026-11-25 09:30 CET"}]}
                ]
            })
        );
        let late = draw(ChannelKind::Slack, &[], true);
        assert_eq!(late["blocks"][0]["text"]["text"], "standup · Thu 26 Nov (late)");
        assert_eq!(late["blocks"][1]["text"]["text"], "Nothing moved since 2026-11-25 09:30 CET.");
    }

    #[test]
    fn the_default_discord_digest_is_one_embed_with_a_field_per_group() {
        let parts = [moved(1, "Started", "Done", "Ada", "Billing")];
        let embed = draw(ChannelKind::Discord, &parts, false)["embeds"][0].clone();
        assert_eq!(embed["title"], "standup · Thu 26 Nov");
        assert_eq!(embed["fields"][0]["name"], "→ Done (1)");
        assert_eq!(
            embed["fields"][0]["value"],
            "**Billing**\n• [Story \\<1\\>](https://example.com/story/1) from Started · Ada\n"
        );
        assert_eq!(embed["timestamp"], "2026-11-26T08:30:00Z");
    }
}

#[cfg(test)]
mod bridge_tests {
    use serde_json::json;

    use crate::config::{load_str, ConfigOrigin};
    use crate::store::{DeliveryStatus, DigestMark};
    use crate::Bridge;

    fn build(channel: &str, files: &[(&str, &str)]) -> Result<Bridge, String> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("storybridge-digest-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let yaml = format!(
            "templates: \".\"\nsources:\n  s: {{ kind: shortcut, allow_unsigned: true }}\n\
             channels:\n  standup: {channel}\nrules:\n  - {{ name: r, send: [standup] }}\n"
        );
        let origin = ConfigOrigin { name: "bridge.yaml".into(), base_dir: dir };
        let config = load_str(&yaml, &origin, &|_| None).map_err(|errors| errors.to_string())?;
        Bridge::build(config, origin).map_err(|errors| errors.to_string())
    }

    const DISCORD: &str = "kind: discord, url: \"https://discord.com/api/webhooks/1/x\"";

    fn refused(channel: &str, files: &[(&str, &str)]) -> String {
        match build(channel, files) {
            Ok(_) => panic!("built: {channel}"),
            Err(errors) => errors,
        }
    }

    #[test]
    fn check_names_the_digest_key_that_is_wrong() {
        let error = |digest: &str| refused(&format!("{{ {DISCORD}, digest: {digest} }}"), &[]);
        assert_eq!(
            error("{ at: \"9.30\" }"),
            "bridge.yaml: channels.standup.digest.at: `9.30` is not a time of day like \"09:30\""
        );
        assert!(error("{ at: \"09:30\", timezone: Mars/Olympus }").starts_with(
            "bridge.yaml: channels.standup.digest.timezone: `Mars/Olympus` is not an IANA time zone"
        ));
        assert!(error("{ every: 2d }")
            .starts_with("bridge.yaml: channels.standup.digest.every: must be whole minutes"));
        let threaded = refused(
            &format!("{{ {DISCORD}, forum: true, thread: per-story, digest: {{ every: 1h }} }}"),
            &[],
        );
        assert!(threaded.contains("channels.standup.thread: a digest channel collects"));
        let missing = refused(&format!("{{ {DISCORD}, digest: {{ every: 1h, template: mine }} }}"), &[]);
        assert!(
            missing.starts_with("bridge.yaml: channels.standup.digest.template: unknown template `mine`"),
            "{missing}"
        );
        let failing = refused(
            &format!("{{ {DISCORD}, digest: {{ every: 1h, template: mine }} }}"),
            &[("mine.hbs", "{{#each groups}}{{nope this}}{{/each}}")],
        );
        assert!(
            failing.starts_with("bridge.yaml: channels.standup.digest.template: fails on a sample digest")
        );
    }

    #[test]
    fn a_huge_discord_digest_is_one_embed_within_discord_s_limits_with_no_item_cut() {
        let bridge = build(&format!("{{ {DISCORD}, digest: {{ at: \"09:30\" }} }}"), &[]).unwrap();
        let parts: Vec<String> = (0..300)
            .map(|story| {
                json!({"source": "s", "entity_type": "story", "id": story, "kind": "update", "actor": {"name": "Ada"},
                       "subject": {"name": format!("Story number {story} of a long list"), "url": format!("https://example.com/{story}")},
                       "change_list": [{"field": "workflow_state_id", "label": "state", "kind": "value", "old": "Todo", "new": if story % 2 == 0 { "Done" } else { "Review" }}]})
                .to_string()
            })
            .collect();
        let delivery = crate::store::Delivery {
            id: 1,
            event_id: "digest:standup:x".into(),
            source: "storybridge".into(),
            rule: "digest".into(),
            channel: "standup".into(),
            body: String::new(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            failures: 0,
            next_attempt_at: 0,
            queued_at: 0,
            created_at: 0,
            delivered_at: None,
            last_status: None,
            last_error: None,
            template: None,
            render_error: None,
            thread_key: None,
            digest: Some(DigestMark { due: 1_795_686_400_000, late: false }),
        };
        let body: serde_json::Value =
            serde_json::from_str(&super::draw(&bridge, &delivery, &parts).unwrap()).unwrap();
        let embed = &body["embeds"][0];
        let fields = embed["fields"].as_array().unwrap();
        assert_eq!(fields[0]["name"], "→ Done (150)");
        assert_eq!(fields[1]["name"], "→ Review (150)", "both groups shown, each with its whole count");
        for field in fields {
            let value = field["value"].as_str().unwrap();
            assert!(value.chars().count() <= 1024, "{}", value.chars().count());
            let lines: Vec<&str> = value.lines().collect();
            let (more, items) = lines.split_last().unwrap();
            for line in items {
                assert!(
                    line.starts_with("• [Story number ") && line.ends_with(" from Todo · Ada"),
                    "whole: {line}"
                );
            }
            assert!(items.len() > 3, "every group shows some: {value}");
            assert_eq!(*more, format!("…and {} more", 150 - items.len()));
        }
        let description = embed["description"].as_str().unwrap();
        let total: usize = fields.iter().map(|f| f["value"].as_str().unwrap().chars().count()).sum::<usize>()
            + description.chars().count();
        assert!(total <= 6000, "{total}");
    }
}
