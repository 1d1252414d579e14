//! Prometheus metrics: one registry per running bridge (not a global recorder),
//! so several bridges in one process, as in the tests, count separately.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub source: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    pub channel: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TemplateLabels {
    pub template: String,
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

type LatencyFamily = Family<ChannelLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    queue_depth: Family<ChannelLabels, Gauge>,
    queue_oldest_seconds: Family<ChannelLabels, Gauge>,
    latency: LatencyFamily,
    routing_latency: Histogram,
    rule_matches: Family<RuleLabels, Counter>,
    template_errors: Family<TemplateLabels, Counter>,
    reloads: Family<OutcomeLabels, Counter>,
    digest_items: Family<ChannelLabels, Gauge>,
    digests_sent: Family<ChannelLabels, Counter>,
    digests_late: Family<ChannelLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 50 ms … ~14 min: a message is usually out in well under a second, but a
    // retried one can take minutes.
    Histogram::new(exponential_buckets(0.05, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("storybridge");
        let metrics = Metrics {
            events: Family::default(),
            messages: Family::default(),
            queue_depth: Family::default(),
            queue_oldest_seconds: Family::default(),
            latency: LatencyFamily::new_with_constructor(latency_histogram),
            // 1 ms … ~9 min: routed within milliseconds, unless the tracker API
            // is slow or the router is behind.
            routing_latency: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            rule_matches: Family::default(),
            template_errors: Family::default(),
            reloads: Family::default(),
            digest_items: Family::default(),
            digests_sent: Family::default(),
            digests_late: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events_received",
            "Webhook requests by source and outcome",
            metrics.events.clone(),
        );
        registry.register("messages", "Delivery attempts by channel and outcome", metrics.messages.clone());
        registry.register(
            "queue_depth",
            "Messages waiting to be sent, by channel",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "queue_oldest_age_seconds",
            "Age of the oldest waiting message, by channel",
            metrics.queue_oldest_seconds.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From queueing the message (routing its event) to delivering it",
            metrics.latency.clone(),
        );
        registry.register(
            "routing_latency_seconds",
            "From accepting an event to committing its routed messages",
            metrics.routing_latency.clone(),
        );
        registry.register("rule_matches", "Changes each rule matched", metrics.rule_matches.clone());
        registry.register(
            "template_errors",
            "Messages a template failed to render",
            metrics.template_errors.clone(),
        );
        registry.register("config_reloads", "Config reloads by outcome", metrics.reloads.clone());
        registry.register(
            "digest_items_waiting",
            "Changes collected for a digest channel's next summary",
            metrics.digest_items.clone(),
        );
        registry.register("digests_sent", "Digests delivered, by channel", metrics.digests_sent.clone());
        registry.register(
            "digests_late",
            "Digests delivered late (due while the bridge was not running), by channel",
            metrics.digests_late.clone(),
        );
        Metrics { registry, ..metrics }
    }
}

/// Every `outcome` of `events_received`.
const EVENT_OUTCOMES: &[&str] = &[
    "method_not_allowed",
    "accepted",
    "duplicate",
    "ignored",
    "ping",
    "bad_signature",
    "bad_request",
    "too_large",
    "timeout",
    "unsupported_media_type",
    "store_unavailable",
    "busy",
];
const MESSAGE_OUTCOMES: &[&str] = &["delivered", "retried", "rate_limited", "dead"];

impl Metrics {
    /// Creates the zero series for every source, channel and rule of `bridge`,
    /// so dashboards and `rate()` see them before the first event.
    pub fn prime(&self, bridge: &crate::Bridge) {
        for source in bridge.config.sources.keys() {
            for outcome in EVENT_OUTCOMES {
                let _ = self.events.get_or_create(&EventLabels { source: source.clone(), outcome });
            }
        }
        for channel in bridge.config.channels.keys() {
            for outcome in MESSAGE_OUTCOMES {
                let _ = self.messages.get_or_create(&MessageLabels { channel: channel.clone(), outcome });
            }
            let _ = self.latency.get_or_create(&ChannelLabels { channel: channel.clone() });
        }
        for channel in bridge.schedules.keys() {
            let labels = ChannelLabels { channel: channel.clone() };
            let _ = self.digests_sent.get_or_create(&labels);
            let _ = self.digests_late.get_or_create(&labels);
            self.digest_items.get_or_create(&labels).set(0);
        }
        for rule in &bridge.rules {
            let _ = self.rule_matches.get_or_create(&RuleLabels { rule: rule.name.clone() });
        }
        for outcome in ["success", "failure"] {
            let _ = self.reloads.get_or_create(&OutcomeLabels { outcome });
        }
    }

    /// `outcome`: accepted, duplicate, ignored, ping, bad_signature, bad_request,
    /// too_large, timeout, unsupported_media_type, unknown_source,
    /// store_unavailable, busy.
    pub fn event(&self, source: &str, outcome: &'static str) {
        self.events.get_or_create(&EventLabels { source: source.to_owned(), outcome }).inc();
    }

    /// `outcome`: delivered, retried, rate_limited, dead.
    pub fn message(&self, channel: &str, outcome: &'static str) {
        self.messages.get_or_create(&MessageLabels { channel: channel.to_owned(), outcome }).inc();
    }

    pub fn delivered_after(&self, channel: &str, seconds: f64) {
        self.latency.get_or_create(&ChannelLabels { channel: channel.to_owned() }).observe(seconds);
    }

    pub fn queue(&self, channel: &str, depth: i64, oldest_seconds: i64) {
        let labels = ChannelLabels { channel: channel.to_owned() };
        self.queue_depth.get_or_create(&labels).set(depth);
        self.queue_oldest_seconds.get_or_create(&labels).set(oldest_seconds);
    }

    /// An event was routed this long after it was accepted.
    pub fn digest_sent(&self, channel: &str, late: bool) {
        let labels = ChannelLabels { channel: channel.to_owned() };
        self.digests_sent.get_or_create(&labels).inc();
        if late {
            self.digests_late.get_or_create(&labels).inc();
        }
    }

    /// Changes waiting in `channel`'s digest.
    pub fn digest_waiting(&self, channel: &str, items: i64) {
        self.digest_items.get_or_create(&ChannelLabels { channel: channel.to_owned() }).set(items);
    }

    pub fn routed_after(&self, seconds: f64) {
        self.routing_latency.observe(seconds);
    }

    /// A rule matched `count` changes of one event.
    pub fn rule_matched(&self, rule: &str, count: u64) {
        self.rule_matches.get_or_create(&RuleLabels { rule: rule.to_owned() }).inc_by(count);
    }

    /// A template failed to render a message for `channel`.
    pub fn template_failed(&self, template: &str, channel: &str) {
        let labels = TemplateLabels { template: template.to_owned(), channel: channel.to_owned() };
        self.template_errors.get_or_create(&labels).inc();
    }

    /// `outcome`: success or failure.
    pub fn reload(&self, outcome: &'static str) {
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The Prometheus text exposition of every family.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}
