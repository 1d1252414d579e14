//! A channel's pace: token buckets (governor) from the platform's documented
//! limits or the channel's `rate_limit`, plus a pause the platform asks for in
//! its answers, so the bridge slows down before it is told 429.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::config::{ChannelConfig, ChannelKind, RateLimitConfig};

pub struct Pace {
    limiters: Vec<(DefaultDirectRateLimiter, Applies)>,
    not_before: Option<Instant>,
}

/// What a request to a platform does: the platforms count new messages and
/// edits against limits of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Post,
    Edit,
}

/// Which requests a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applies {
    Both,
    Posts,
    Edits,
}

impl Applies {
    fn counts(self, op: Op) -> bool {
        matches!((self, op), (Applies::Both, _) | (Applies::Posts, Op::Post) | (Applies::Edits, Op::Edit))
    }
}

impl Pace {
    pub fn for_channel(channel: &ChannelConfig) -> Pace {
        let per = |per_second, burst| quota(RateLimitConfig { per_second, burst });
        let quotas = match (channel.rate_limit, channel.kind) {
            (Some(limit), _) => vec![(quota(limit), Applies::Both)],
            // Slack: about one message a second per channel, short bursts
            // allowed; `chat.update` is a Tier 3 method, about 50 a minute.
            (None, ChannelKind::Slack) => {
                vec![(per(1.0, 3), Applies::Posts), (per(50.0 / 60.0, 5), Applies::Edits)]
            }
            // Discord: 5 requests per 2 s per webhook, edits included, and 30
            // messages a minute per channel.
            (None, ChannelKind::Discord) => {
                vec![(per(2.5, 5), Applies::Both), (per(0.5, 30), Applies::Posts)]
            }
            (None, ChannelKind::Console) => Vec::new(),
        };
        let limiters =
            quotas.into_iter().map(|(quota, applies)| (RateLimiter::direct(quota), applies)).collect();
        Pace { limiters, not_before: None }
    }

    /// Waits until the channel may make a request of this kind again.
    pub async fn ready(&mut self, op: Op) {
        if let Some(not_before) = self.not_before.take() {
            tokio::time::sleep_until(not_before).await;
        }
        for (limiter, applies) in &self.limiters {
            if applies.counts(op) {
                limiter.until_ready().await;
            }
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
            thread_template: None,
            card_template: None,
            username: None,
            avatar_url: None,
            mentions: false,
            rate_limit,
            coalesce: None,
            digest: None,
        }
    }

    /// How many requests of a kind the pace allows at once, before it would make one wait.
    fn burst_of(pace: &Pace, op: Op) -> usize {
        let allowed = |pace: &Pace| {
            pace.limiters
                .iter()
                .filter(|(_, applies)| applies.counts(op))
                .all(|(limiter, _)| limiter.check().is_ok())
        };
        (0..100).take_while(|_| allowed(pace)).count()
    }

    fn burst(pace: &Pace) -> usize {
        burst_of(pace, Op::Post)
    }

    #[test]
    fn slack_paces_edits_apart_from_posts() {
        let pace = Pace::for_channel(&channel(ChannelKind::Slack, None));
        assert_eq!(burst_of(&pace, Op::Edit), 5, "chat.update's own budget");
        assert_eq!(burst_of(&pace, Op::Post), 3, "spending it leaves the posts theirs");
    }

    #[test]
    fn discord_edits_share_the_webhook_s_budget_but_not_the_channel_s_message_count() {
        let pace = Pace::for_channel(&channel(ChannelKind::Discord, None));
        assert_eq!(burst_of(&pace, Op::Edit), 5);
        assert_eq!(burst_of(&pace, Op::Post), 0, "the webhook's 5 per 2 s are spent by the edits");
        let fresh = Pace::for_channel(&channel(ChannelKind::Discord, None));
        assert_eq!(burst_of(&fresh, Op::Post), 5);
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
