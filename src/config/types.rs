//! The shape of `bridge.yaml`, as serde reads it. Checks that span several keys
//! live in `check.rs`; this file only says what each key may hold.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::{ConfigDuration, Secret};

pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_STORAGE: &str = "sqlite://storybridge.db";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// A body must arrive within this long (408 otherwise), so slow senders
    /// cannot hold connections open.
    #[serde(default = "default_body_timeout")]
    pub body_timeout: ConfigDuration,
    /// How long a connection may wait for its next request head, and so how
    /// long a head may take to arrive. Longer than the 60 s for which reverse
    /// proxies keep idle connections to their backends: a proxy must never
    /// send a request on a connection we are closing.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: ConfigDuration,
    /// Connections served at once on each listener; more wait to be accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Request-body bytes held at once across all requests. A request that
    /// would pass it waits for room, up to `body_timeout`, then gets 503: memory
    /// stays bounded whatever many senders do at once.
    #[serde(default = "default_max_body_bytes_in_flight")]
    pub max_body_bytes_in_flight: usize,
    /// Where events and deliveries are kept: `sqlite://FILE` (relative to the
    /// config file) or `sqlite::memory:` (tests only: nothing survives a restart).
    #[serde(default = "default_storage")]
    pub storage: String,
    /// How long a message keeps being retried after 5xx answers and timeouts.
    #[serde(default = "default_max_age")]
    pub max_age: ConfigDuration,
    /// How long delivered messages (and their events) are kept.
    #[serde(default = "default_retention")]
    pub retention: ConfigDuration,
    /// Enables the admin API (`Authorization: Bearer <token>`); without it the
    /// API's routes answer 404.
    #[serde(default)]
    pub admin_token: Option<Secret>,
    /// Serve the admin API on this address instead of `listen`, to keep it off
    /// the public interface.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Directory whose `*.hbs` files override the embedded templates by name,
    /// relative to the config file.
    #[serde(default)]
    pub templates: Option<PathBuf>,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Names for ids, by entity type: `names: { workflow-state: { 500000010: "Ready for Deploy" } }`.
    #[serde(default)]
    pub names: BTreeMap<String, BTreeMap<String, String>>,
    /// Tracker members by id (Shortcut UUID, Pivotal person id) or e-mail.
    #[serde(default)]
    pub people: BTreeMap<String, PersonConfig>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

fn default_max_connections() -> usize {
    512
}

fn default_max_body_bytes_in_flight() -> usize {
    16 * 1024 * 1024
}

fn default_idle_timeout() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(75))
}

fn default_body_timeout() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(10))
}

fn default_storage() -> String {
    DEFAULT_STORAGE.into()
}

fn default_max_age() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(24 * 3600))
}

fn default_retention() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(7 * 24 * 3600))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    Shortcut(ShortcutSource),
    Pivotal(PivotalSource),
    Github(SignedSource),
    Gitlab(GitlabSource),
    Linear(SignedSource),
    Jira(SignedSource),
    Generic(Box<GenericSource>),
}

impl SourceConfig {
    /// How long the router waits for this source's tracker API.
    pub fn api_timeout(&self) -> std::time::Duration {
        match self {
            SourceConfig::Shortcut(shortcut) => shortcut.api_timeout.0,
            _ => default_api_timeout().0,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Shortcut(_) => "shortcut",
            SourceConfig::Pivotal(_) => "pivotal",
            SourceConfig::Github(_) => "github",
            SourceConfig::Gitlab(_) => "gitlab",
            SourceConfig::Linear(_) => "linear",
            SourceConfig::Jira(_) => "jira",
            SourceConfig::Generic(_) => "generic",
        }
    }
}

/// A tracker that signs its body with HMAC-SHA256 in a header of its own
/// (GitHub, Linear, Jira): all the bridge needs is the secrets.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedSource {
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// GitLab cannot sign: it sends the webhook's secret token as is, in
/// `X-Gitlab-Token`. Several tokens may be valid at once, for rotation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabSource {
    #[serde(default)]
    pub token: Option<Secret>,
    /// More tokens accepted beside `token` (the previous one, while rotating).
    #[serde(default)]
    pub tokens: Vec<Secret>,
    #[serde(default)]
    pub allow_unsigned: bool,
}

