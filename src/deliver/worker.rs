//! One channel's worker: claim its oldest due messages → send each in order →
//! record the attempts and what they decided, a batch at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

use super::pace::{Op, Pace};
use super::retry;
use super::story::{self, DrawError, StoryMessage};
use crate::config::{ChannelConfig, ChannelKind, RateLimitConfig};
use crate::sinks::{self, Answer, SendOutcome};
use crate::store::{now_millis, Attempt, Delivery, Millis, Pause, Resolution};
use crate::Shared;

/// How often an idle worker looks for work nobody woke it for: messages
/// replayed by the CLI from another process.
const IDLE_POLL: Duration = Duration::from_secs(1);

pub struct Worker {
    shared: Arc<Shared>,
    channel: String,
    /// The pace, and the settings it was built from: a reload may change them.
    pace: Option<(Pace, (ChannelKind, Option<RateLimitConfig>))>,
}

/// Deliveries claimed and recorded together. It is also how many messages a
/// SIGKILL can make the bridge send twice: sent, but not yet recorded.
const BATCH: usize = 32;

/// What rendering a message at send time came to.
enum Rendered {
    Body(String),
    /// The template failed; the message is recorded dead.
    Dead,
    /// The store could not be read or written: try the batch again later.
    StoreFailed,
}

/// What the worker found to do next.
enum Next {
    /// Due messages, oldest first.
    Send(Vec<Delivery>),
    /// Nothing to send before this long (or a wake-up).
    Wait(Duration),
    /// The last batch's attempts could not be recorded: these, to record
    /// before anything else is claimed.
    Unrecorded(Vec<(i64, Attempt, Resolution)>),
}

