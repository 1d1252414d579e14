//! A channel's pace: token buckets (governor) from the platform's documented
//! limits or the channel's `rate_limit`, plus a pause the platform asks for in
//! its answers, so the bridge slows down before it is told 429.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::config::{ChannelConfig, ChannelKind, RateLimitConfig};

pub struct Pace {
    limiters: Vec<DefaultDirectRateLimiter>,
    not_before: Option<Instant>,
}

impl Pace {
    pub fn for_channel(channel: &ChannelConfig) -> Pace {
        let quotas = match (channel.rate_limit, channel.kind) {
            (Some(limit), _) => vec![quota(limit)],
            // Slack: about one message a second per channel, short bursts allowed.
            (None, ChannelKind::Slack) => vec![quota(RateLimitConfig { per_second: 1.0, burst: 3 })],
            // Discord: 5 requests per 2 s per webhook, and 30 messages a minute per channel.
            (None, ChannelKind::Discord) => vec![
                quota(RateLimitConfig { per_second: 2.5, burst: 5 }),
                quota(RateLimitConfig { per_second: 0.5, burst: 30 }),
            ],
            (None, ChannelKind::Console) => Vec::new(),
        };
        Pace { limiters: quotas.into_iter().map(RateLimiter::direct).collect(), not_before: None }
    }

    /// Waits until the channel may send again.
    pub async fn ready(&mut self) {
        if let Some(not_before) = self.not_before.take() {
            tokio::time::sleep_until(not_before).await;
        }
        for limiter in &self.limiters {
            limiter.until_ready().await;
        }
    }

    /// Holds the next send back by `pause`, when the platform asked for one.
    pub fn pause_for(&mut self, pause: Option<Duration>) {
        self.not_before = pause.map(|pause| Instant::now() + pause);
    }
}

fn quota(limit: RateLimitConfig) -> Quota {
    let period = Duration::from_secs_f64(1.0 / limit.per_second);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period).expect("checked at load: per_second above 0").allow_burst(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(kind: ChannelKind, rate_limit: Option<RateLimitConfig>) -> ChannelConfig {
        ChannelConfig {
            kind,
            bot: None,
            stray_bot_keys: Vec::new(),
            thread: None,
            update: None,
            forum: false,
            broadcast: Vec::new(),
            url: None,
            template: None,
            username: None,
            avatar_url: None,
            mentions: false,
            rate_limit,
            coalesce: None,
        }
    }

    /// How many sends the pace allows at once, before it would make one wait.
    fn burst(pace: &Pace) -> usize {
        (0..100).take_while(|_| pace.limiters.iter().all(|limiter| limiter.check().is_ok())).count()
    }

    #[test]
    fn slack_allows_a_burst_of_three_then_one_a_second() {
        assert_eq!(burst(&Pace::for_channel(&channel(ChannelKind::Slack, None))), 3);
    }

    #[test]
    fn discord_allows_five_per_two_seconds() {
        assert_eq!(burst(&Pace::for_channel(&channel(ChannelKind::Discord, None))), 5);
    }

    #[test]
    fn a_channel_override_replaces_the_platform_default() {
        let custom = RateLimitConfig { per_second: 10.0, burst: 7 };
        assert_eq!(burst(&Pace::for_channel(&channel(ChannelKind::Discord, Some(custom)))), 7);
        assert_eq!(
            burst(&Pace::for_channel(&channel(ChannelKind::Console, None))),
            100,
            "console is not paced"
        );
    }
}
