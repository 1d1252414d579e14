//! The route stage, off the request path: takes accepted events in acceptance
//! order, resolves names (the tracker API with a timeout of its own), runs the
//! rules, renders, and commits each event's deliveries together with the mark
//! that it is routed. A crash anywhere before that commit leaves the event
//! unrouted, and it is routed again at the next start; the store's route
//! ledger keeps that from queueing any message twice.
//!
//! The same path routes stored events again on demand (`reroute`): after a
//! rule or template was fixed.

mod queue;
pub mod stored;
mod stories;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{watch, Notify};

pub use stored::{headers_from_json, read, Reading};

use crate::normalize::Event;
use crate::pipeline::{self, RouteOutcome, Routed};
use crate::resolve::{self, Names, PendingNames};
use crate::store::{now_millis, EventRoutes, EventSelection, EventSeq, Queued, StoreError, StoredEvent};
use crate::{Bridge, Shared};

/// Events routed and committed together: one store trip each way, and their
/// API look-ups wait together. Large, so the router keeps up with ingest under
/// load (at 32, each batch's two trips through the busy store writer let it
/// fall seconds behind); bounded in bytes, so a batch of large events stays
/// small in memory.
pub const BATCH: usize = 256;
const BATCH_BYTES: usize = 8 << 20;

/// How often an idle router looks for events nobody woke it for.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Starts the router on a thread of its own (`route`, a current-thread
/// runtime), as delivery has: rules and templates are CPU work, and an event of
/// thousands of changes must not delay the answers to other requests, nor the
/// sends. Its CPU shows apart from ingest's and delivery's in `/proc`. The
/// thread ends when `stopped` says so, between two batches.
pub fn start(shared: Arc<Shared>, stopped: watch::Receiver<bool>) -> std::thread::JoinHandle<()> {
    let wake = shared.router_wake.clone();
    std::thread::Builder::new()
        .name("route".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("building the router's runtime");
            runtime.block_on(run_until_stopped(shared, wake, stopped));
        })
        .expect("spawning the router thread")
}

/// Routes until `stopped`. Stopping between a batch's routing and its commit
/// loses nothing: the batch is routed again at the next start.
pub async fn run_until_stopped(shared: Arc<Shared>, wake: Arc<Notify>, mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        let wait = match route_next(&shared).await {
            Ok(0) => IDLE_POLL,
            Ok(_) => continue,
            Err(StoreError::Superseded(why)) => {
                tracing::info!(%why, "router: another bridge took routing over");
                IDLE_POLL
            }
            Err(error) => {
                tracing::warn!(%error, "router: the store failed; the events wait and are routed later");
                IDLE_POLL
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            // Told to stop, or the server that would tell it is gone.
            changed = stopped.changed() => if changed.is_err() { return },
        }
    }
}

/// The router's step: routes the oldest unrouted events (a batch) and
/// returns how many it took.
pub async fn route_next(shared: &Arc<Shared>) -> Result<usize, StoreError> {
    let events = shared.store.claim_unrouted(BATCH, BATCH_BYTES).await?;
    if events.is_empty() {
        return Ok(0);
    }
    route_stored(shared, &events, true).await?;
    let now = now_millis();
    for event in &events {
        shared.metrics.routed_after(now.saturating_sub(event.received_at).max(0) as f64 / 1000.0);
    }
    Ok(events.len())
}

