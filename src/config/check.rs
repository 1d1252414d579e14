//! Checks that span keys: a rule's channels exist, every source can authenticate,
//! URLs parse. Template names are checked where templates load (`render`).

use std::collections::BTreeSet;
use std::time::Duration;

use super::error::ConfigError;
use super::{ChannelConfig, ChannelKind, Config, ConfigDuration, Locator, Secret, SourceConfig, WhenConfig};

pub(super) fn check(config: &Config, file: &str) -> Vec<ConfigError> {
    let mut problems = Problems { file, found: Vec::new() };
    // An empty file (or `{}`, or comments only) would otherwise load as a
    // bridge that answers every webhook 404 and has no admin API.
    if config.sources.is_empty() {
        problems.add("sources", "none configured: every webhook would be answered 404 (an empty or comments-only file configures nothing)");
    }
    if config.channels.is_empty() {
        problems.add("channels", "none configured: no message could be sent anywhere");
    }
    for (name, source) in &config.sources {
        check_source(&mut problems, name, source);
    }
    for (name, channel) in &config.channels {
        check_channel(&mut problems, name, channel);
    }
    check_rules(&mut problems, config);
    if let Err(problem) = crate::store::check_storage(&config.storage) {
        problems.add("storage", problem);
    }
    if config.admin_token.as_ref().is_some_and(|token| token.expose().len() < 16) {
        problems.add("admin_token", "must be at least 16 characters (try `openssl rand -hex 32`)");
    }
    if config.admin_listen.is_some() && config.admin_token.is_none() {
        problems.add("admin_listen", "set admin_token too: without it the admin API is off");
    }
    // Each duration within what someone could mean: the store's arithmetic on
    // milliseconds never overflows, and a typo's extra digits are caught.
    within(&mut problems, "max_age", config.max_age, Range::MAX_AGE);
    within(&mut problems, "retention", config.retention, Range::RETENTION);
    within(&mut problems, "body_timeout", config.body_timeout, Range::TIMEOUT);
    within(&mut problems, "idle_timeout", config.idle_timeout, Range::TIMEOUT);
    if config.max_body_bytes == 0 {
        problems.add("max_body_bytes", "must be greater than 0");
    }
    if config.max_body_bytes_in_flight < config.max_body_bytes {
        let message = format!(
            "must be at least max_body_bytes ({}), or a body of that size could never be read",
            config.max_body_bytes
        );
        problems.add("max_body_bytes_in_flight", message);
    }
    if config.max_connections == 0 {
        problems.add("max_connections", "must be greater than 0");
    }
    problems.found
}

/// A duration's bounds, inclusive, and how the error states them.
struct Range {
    min: Duration,
    max: Duration,
    said: &'static str,
}

impl Range {
    const MAX_AGE: Range = Range { min: secs(1), max: days(30), said: "1s and 30d" };
    const RETENTION: Range = Range { min: secs(60), max: days(3650), said: "1m and 3650d" };
    const TIMEOUT: Range = Range { min: Duration::from_millis(100), max: secs(3600), said: "100ms and 1h" };
    const API_TIMEOUT: Range = Range { min: Duration::from_millis(10), max: secs(60), said: "10ms and 60s" };
    const CACHE_TTL: Range = Range { min: secs(1), max: days(30), said: "1s and 30d" };
    const COALESCE: Range = Range { min: Duration::from_millis(100), max: days(1), said: "100ms and 1d" };
}

const fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

const fn days(days: u64) -> Duration {
    Duration::from_secs(days * 86_400)
}

fn within(problems: &mut Problems, path: &str, value: ConfigDuration, range: Range) {
    if value.0 < range.min || value.0 > range.max {
        problems.add(path, format!("must be between {}", range.said));
    }
}

struct Problems<'a> {
    file: &'a str,
    found: Vec<ConfigError>,
}

impl Problems<'_> {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.found.push(ConfigError { file: self.file.into(), path: path.into(), message: message.into() });
    }
}