/// 1 s, 2 s, 4 s … up to 30 s between tries to record attempts.
fn unrecorded_backoff(tries: u32) -> Duration {
    Duration::from_secs(1u64 << tries.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

impl Worker {
    pub fn new(shared: Arc<Shared>, channel: String) -> Self {
        Worker { shared, channel, pace: None }
    }

    pub async fn run_until_stopped(mut self, wake: Arc<Notify>, mut stopped: watch::Receiver<bool>) {
        // The last batch's attempts, recorded with the next claim.
        let mut records = Vec::new();
        // Consecutive claims that could not record: how long to back off.
        let mut unrecorded = 0;
        while !*stopped.borrow() {
            let next = self.claim(std::mem::take(&mut records)).await;
            let batch = match next {
                Next::Send(batch) => {
                    unrecorded = 0;
                    batch
                }
                Next::Unrecorded(kept) => {
                    // Sent, but not recorded: claiming again would send them
                    // again (298 posts of one batch in 10 s with a full disk).
                    // Keep them, send nothing, and try recording later.
                    records = kept;
                    unrecorded += 1;
                    let wait = unrecorded_backoff(unrecorded);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stopped.changed() => {}
                    }
                    continue;
                }
                Next::Wait(wait) => {
                    unrecorded = 0;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = wake.notified() => {}
                        _ = stopped.changed() => {}
                    }
                    continue;
                }
            };
            let mut channel_left = false;
            for mut delivery in batch {
                // On a store replicas share: a lease lost mid-batch (this bridge
                // stalled, or could not renew) leaves the rest to the new holder.
                if !self.shared.store.owns_channel(&self.channel) {
                    break;
                }
                // The channel's config as of now: a reload may have changed its URL.
                let bridge = self.shared.bridge();
                let Some(channel) = bridge.config.channels.get(&self.channel) else {
                    channel_left = true;
                    break;
                };
                if delivery.needs_render() {
                    match self.render(&bridge, &delivery).await {
                        Rendered::Body(body) => delivery.body = body,
                        Rendered::Dead => continue,
                        Rendered::StoreFailed => break,
                    }
                }
                // `check` lets only a Slack bot or Discord thread or edit.
                let story_key = delivery.thread_key.as_deref().filter(|_| channel.by_story());
                let story = match story_key {
                    Some(key) => {
                        match story::draw(&self.shared, &bridge, &self.channel, &delivery, key).await {
                            Ok(drawn) => Some(StoryMessage {
                                shared: &self.shared,
                                channel_name: &self.channel,
                                channel,
                                key,
                                drawn,
                            }),
                            Err(DrawError::Template(error)) => {
                                self.template_failed(&delivery, &error).await;
                                continue;
                            }
                            Err(DrawError::Store(error)) => {
                                tracing::warn!(delivery = delivery.id, channel = %self.channel, %error, "cannot read the story's message; will retry");
                                break;
                            }
                        }
                    }
                    None => None,
                };
                let settings = (channel.kind, channel.rate_limit);
                if self.pace.as_ref().is_none_or(|(_, built_from)| *built_from != settings) {
                    self.pace = Some((Pace::for_channel(channel), settings));
                }
                let (pace, _) = self.pace.as_mut().expect("set above");
                if story.is_none() {
                    tokio::select! {
                        _ = pace.ready(Op::Post) => {}
                        _ = stopped.changed() => break,
                    }
                }
                // Once a send starts it finishes: cancelling it could leave Slack
                // holding a message the store says was never sent. A story's
                // requests (an edit, then a reply) are paced as they go.
                let started = (now_millis(), Instant::now());
                let answer = match &story {
                    Some(story) => story.send(pace).await,
                    None => sinks::send(&self.shared.client, channel, &delivery.body, None).await,
                };
                let attempt = attempt_of(started, &answer);
                let resolution = self.decide(channel, &delivery, &attempt, &answer).await;
                let gone = matches!(answer.outcome, SendOutcome::Gone { .. });
                records.push((delivery.id, attempt, resolution));
                // A message waiting for its retry holds back the rest of its
                // channel; a dead webhook pauses it.
                if matches!(resolution, Resolution::Retry { .. }) || gone {
                    break;
                }
            }
            if channel_left {
                self.flush(records).await;
                tracing::info!(channel = %self.channel, "channel left the config; its worker stops");
                return;
            }
        }
        self.flush(records).await;
    }

    /// Records the last batch's attempts, then returns the channel's next due
    /// messages, unless it is paused. Only the due prefix: one waiting for its
    /// retry holds back those after it.
    async fn claim(&self, finished: Vec<(i64, Attempt, Resolution)>) -> Next {
        let count = finished.len();
        let kept = finished.clone();
        let claim = match self.shared.store.record_and_claim(&self.channel, finished, BATCH).await {
            Ok(claim) => claim,
            Err(error) if count > 0 => {
                tracing::warn!(channel = %self.channel, unrecorded = count, %error, "cannot record the last attempts; delivery waits until the store can");
                return Next::Unrecorded(kept);
            }
            Err(error) => {
                tracing::warn!(channel = %self.channel, %error, "cannot read the queue; will retry");
                return Next::Wait(IDLE_POLL);
            }
        };
        let Some(head) = claim.pending.first() else { return Next::Wait(IDLE_POLL) };
        let now = now_millis();
        let due_in = head.next_attempt_at - now;
        if due_in > 0 {
            return Next::Wait(Duration::from_millis(due_in as u64).min(IDLE_POLL));
        }
        if self.paused(claim.pause).await {
            return Next::Wait(IDLE_POLL);
        }
        Next::Send(claim.pending.into_iter().take_while(|delivery| delivery.next_attempt_at <= now).collect())
    }

    /// Renders a message stored without a body (a burst whose window closed, a
    /// template failure replayed) and keeps the result, so a retry sends the
    /// same body. A template that fails makes the message dead, kept for the
    /// next replay.
    async fn render(&self, bridge: &crate::Bridge, delivery: &Delivery) -> Rendered {
        let store = &self.shared.store;
        let parts = match store.parts(delivery.id).await {
            Ok(parts) => parts,
            Err(error) => {
                tracing::warn!(delivery = delivery.id, channel = %self.channel, %error, "cannot read the message's parts; will retry");
                return Rendered::StoreFailed;
            }
        };
        let rendered = match delivery.digest {
            Some(_) => crate::digest::draw(bridge, delivery, &parts),
            None => super::render::from_parts(bridge, delivery, &parts),
        };
        match rendered {
            Ok(body) => match store.rendered(delivery.id, Ok(body.clone())).await {
                Ok(()) => Rendered::Body(body),
                Err(error) => {
                    tracing::warn!(delivery = delivery.id, channel = %self.channel, %error, "cannot keep the rendered message; will retry");
                    Rendered::StoreFailed
                }
            },
            Err(error) => match self.template_failed(delivery, &error).await {
                true => Rendered::Dead,
                false => Rendered::StoreFailed,
            },
        }
    }

    /// A template failed at send time: the message is kept dead with the
    /// error, for the next replay. Whether the store recorded it.
    async fn template_failed(&self, delivery: &Delivery, error: &str) -> bool {
        tracing::error!(delivery = delivery.id, event_id = %delivery.event_id, rule = %delivery.rule, channel = %self.channel, %error, "template failed: the message is kept dead; fix the template, then replay it");
        let template = delivery.template.as_deref().unwrap_or(crate::render::DEFAULT_TEMPLATE);
        self.shared.metrics.template_failed(template, &self.channel);
        self.shared.metrics.message(&self.channel, "dead");
        match self.shared.store.rendered(delivery.id, Err(error.to_owned())).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(delivery = delivery.id, channel = %self.channel, %error, "cannot keep the failed message; will retry");
                false
            }
        }
    }

    /// Records a batch's attempts in one transaction.
    async fn flush(&self, records: Vec<(i64, Attempt, Resolution)>) {
        if records.is_empty() {
            return;
        }
        let count = records.len();
        if let Err(error) = self.shared.store.finish_attempts(records).await {
            // The messages stay pending and are sent again: duplicates, never a loss.
            tracing::error!(channel = %self.channel, count, %error, "cannot record the attempts");
        }
    }

    /// A channel paused for a dead URL stays paused until its URL changes; one
    /// an admin paused, until resumed.
    async fn paused(&self, pause: Option<Pause>) -> bool {
        let bridge = self.shared.bridge();
        let Some(channel) = bridge.config.channels.get(&self.channel) else {
            return true;
        };
        match pause {
            Some(pause) if pause.is_by_admin() => true,
            Some(pause) if pause.url_fingerprint == sinks::url_fingerprint(channel) => true,
            Some(_) => {
                tracing::info!(channel = %self.channel, "channel URL changed; resuming");
                let _ = self.shared.store.resume_channel(&self.channel).await;
                false
            }
            None => false,
        }
    }

    /// What the answer means for the message: logged, counted, and for a dead
    /// webhook, the channel paused. The attempt is recorded with its batch.
    async fn decide(
        &mut self,
        channel: &ChannelConfig,
        delivery: &Delivery,
        attempt: &Attempt,
        answer: &Answer,
    ) -> Resolution {
        if let Some((pace, _)) = &mut self.pace {
            pace.pause_for(answer.pause);
        }
        let max_age = self.shared.bridge().config.max_age.0.as_millis() as Millis;
        let resolution = resolve(delivery, attempt, &answer.outcome, max_age);
        self.log(channel, delivery, attempt, &answer.outcome, resolution);
        self.count(delivery, attempt, &answer.outcome, resolution);
        if let SendOutcome::Gone { status, body } = &answer.outcome {
            let pause = Pause {
                url_fingerprint: sinks::url_fingerprint(channel),
                reason: format!("HTTP {status}: {body}"),
            };
            if let Err(error) = self.shared.store.pause_channel(&self.channel, pause).await {
                tracing::error!(channel = %self.channel, %error, "cannot record the channel pause");
            }
        }
        resolution
    }

    fn count(&self, delivery: &Delivery, attempt: &Attempt, outcome: &SendOutcome, resolution: Resolution) {
        let metrics = &self.shared.metrics;
        let label = match (outcome, resolution) {
            (SendOutcome::RateLimited(_), _) => "rate_limited",
            (_, Resolution::Delivered) => "delivered",
            (_, Resolution::Retry { .. }) => "retried",
            (_, Resolution::Dead) => "dead",
        };
        metrics.message(&self.channel, label);
        if let (Resolution::Delivered, Some(digest)) = (resolution, delivery.digest) {
            metrics.digest_sent(&self.channel, digest.late);
        }
        if resolution == Resolution::Delivered {
            metrics.delivered_after(&self.channel, (attempt.at - delivery.created_at).max(0) as f64 / 1000.0);
        }
    }

    fn log(
        &self,
        channel: &ChannelConfig,
        delivery: &Delivery,
        attempt: &Attempt,
        outcome: &SendOutcome,
        resolution: Resolution,
    ) {
        let (id, event_id, rule) = (delivery.id, &delivery.event_id, &delivery.rule);
        let status = attempt.status.unwrap_or(0);
        let target = sinks::redacted_url(channel);
        match (outcome, resolution) {
            (SendOutcome::Delivered, _) => {
                let waited_ms = attempt.at - delivery.queued_at;
                tracing::info!(delivery = id, %event_id, %rule, channel = %self.channel, status, waited_ms, "delivered");
            }
            (SendOutcome::RateLimited(wait), _) => {
                tracing::info!(delivery = id, %event_id, %rule, channel = %self.channel, wait_ms = wait.as_millis() as u64, "rate limited; waiting");
            }
            (_, Resolution::Retry { at, .. }) => {
                let retry_in_ms = at - attempt.at;
                tracing::warn!(delivery = id, channel = %self.channel, %target, error = attempt.error.as_deref().unwrap_or(""), retry_in_ms, "send failed; will retry");
            }
            (_, _) => {
                tracing::error!(delivery = id, %event_id, %rule, channel = %self.channel, %target, status, error = attempt.error.as_deref().unwrap_or(""), "dead: not retrying");
            }
        }
    }
}