/// What routing one stored event queued.
#[derive(Debug, Clone, Serialize)]
pub struct Rerouted {
    pub source: String,
    pub event_id: String,
    pub queued: usize,
    pub requeued: usize,
    pub coalesced: usize,
    pub failed: usize,
    pub already: usize,
    /// Why nothing was routed, when the event no longer reads as one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Routes the stored events `which` selects again, under the current config
/// and templates: only messages not already queued or delivered for the same
/// change, rule and channel are queued (a dead one is queued again).
pub async fn reroute(shared: &Arc<Shared>, which: EventSelection) -> Result<Vec<Rerouted>, StoreError> {
    let events = shared.store.stored_events(which).await?;
    let mut reports = Vec::with_capacity(events.len());
    for batch in events.chunks(BATCH) {
        reports.extend(route_stored(shared, batch, false).await?);
    }
    Ok(reports)
}

/// Routes `events` in order and commits what they owe in one transaction,
/// marking them routed when they are the router's (not a reroute).
async fn route_stored(
    shared: &Arc<Shared>,
    events: &[StoredEvent],
    routed: bool,
) -> Result<Vec<Rerouted>, StoreError> {
    let bridge = shared.bridge();
    let readings: Vec<Reading> = events.iter().map(|stored| read(&bridge, stored)).collect();
    // Every event's look-up starts now, and each waits its source's
    // `api_timeout` from now: the batch's look-ups run together.
    let started = tokio::time::Instant::now();
    let lookups: Vec<Option<(PendingNames, Duration)>> = events
        .iter()
        .zip(&readings)
        .map(|(stored, reading)| {
            let Reading::Event(event) = reading else { return None };
            let source = bridge.config.sources.get(&stored.source)?;
            let api = shared.tracker_api(&stored.source, source);
            Some((resolve::start_lookup(event, &bridge.directory, api), source.api_timeout()))
        })
        .collect();
    let mut work = Vec::with_capacity(events.len());
    for ((stored, reading), lookup) in events.iter().zip(readings).zip(lookups) {
        work.push(match reading {
            Reading::Event(event) => {
                let (lookup, timeout) = lookup.expect("a look-up was started for every event");
                let names = lookup.finish(&event, started + timeout).await;
                Work::Route { seq: stored.seq, event, names }
            }
            Reading::Nothing(why) => {
                tracing::debug!(source = %stored.source, event_id = %stored.event_id, %why, "nothing to route");
                Work::Skip { seq: stored.seq, why }
            }
            Reading::Invalid(why) => {
                tracing::warn!(source = %stored.source, event_id = %stored.event_id, %why, "stored event no longer normalizes under this config; nothing routed (reroute it once fixed)");
                Work::Skip { seq: stored.seq, why }
            }
        });
    }
    // Live cards are drawn from each story's state, which moves with routing.
    let stories = match bridge.keeps_cards() {
        true => {
            let events = work.iter().filter_map(|item| match item {
                Work::Route { event, .. } => Some(&**event),
                Work::Skip { .. } => None,
            });
            Some(stories::Stories::load(&*shared.store, events).await?)
        }
        false => None,
    };
    // Rules and templates: CPU work, done here on the router's own thread
    // (`start`), where it delays no request and no send.
    let (routes, tallies, skipped) = plan_all(&bridge, work, stories, shared.clock.now());
    let queued = shared.store.commit_routes(routes, routed).await?;
    let mut reports = Vec::with_capacity(events.len());
    for (((stored, queued), tally), skipped) in events.iter().zip(queued).zip(tallies).zip(skipped) {
        tally.count(shared);
        for channel in &queued.channels {
            shared.wakers.wake(channel);
        }
        reports.push(report(stored, queued, skipped));
    }
    Ok(reports)
}

/// Each event's deliveries, what its routing counts, and why nothing was
/// routed where nothing was.
type Planned = (Vec<EventRoutes>, Vec<Tally>, Vec<Option<String>>);

/// One stored event, ready for the rules: or why there is nothing to route.
enum Work {
    Route { seq: EventSeq, event: Box<Event>, names: Names },
    Skip { seq: EventSeq, why: String },
}

fn plan_all(
    bridge: &Bridge,
    work: Vec<Work>,
    mut stories: Option<stories::Stories>,
    schedule_now: crate::store::Millis,
) -> Planned {
    let now = now_millis();
    let mut planned: Planned = (Vec::new(), Vec::new(), Vec::new());
    for item in work {
        let (seq, deliveries, story_states, tally, why) = match item {
            Work::Route { seq, event, names } => {
                let routed = pipeline::process(bridge, &event, &names);
                let tally = Tally::of(&event.id, &routed);
                let story_states = stories.as_mut().map(|s| s.fold(seq, &event, &names)).unwrap_or_default();
                (seq, queue::plans(bridge, routed, now, schedule_now), story_states, tally, None)
            }
            Work::Skip { seq, why } => (seq, Vec::new(), Vec::new(), Tally::default(), Some(why)),
        };
        planned.0.push(EventRoutes { seq, deliveries, stories: story_states });
        planned.1.push(tally);
        planned.2.push(why);
    }
    planned
}

fn report(stored: &StoredEvent, queued: Queued, skipped: Option<String>) -> Rerouted {
    tracing::debug!(source = %stored.source, event_id = %stored.event_id, queued = queued.queued, coalesced = queued.coalesced, failed = queued.failed, "routed");
    Rerouted {
        source: stored.source.clone(),
        event_id: stored.event_id.clone(),
        queued: queued.queued,
        requeued: queued.requeued,
        coalesced: queued.coalesced,
        failed: queued.failed,
        already: queued.already,
        skipped,
    }
}

/// What an event's routing counts in the metrics, once committed: each rule
/// once per change it matched, each template failure.
#[derive(Default)]
struct Tally {
    rule_matches: BTreeMap<String, u64>,
    template_errors: Vec<(String, String)>,
}

impl Tally {
    fn of(event_id: &str, routed: &[Routed]) -> Tally {
        let mut tally = Tally::default();
        let mut counted = std::collections::HashSet::new();
        for route in routed {
            if counted.insert((route.change, route.rule.as_str())) {
                *tally.rule_matches.entry(route.rule.clone()).or_default() += 1;
            }
            if let RouteOutcome::Failed(error) = &route.outcome {
                // Logged here, once; the message waits dead for a replay.
                tracing::error!(%event_id, rule = %route.rule, channel = %route.channel, %error, "template failed: the message is kept dead; fix the template, then replay it");
                tally.template_errors.push((route.template.clone(), route.channel.clone()));
            }
        }
        tally
    }

    fn count(self, shared: &Shared) {
        for (rule, count) in self.rule_matches {
            shared.metrics.rule_matched(&rule, count);
        }
        for (template, channel) in self.template_errors {
            shared.metrics.template_failed(&template, &channel);
        }
    }
}