fn check_source(problems: &mut Problems, name: &str, source: &SourceConfig) {
    let path = format!("sources.{name}");
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        problems.add(
            &path,
            "a source name may hold only letters, digits, `-` and `_` (it is part of the URL /hooks/<name>)",
        );
    }
    if name == crate::store::BRIDGE_SOURCE {
        problems.add(
            &path,
            "`storybridge` is the bridge's own name for the events it makes (digests): pick another",
        );
    }
    match source {
        SourceConfig::Shortcut(shortcut) => {
            check_secrets(problems, &path, &shortcut.secrets, shortcut.allow_unsigned);
            match url::Url::parse(&shortcut.api_url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => problems.add(format!("{path}.api_url"), "is not an http(s) URL"),
            }
            within(problems, &format!("{path}.api_timeout"), shortcut.api_timeout, Range::API_TIMEOUT);
            within(problems, &format!("{path}.api_cache_ttl"), shortcut.api_cache_ttl, Range::CACHE_TTL);
        }
        SourceConfig::Pivotal(pivotal) => match &pivotal.token {
            Some(token) if token.is_empty() => {
                problems.add(format!("{path}.token"), "is empty (is its environment variable set to an empty value?)");
            }
            None if !pivotal.allow_unsigned => problems.add(
                format!("{path}.token"),
                "missing: Pivotal cannot sign its webhooks, so requests must carry ?token=<token> (or set allow_unsigned: true)",
            ),
            _ => {}
        },
        SourceConfig::Github(signed) | SourceConfig::Linear(signed) | SourceConfig::Jira(signed) => {
            check_secrets(problems, &path, &signed.secrets, signed.allow_unsigned);
        }
        SourceConfig::Gitlab(gitlab) => {
            if gitlab.all_tokens().next().is_none() && !gitlab.allow_unsigned {
                problems.add(
                    format!("{path}.token"),
                    "missing: give the secret token set on the GitLab webhook (GitLab sends it as X-Gitlab-Token), or set allow_unsigned: true",
                );
            }
            if gitlab.token.as_ref().is_some_and(Secret::is_empty) {
                problems.add(format!("{path}.token"), "is empty (is its environment variable set to an empty value?)");
            }
            for (index, token) in gitlab.tokens.iter().enumerate() {
                if token.is_empty() {
                    problems.add(
                        format!("{path}.tokens[{index}]"),
                        "is empty (is its environment variable set to an empty value?)",
                    );
                }
            }
        }
        SourceConfig::Generic(generic) => {
            match &generic.signature {
                Some(signature) if signature.header.trim().is_empty() => {
                    problems.add(format!("{path}.signature.header"), "must name a header");
                }
                None if !generic.allow_unsigned => problems.add(
                    format!("{path}.signature"),
                    "missing: say which header carries the HMAC, e.g. { header: X-Hub-Signature-256, prefix: \"sha256=\" } (or set allow_unsigned: true)",
                ),
                _ => {}
            }
            if generic.signature.is_some() {
                check_secrets(problems, &path, &generic.secrets, false);
            }
            check_locator(problems, &format!("{path}.event_type"), generic.event_type.as_ref());
            check_locator(problems, &format!("{path}.event_id"), generic.event_id.as_ref());
            let fields = &generic.fields;
            for (key, pointer) in [
                ("entity_type", &fields.entity_type),
                ("action", &fields.action),
                ("id", &fields.id),
                ("name", &fields.name),
                ("url", &fields.url),
                ("actor", &fields.actor),
            ] {
                match pointer.as_ref().map(|pointers| pointers.0.as_slice()) {
                    Some([one]) => check_pointer(problems, &format!("{path}.fields.{key}"), one),
                    Some(many) => {
                        for (index, pointer) in many.iter().enumerate() {
                            check_pointer(problems, &format!("{path}.fields.{key}[{index}]"), pointer);
                        }
                    }
                    None => {}
                }
            }
        }
    }
}

fn check_secrets(problems: &mut Problems, path: &str, secrets: &[Secret], allow_unsigned: bool) {
    if secrets.is_empty() && !allow_unsigned {
        problems.add(
            format!("{path}.secrets"),
            "missing: give at least one secret to verify signatures with (or set allow_unsigned: true)",
        );
    }
    for (index, secret) in secrets.iter().enumerate() {
        if secret.is_empty() {
            problems.add(
                format!("{path}.secrets[{index}]"),
                "is empty (is its environment variable set to an empty value?)",
            );
        }
    }
}