/// The attempt a send made: when it started, how long it took, what came back.
fn attempt_of((at, started): (Millis, Instant), answer: &Answer) -> Attempt {
    let error = match &answer.outcome {
        SendOutcome::Delivered => None,
        SendOutcome::RateLimited(wait) => Some(format!("rate limited for {wait:?}")),
        SendOutcome::Transient(error) => Some(error.clone()),
        SendOutcome::Permanent { body, .. }
        | SendOutcome::Gone { body, .. }
        | SendOutcome::Stale { body, .. }
        | SendOutcome::Archived { body, .. } => Some(body.clone()),
    };
    Attempt { at, status: answer.status, error, latency_ms: started.elapsed().as_millis() as i64 }
}

/// What an attempt's outcome means for its delivery.
fn resolve(delivery: &Delivery, attempt: &Attempt, outcome: &SendOutcome, max_age: Millis) -> Resolution {
    // Waits count from the answer, not from the request: "retry after 1 s"
    // means one second after it was said.
    let answered_at = attempt.at + attempt.latency_ms;
    match outcome {
        SendOutcome::Delivered => Resolution::Delivered,
        SendOutcome::RateLimited(wait) => {
            Resolution::Retry { at: answered_at + wait.as_millis() as Millis, failed: false }
        }
        SendOutcome::Transient(_) if answered_at - delivery.queued_at >= max_age => Resolution::Dead,
        SendOutcome::Transient(_) => {
            let wait = retry::delay(delivery.failures + 1);
            Resolution::Retry { at: answered_at + wait.as_millis() as Millis, failed: true }
        }
        // A stale root is replaced before an answer gets here; should one, it is refused.
        SendOutcome::Permanent { .. }
        | SendOutcome::Gone { .. }
        | SendOutcome::Stale { .. }
        | SendOutcome::Archived { .. } => Resolution::Dead,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryStatus;

    fn delivery(queued_at: Millis, failures: u32) -> Delivery {
        Delivery {
            id: 1,
            event_id: "e".into(),
            source: "s".into(),
            rule: "r".into(),
            channel: "c".into(),
            body: "{}".into(),
            status: DeliveryStatus::Pending,
            attempts: failures,
            failures,
            next_attempt_at: queued_at,
            queued_at,
            created_at: queued_at,
            delivered_at: None,
            last_status: None,
            last_error: None,
            template: None,
            render_error: None,
            thread_key: None,
            digest: None,
        }
    }

    fn attempt_at(at: Millis) -> Attempt {
        Attempt { at, status: None, error: None, latency_ms: 0 }
    }

    #[test]
    fn waits_count_from_the_answer_not_the_request() {
        let slow = Attempt { at: 10_000, status: Some(429), error: None, latency_ms: 250 };
        let outcome = SendOutcome::RateLimited(Duration::from_secs(1));
        assert_eq!(
            resolve(&delivery(0, 0), &slow, &outcome, 60_000),
            Resolution::Retry { at: 11_250, failed: false }
        );
    }

    #[test]
    fn a_429_waits_exactly_what_it_says_and_is_not_a_failure() {
        let outcome = SendOutcome::RateLimited(Duration::from_millis(1500));
        assert_eq!(
            resolve(&delivery(0, 0), &attempt_at(10_000), &outcome, 1000),
            Resolution::Retry { at: 11_500, failed: false }
        );
    }

    #[test]
    fn transient_failures_back_off_until_max_age_then_die() {
        let outcome = SendOutcome::Transient("HTTP 502".into());
        let Resolution::Retry { at, failed: true } =
            resolve(&delivery(0, 2), &attempt_at(1000), &outcome, 60_000)
        else {
            panic!("should retry");
        };
        assert!((1000 + 4000..=1000 + 5000).contains(&at), "third retry after ~4 s, got {}", at - 1000);
        assert_eq!(resolve(&delivery(0, 9), &attempt_at(60_000), &outcome, 60_000), Resolution::Dead);
    }

    #[test]
    fn refusals_die_at_once() {
        let refused = SendOutcome::Permanent { status: 400, body: "invalid_payload".into() };
        assert_eq!(resolve(&delivery(0, 0), &attempt_at(1), &refused, 60_000), Resolution::Dead);
        let gone = SendOutcome::Gone { status: 404, body: "Unknown Webhook".into() };
        assert_eq!(resolve(&delivery(0, 0), &attempt_at(1), &gone, 60_000), Resolution::Dead);
    }
}