impl GitlabSource {
    pub fn all_tokens(&self) -> impl Iterator<Item = &Secret> {
        self.token.iter().chain(&self.tokens)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortcutSource {
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub allow_unsigned: bool,
    /// A Shortcut API token: names the payload does not carry (members,
    /// workflow states, labels, epics…) are then looked up, and cached.
    #[serde(default)]
    pub api_token: Option<Secret>,
    /// The REST API's base URL; tests point it at a local fake.
    #[serde(default = "default_shortcut_api")]
    pub api_url: String,
    /// How long looked-up names are trusted before being fetched again.
    #[serde(default = "default_api_cache_ttl")]
    pub api_cache_ttl: ConfigDuration,
    /// How long the router waits for the API before routing an event with the
    /// names it has (the look-up goes on and fills the cache).
    #[serde(default = "default_api_timeout")]
    pub api_timeout: ConfigDuration,
}

impl Default for ShortcutSource {
    fn default() -> Self {
        ShortcutSource {
            secrets: Vec::new(),
            allow_unsigned: false,
            api_token: None,
            api_url: default_shortcut_api(),
            api_cache_ttl: default_api_cache_ttl(),
            api_timeout: default_api_timeout(),
        }
    }
}

fn default_shortcut_api() -> String {
    "https://api.app.shortcut.com/api/v3".into()
}

fn default_api_timeout() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(5))
}

fn default_api_cache_ttl() -> ConfigDuration {
    ConfigDuration(std::time::Duration::from_secs(600))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PivotalSource {
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub allow_unsigned: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericSource {
    #[serde(default)]
    pub signature: Option<SignatureConfig>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Where the event type lives (`{ header: X-GitHub-Event }` or `{ pointer: /type }`).
    #[serde(default)]
    pub event_type: Option<Locator>,
    /// Where the event's unique id lives; without it the id is a hash of the body.
    #[serde(default)]
    pub event_id: Option<Locator>,
    #[serde(default)]
    pub fields: GenericFields,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureConfig {
    pub header: String,
    #[serde(default)]
    pub prefix: Option<String>,
}

/// A header name or a JSON pointer; `check` makes sure exactly one is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locator {
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub pointer: Option<String>,
}

/// JSON pointers that say where a generic payload keeps each part of a change.
/// Unset ones fall back to common spellings (see `normalize::generic`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericFields {
    pub entity_type: Option<Pointers>,
    pub action: Option<Pointers>,
    pub id: Option<Pointers>,
    pub name: Option<Pointers>,
    pub url: Option<Pointers>,
    pub actor: Option<Pointers>,
}

/// One JSON pointer, or a list tried in order (`[/issue/title, /pull_request/title]`):
/// the first that finds a value wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointers(pub Vec<String>);

impl<'de> Deserialize<'de> for Pointers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected a JSON pointer or a list of them"))?
        {
            OneOrMany::One(one) => Ok(Pointers(vec![one])),
            OneOrMany::Many(many) if many.is_empty() => {
                Err(serde::de::Error::custom("an empty list: give at least one JSON pointer"))
            }
            OneOrMany::Many(many) => Ok(Pointers(many)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Slack,
    Discord,
    Console,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Console => "console",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `kind:` as written: `slack-bot` is Slack (every layout and limit is
/// Slack's) posted through the Web API with a bot token instead of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ChannelKindName {
    Slack,
    SlackBot,
    Discord,
    Console,
}

/// A channel as `bridge.yaml` spells it; [`ChannelConfig`] is what it means.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannelConfig {
    kind: ChannelKindName,
    #[serde(default)]
    url: Option<Secret>,
    #[serde(default)]
    token: Option<Secret>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    api_url: Option<String>,
    #[serde(default)]
    thread: Option<ThreadMode>,
    #[serde(default)]
    update: Option<UpdateMode>,
    #[serde(default)]
    forum: bool,
    #[serde(default)]
    broadcast: Vec<String>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    thread_template: Option<String>,
    #[serde(default)]
    card_template: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
    #[serde(default)]
    mentions: bool,
    #[serde(default)]
    rate_limit: Option<RateLimitConfig>,
    #[serde(default)]
    coalesce: Option<ConfigDuration>,
    #[serde(default)]
    digest: Option<DigestConfig>,
}

/// `digest:` on a channel: the changes routed to it are collected and sent as
/// one summary on a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// A local time of day, `"09:30"`.
    #[serde(default)]
    pub at: Option<String>,
    /// Or every so long from local midnight (`4h`).
    #[serde(default)]
    pub every: Option<ConfigDuration>,
    /// The days it is sent on; every day when empty.
    #[serde(default)]
    pub days: Vec<DigestDay>,
    /// An IANA name (`Europe/Berlin`); UTC when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The template that draws it (default `digest`).
    #[serde(default)]
    pub template: Option<String>,
    /// A period in which nothing was collected sends nothing (default), or
    /// (`false`) a digest that says so.
    #[serde(default = "skip_empty_default")]
    pub skip_empty: bool,
}

fn skip_empty_default() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestDay {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// A Slack bot: `chat.postMessage` with `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct SlackBotConfig {
    /// `xoxb-…`; `check` makes sure it is there.
    pub token: Option<Secret>,
    /// A channel id (`C0123456789`) or `#name`.
    pub channel: Option<String>,
    /// The Web API's base URL; tests point it at a fake.
    pub api_url: String,
}

pub const DEFAULT_SLACK_API: &str = "https://slack.com/api";

impl ChannelConfig {
    /// Whether a story's messages are grouped: threaded under its first, or
    /// that first one edited in place.
    pub fn by_story(&self) -> bool {
        self.thread.is_some() || self.update.is_some()
    }
}

/// Whether a channel edits a story's message instead of posting new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateMode {
    /// The story's first message is edited to show its latest change.
    InPlace,
}

