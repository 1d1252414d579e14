//! An event's routes as the rows the store queues: each route's message
//! rendered, or (a burst, a template failure) the context delivery renders it
//! from later.

use crate::pipeline::{RouteOutcome, Routed};
use crate::store::{Millis, NewDelivery, Plan};
use crate::Bridge;

/// The deliveries `routed` owes, planned at `now`; `schedule_now` is the
/// time by the schedules' clock, which picks a digest's period. Silent
/// routes owe nothing.
pub fn plans(bridge: &Bridge, routed: Vec<Routed>, now: Millis, schedule_now: Millis) -> Vec<NewDelivery> {
    routed
        .into_iter()
        .filter_map(|routed| {
            let part = routed.part.map(|part| part.to_string());
            let (plan, context) = match (routed.burst, routed.outcome, part) {
                // A burst renders once, when its window closes, from all its parts.
                (Some(burst), _, Some(part)) => {
                    let hold = burst.window.as_millis().min(i64::MAX as u128) as Millis;
                    (Plan::Burst { key: burst.key, hold_until: now.saturating_add(hold), part }, None)
                }
                // A story's message keeps its context beside the body.
                (_, RouteOutcome::Message(body), part) => (Plan::Body(body.into_text()), part),
                (_, RouteOutcome::Silent, _) => return None,
                (_, RouteOutcome::Collected, part) => {
                    // The period the change falls in: the next due time.
                    let schedule = bridge.schedules.get(&routed.channel)?;
                    let due = schedule.next_after(schedule_now);
                    let period = crate::digest::period_id(&routed.channel, due);
                    (Plan::Digest { due, period, part: part.unwrap_or_else(|| "{}".into()) }, None)
                }
                (_, RouteOutcome::Failed(error), part) => {
                    let part = part.unwrap_or_else(|| "{}".into());
                    (Plan::Failed { error: error.to_string(), part }, None)
                }
            };
            Some(NewDelivery {
                change_index: routed.change,
                rule: routed.rule,
                channel: routed.channel,
                template: routed.template,
                thread_key: routed.thread_key,
                context,
                plan,
            })
        })
        .collect()
}
