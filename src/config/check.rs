//! Checks that span keys: a rule's channels exist, every source can authenticate,
//! URLs parse. Template names are checked where templates load (`render`).

use std::collections::BTreeSet;

use super::error::ConfigError;
use super::{ChannelConfig, ChannelKind, Config, Locator, Secret, SourceConfig, WhenConfig};

pub(super) fn check(config: &Config, file: &str) -> Vec<ConfigError> {
    let mut problems = Problems { file, found: Vec::new() };
    for (name, source) in &config.sources {
        check_source(&mut problems, name, source);
    }
    for (name, channel) in &config.channels {
        check_channel(&mut problems, name, channel);
    }
    check_rules(&mut problems, config);
    if !config.storage.starts_with("sqlite://") && config.storage != "sqlite::memory:" {
        problems.add("storage", "expected sqlite://FILE (or sqlite::memory: for tests)");
    }
    if config.admin_token.as_ref().is_some_and(|token| token.expose().len() < 16) {
        problems.add("admin_token", "must be at least 16 characters (try `openssl rand -hex 32`)");
    }
    if config.admin_listen.is_some() && config.admin_token.is_none() {
        problems.add("admin_listen", "set admin_token too: without it the admin API is off");
    }
    if config.max_age.0.is_zero() {
        problems.add("max_age", "must be longer than 0s");
    }
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
    if config.idle_timeout.0.is_zero() {
        problems.add("idle_timeout", "must be longer than 0s");
    }
    if config.max_connections == 0 {
        problems.add("max_connections", "must be greater than 0");
    }
    problems.found
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
    match source {
        SourceConfig::Shortcut(shortcut) => {
            check_secrets(problems, &path, &shortcut.secrets, shortcut.allow_unsigned);
            match url::Url::parse(&shortcut.api_url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => problems.add(format!("{path}.api_url"), "is not an http(s) URL"),
            }
            let timeout = shortcut.api_timeout.0;
            if timeout < std::time::Duration::from_millis(10) || timeout > std::time::Duration::from_secs(60) {
                problems.add(format!("{path}.api_timeout"), "must be between 10ms and 60s");
            }
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
                if let Some(pointer) = pointer {
                    check_pointer(problems, &format!("{path}.fields.{key}"), pointer);
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