/// How a channel groups a story's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreadMode {
    /// The first message about a story is the root; later ones reply under it.
    PerStory,
}

impl From<RawChannelConfig> for ChannelConfig {
    fn from(raw: RawChannelConfig) -> Self {
        let kind = match raw.kind {
            ChannelKindName::Slack | ChannelKindName::SlackBot => ChannelKind::Slack,
            ChannelKindName::Discord => ChannelKind::Discord,
            ChannelKindName::Console => ChannelKind::Console,
        };
        let bot = (raw.kind == ChannelKindName::SlackBot).then(|| SlackBotConfig {
            token: raw.token.clone(),
            channel: raw.channel.clone(),
            api_url: raw.api_url.clone().unwrap_or_else(|| DEFAULT_SLACK_API.into()),
        });
        ChannelConfig {
            kind,
            // Keys only a bot takes, given to another kind: `check` names them.
            stray_bot_keys: match bot {
                Some(_) => Vec::new(),
                None => [
                    ("token", raw.token.is_some()),
                    ("channel", raw.channel.is_some()),
                    ("api_url", raw.api_url.is_some()),
                ]
                .into_iter()
                .filter(|(_, set)| *set)
                .map(|(key, _)| key)
                .collect(),
            },
            bot,
            thread: raw.thread,
            update: raw.update,
            forum: raw.forum,
            broadcast: raw.broadcast,
            url: raw.url,
            template: raw.template,
            thread_template: raw.thread_template,
            card_template: raw.card_template,
            username: raw.username,
            avatar_url: raw.avatar_url,
            mentions: raw.mentions,
            rate_limit: raw.rate_limit,
            coalesce: raw.coalesce,
            digest: raw.digest,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(from = "RawChannelConfig")]
pub struct ChannelConfig {
    /// The platform: layouts, escaping and limits follow it.
    pub kind: ChannelKind,
    /// `kind: slack-bot`: posted through the Web API instead of a webhook.
    pub bot: Option<SlackBotConfig>,
    /// `token`, `channel`, `api_url` given to a channel that is not a bot.
    pub stray_bot_keys: Vec<&'static str>,
    /// `thread: per-story`: a story's later messages reply under its first.
    pub thread: Option<ThreadMode>,
    /// `update: in-place`: a story's first message is a card, edited as it changes.
    pub update: Option<UpdateMode>,
    /// Discord only: the webhook is a forum (or media) channel's, where a
    /// message can open a post (a thread) of its own.
    pub forum: bool,
    /// Slack bot threads: replies that change one of these fields are also
    /// shown in the channel (`reply_broadcast`).
    pub broadcast: Vec<String>,
    /// The incoming-webhook URL. It carries the credential, so it is a secret.
    pub url: Option<Secret>,
    pub template: Option<String>,
    /// The template a story's replies in its thread are drawn with.
    pub thread_template: Option<String>,
    /// The template a story's live card is drawn with.
    pub card_template: Option<String>,
    /// Discord only: overrides the webhook's display name.
    pub username: Option<String>,
    /// Discord only: overrides the webhook's avatar.
    pub avatar_url: Option<String>,
    /// Let rendered messages mention users (Discord `allowed_mentions`). Off by default.
    pub mentions: bool,
    /// Overrides the platform's default pace (Slack 1/s, burst 3; Discord 5 per 2 s
    /// and 30 a minute).
    pub rate_limit: Option<RateLimitConfig>,
    /// Changes to one entity within this window become one message.
    pub coalesce: Option<ConfigDuration>,
    /// The channel collects what is routed to it and sends one summary on a schedule.
    pub digest: Option<DigestConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub per_second: f64,
    #[serde(default = "default_burst")]
    pub burst: u32,
}

fn default_burst() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    #[serde(default)]
    pub when: WhenConfig,
    pub send: Vec<String>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub stop: bool,
    /// Changes to one entity within this window become one message (overrides
    /// the channel's `coalesce`).
    #[serde(default)]
    pub coalesce: Option<ConfigDuration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenConfig {
    pub source: Option<Values>,
    pub entity_type: Option<Values>,
    pub action: Option<Values>,
    pub changed: Option<Values>,
    pub from: Option<BTreeMap<String, Values>>,
    pub to: Option<BTreeMap<String, Values>>,
    pub primary: Option<bool>,
    /// Who did it: a person's tracker id, name or e-mail.
    pub actor: Option<Values>,
    /// The change added one of these people as an owner.
    pub owner_added: Option<Values>,
    pub label: Option<LabelMatcher>,
    /// The rule does not fire for changes these people (bots, say) made.
    pub ignore_actor: Option<Values>,
    pub not: Option<Box<WhenConfig>>,
}

/// Labels by name or id: on the entity, added by the change, or removed by it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelMatcher {
    pub has: Option<Values>,
    pub added: Option<Values>,
    pub removed: Option<Values>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonConfig {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Slack user id (`U…`), for real mentions on channels with `mentions: true`.
    #[serde(default)]
    pub slack: Option<String>,
    /// Discord user id (a number), likewise.
    #[serde(default)]
    pub discord: Option<String>,
}

/// One scalar or a list of scalars, kept as strings: YAML reads `500000010` as a
/// number and `Done` as a string, and a matcher compares both as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values(pub Vec<String>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scalar {
            Str(String),
            Int(i64),
            Float(f64),
            Bool(bool),
        }
        impl Scalar {
            fn into_text(self) -> String {
                match self {
                    Scalar::Str(s) => s,
                    Scalar::Int(i) => i.to_string(),
                    Scalar::Float(f) => f.to_string(),
                    Scalar::Bool(b) => b.to_string(),
                }
            }
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(Scalar),
            Many(Vec<Scalar>),
        }
        let values = match OneOrMany::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected a value or a list of values"))?
        {
            OneOrMany::One(one) => vec![one.into_text()],
            OneOrMany::Many(many) => many.into_iter().map(Scalar::into_text).collect(),
        };
        Ok(Values(values))
    }
}