fn check_locator(problems: &mut Problems, path: &str, locator: Option<&Locator>) {
    match locator {
        Some(Locator { header: Some(_), pointer: Some(_) })
        | Some(Locator { header: None, pointer: None }) => {
            problems.add(path, "give exactly one of `header` or `pointer`");
        }
        Some(Locator { pointer: Some(pointer), .. }) => {
            check_pointer(problems, &format!("{path}.pointer"), pointer)
        }
        _ => {}
    }
}

fn check_pointer(problems: &mut Problems, path: &str, pointer: &str) {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        problems
            .add(path, format!("`{pointer}` is not a JSON pointer (they start with `/`, e.g. /story/name)"));
    }
}

fn check_channel(problems: &mut Problems, name: &str, channel: &ChannelConfig) {
    let path = format!("channels.{name}");
    if let Some(window) = channel.coalesce {
        within(problems, &format!("{path}.coalesce"), window, Range::COALESCE);
    }
    let discord = channel.kind == ChannelKind::Discord;
    if channel.update.is_some() && channel.bot.is_none() && !discord {
        problems.add(
            format!("{path}.update"),
            "editing in place needs `kind: slack-bot` or `kind: discord`: a Slack incoming webhook can neither learn nor edit the message it posted",
        );
    }
    if channel.thread.is_some() && channel.bot.is_none() {
        let why = match (discord, channel.forum) {
            (true, false) => "Discord webhooks open threads only in forum channels: point `url` at a forum channel's webhook and set `forum: true`, or use `update: in-place` to keep one message per story",
            (true, true) => "",
            _ => "threads need `kind: slack-bot` (or a Discord forum): an incoming webhook never learns the ts of the message it posted, so replies cannot find their root",
        };
        if !why.is_empty() {
            problems.add(format!("{path}.thread"), why);
        }
    }
    if !channel.broadcast.is_empty() && (channel.bot.is_none() || channel.thread.is_none()) {
        problems.add(
            format!("{path}.broadcast"),
            "broadcasting replies needs `kind: slack-bot` with `thread: per-story`",
        );
    }
    if channel.forum && !discord {
        problems.add(format!("{path}.forum"), "only Discord channels take `forum`");
    }
    if channel.forum && discord && channel.thread.is_none() {
        problems.add(
            format!("{path}.forum"),
            "every message to a forum must open or join a post: add `thread: per-story` (one post per story)",
        );
    }
    if let Some(digest) = &channel.digest {
        check_digest(problems, &path, channel, digest);
    }
    if channel.thread_template.is_some() && channel.thread.is_none() {
        problems.add(
            format!("{path}.thread_template"),
            "draws replies in a story's thread: set `thread: per-story` too",
        );
    }
    if channel.card_template.is_some() && channel.update.is_none() {
        problems
            .add(format!("{path}.card_template"), "draws a story's live card: set `update: in-place` too");
    }
    for key in &channel.stray_bot_keys {
        problems.add(format!("{path}.{key}"), format!("only `kind: slack-bot` channels take `{key}`"));
    }
    if let Some(bot) = &channel.bot {
        if channel.url.is_some() {
            problems.add(
                format!("{path}.url"),
                "a slack-bot channel posts with `token` and `channel`; `url` is for incoming webhooks (kind: slack)",
            );
        }
        match &bot.token {
            None => problems.add(
                format!("{path}.token"),
                "missing: the bot's token (xoxb-…, with the chat:write scope), from the environment: token: \"${SLACK_BOT_TOKEN}\"",
            ),
            Some(token) if token.is_empty() => {
                problems.add(format!("{path}.token"), "is empty (is its environment variable set to an empty value?)")
            }
            Some(_) => {}
        }
        match bot.channel.as_deref().map(str::trim) {
            None | Some("") => problems.add(
                format!("{path}.channel"),
                "missing: the Slack channel to post in, by id (C0123456789) or #name",
            ),
            Some(_) => {}
        }
        match url::Url::parse(&bot.api_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => problems.add(format!("{path}.api_url"), "is not an http(s) URL"),
        }
        check_common(problems, &path, channel);
        return;
    }
    match (channel.kind, &channel.url) {
        (ChannelKind::Console, Some(_)) => {
            problems.add(format!("{path}.url"), "a console channel prints to stdout and takes no url");
        }
        (ChannelKind::Slack | ChannelKind::Discord, None) => problems.add(
            format!("{path}.url"),
            format!("missing: a {} channel needs its incoming-webhook URL", channel.kind),
        ),
        (_, Some(url)) => match url::Url::parse(url.expose()) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            // The URL is a credential: the message must not quote it.
            _ => problems.add(format!("{path}.url"), "is not an http(s) URL"),
        },
        (ChannelKind::Console, None) => {}
    }
    check_common(problems, &path, channel);
}

fn check_digest(
    problems: &mut Problems,
    path: &str,
    channel: &ChannelConfig,
    digest: &crate::config::DigestConfig,
) {
    if let Err((key, message)) = crate::digest::Schedule::from_config(digest) {
        problems.add(format!("{path}.digest.{key}"), message);
    }
    for (key, set) in [
        ("thread", channel.thread.is_some()),
        ("update", channel.update.is_some()),
        ("coalesce", channel.coalesce.is_some()),
    ] {
        if set {
            problems.add(
                format!("{path}.{key}"),
                "a digest channel collects its changes into one summary per period: it does not also thread, edit cards or coalesce",
            );
        }
    }
}

/// What every kind of channel is checked for alike.
fn check_common(problems: &mut Problems, path: &str, channel: &ChannelConfig) {
    if channel.kind != ChannelKind::Discord {
        for (key, set) in
            [("username", channel.username.is_some()), ("avatar_url", channel.avatar_url.is_some())]
        {
            if set {
                problems.add(format!("{path}.{key}"), format!("only Discord channels take `{key}`"));
            }
        }
    }
    if let Some(limit) = channel.rate_limit {
        if !(limit.per_second.is_finite() && limit.per_second > 0.0) || limit.burst == 0 {
            problems.add(format!("{path}.rate_limit"), "per_second must be above 0 and burst at least 1");
        }
    }
    if let Some(username) = &channel.username {
        let lower = username.to_lowercase();
        if username.chars().count() > 80 || lower.contains("discord") || lower.contains("clyde") {
            problems.add(
                format!("{path}.username"),
                "Discord refuses webhook names over 80 characters or containing \"discord\" or \"clyde\"",
            );
        }
    }
}

fn check_rules(problems: &mut Problems, config: &Config) {
    let mut seen_names = BTreeSet::new();
    let source_names: BTreeSet<&str> =
        config.sources.iter().flat_map(|(name, source)| [name.as_str(), source.kind()]).collect();
    for (index, rule) in config.rules.iter().enumerate() {
        let path = format!("rules[{index}]");
        if rule.name.trim().is_empty() {
            problems.add(format!("{path}.name"), "must not be empty");
        } else if !seen_names.insert(rule.name.as_str()) {
            problems.add(format!("{path}.name"), format!("duplicate rule name `{}`", rule.name));
        }
        if rule.send.is_empty() {
            problems.add(format!("{path}.send"), "must list at least one channel");
        }
        if let Some(window) = rule.coalesce {
            within(problems, &format!("{path}.coalesce"), window, Range::COALESCE);
        }
        let mut sent_to = BTreeSet::new();
        for (position, channel) in rule.send.iter().enumerate() {
            let send_path = format!("{path}.send[{position}]");
            if !config.channels.contains_key(channel) {
                problems.add(
                    send_path,
                    format!("unknown channel `{channel}` (known: {})", known(config.channels.keys())),
                );
            } else if !sent_to.insert(channel.as_str()) {
                problems.add(
                    send_path,
                    format!("duplicate channel `{channel}`: a rule sends one message per channel"),
                );
            }
        }
        check_when(problems, &format!("{path}.when"), &rule.when, &source_names);
    }
}

fn check_when(problems: &mut Problems, path: &str, when: &WhenConfig, sources: &BTreeSet<&str>) {
    if let Some(wanted) = &when.source {
        for (position, source) in wanted.0.iter().enumerate() {
            if !sources.contains(source.as_str()) {
                problems.add(
                    format!("{path}.source[{position}]"),
                    format!("unknown source `{source}` (known: {})", known(sources.iter())),
                );
            }
        }
    }
    if let Some(inner) = &when.not {
        check_when(problems, &format!("{path}.not"), inner, sources);
    }
}

fn known<T: AsRef<str>>(names: impl Iterator<Item = T>) -> String {
    let names: Vec<String> = names.map(|name| name.as_ref().to_owned()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
