//! The compiled config: `bridge.yaml` and the template files, loaded and
//! checked as a whole, with everything compiled that routing needs (rules,
//! templates, the names directory). Immutable: a reload builds a new one.

use axum::http::HeaderMap;

use crate::config::{ChannelKind, Config, ConfigError, ConfigErrors, ConfigOrigin};
use crate::normalize::{self, Normalized};
use crate::render::{self, Templates};
use crate::resolve::Directory;
use crate::rules::Rule;
use crate::server;

/// A loaded, checked configuration with everything compiled that requests need:
/// rules, templates, the names directory.
pub struct Bridge {
    pub config: Config,
    pub origin: ConfigOrigin,
    pub rules: Vec<Rule>,
    pub templates: Templates,
    pub directory: Directory,
    /// Each digest channel's schedule (checked when the config loaded).
    pub schedules: std::collections::BTreeMap<String, crate::digest::Schedule>,
}

impl Bridge {
    /// Compiles `config`, checking what spans config and template files.
    pub fn build(config: Config, origin: ConfigOrigin) -> Result<Bridge, ConfigErrors> {
        let directory = config.templates.as_ref().map(|dir| origin.base_dir.join(dir));
        let templates = Templates::load(directory.as_deref(), &origin.name).map_err(ConfigErrors)?;
        let mut problems = check_template_names(&config, &templates, &origin.name);
        if problems.is_empty() {
            problems = check_templates_render(&config, &templates, &origin.name);
        }
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        let schedules = config
            .channels
            .iter()
            .filter_map(|(name, channel)| {
                let schedule = crate::digest::Schedule::from_config(channel.digest.as_ref()?).ok()?;
                Some((name.clone(), schedule))
            })
            .collect();
        Ok(Bridge {
            schedules,
            rules: config.rules.iter().map(Rule::compile).collect(),
            directory: Directory::from_config(&config),
            templates,
            config,
            origin,
        })
    }
}

impl Bridge {
    /// Whether a channel keeps a live card per story (`update: in-place`):
    /// then the router keeps each story's state for it.
    pub fn keeps_cards(&self) -> bool {
        self.config.channels.values().any(|channel| channel.update.is_some())
    }

    /// What each listener's connections may hold. Read at start: like `listen`,
    /// a change takes effect at the next restart.
    pub fn connection_limits(&self) -> server::ConnectionLimits {
        server::ConnectionLimits {
            max_connections: self.config.max_connections,
            max_buffer_bytes: server::MAX_BUFFER_BYTES,
            head_timeout: self.config.idle_timeout.0,
        }
    }

    /// Things that are valid but probably not meant: `storybridge check` prints
    /// them as warnings. Channels no rule sends to, and templates in the
    /// `templates:` directory that no rule or channel names.
    /// This bridge with `edits` (template file name → text) over its
    /// templates, for the console's preview of an unsaved template. Nothing
    /// is written; the edits are checked as a reload would check them.
    pub fn with_template_edits(
        &self,
        edits: &std::collections::BTreeMap<String, String>,
    ) -> Result<Bridge, ConfigErrors> {
        let directory = self.config.templates.as_ref().map(|dir| self.origin.base_dir.join(dir));
        let templates =
            Templates::load_edited(directory.as_deref(), &self.origin.name, edits).map_err(ConfigErrors)?;
        Ok(Bridge {
            config: self.config.clone(),
            origin: self.origin.clone(),
            rules: self.rules.clone(),
            templates,
            directory: self.directory.clone(),
            schedules: self.schedules.clone(),
        })
    }

    pub fn lints(&self) -> Vec<String> {
        let file = &self.origin.name;
        let mut warnings = Vec::new();
        for channel in self.config.channels.keys() {
            if !self.rules.iter().any(|rule| rule.send.contains(channel)) {
                warnings.push(format!("{file}: channels.{channel}: no rule sends to this channel"));
            }
        }
        let named: Vec<&str> = self
            .rules
            .iter()
            .filter_map(|rule| rule.template.as_deref())
            .chain(self.config.channels.values().flat_map(|channel| {
                [&channel.template, &channel.thread_template, &channel.card_template]
                    .into_iter()
                    .filter_map(|template| template.as_deref())
            }))
            .chain(
                self.config
                    .channels
                    .values()
                    .filter(|channel| channel.digest.is_some())
                    .map(render::digest_template),
            )
            .chain([
                render::DEFAULT_TEMPLATE,
                render::REPLY_TEMPLATE,
                render::CARD_TEMPLATE,
                "story_card_line",
                render::DIGEST_TEMPLATE,
            ])
            .collect();
        for template in self.templates.from_directory() {
            if !named.contains(&template) {
                warnings.push(format!("{file}: templates: `{template}` is used by no rule or channel"));
            }
        }
        warnings
    }
}

/// Events of each source kind that every template in use is rendered against
/// when a config loads (start, `check`, reload): an unknown helper, a missing
/// include or a JSON template that writes invalid JSON is refused then, not
/// found on the first real event.
/// A sample: its source's config, the headers it comes with, its body.
type Sample = (&'static str, &'static [(&'static str, &'static str)], &'static str);

const SAMPLES: &[Sample] = &[
    (
        "{ kind: shortcut, allow_unsigned: true }",
        &[],
        r#"{"id": "sample", "member_id": "m1", "changed_at": "2026-01-01T00:00:00Z", "actions": [
            {"id": 1, "entity_type": "story", "action": "update", "name": "A sample story", "story_type": "feature",
             "app_url": "https://app.shortcut.com/sample/story/1",
             "changes": {"workflow_state_id": {"old": 1, "new": 2}, "owner_ids": {"adds": ["m1"]}}},
            {"id": 2, "entity_type": "story-comment", "action": "create", "text": "A sample comment", "story_id": 1}],
            "references": [{"id": 1, "entity_type": "workflow-state", "name": "To do"},
                           {"id": 2, "entity_type": "workflow-state", "name": "Done"}]}"#,
    ),
    (
        "{ kind: pivotal, allow_unsigned: true }",
        &[],
        r#"{"kind": "story_update_activity", "guid": "sample", "project_version": 1, "highlight": "accepted",
            "message": "Ada accepted this feature", "occurred_at": 1767225600000,
            "changes": [{"kind": "story", "change_type": "update", "id": 1, "name": "A sample story",
                         "story_type": "feature", "original_values": {"current_state": "delivered"},
                         "new_values": {"current_state": "accepted"}}],
            "primary_resources": [{"kind": "story", "id": 1, "name": "A sample story", "story_type": "feature"}],
            "project": {"kind": "project", "id": 2, "name": "Sample"},
            "performed_by": {"kind": "person", "id": 3, "name": "Ada", "initials": "A"}}"#,
    ),
    (
        "{ kind: generic, allow_unsigned: true }",
        &[],
        r#"{"entity_type": "issue", "action": "opened", "id": 1, "name": "A sample issue",
            "url": "https://example.com/issues/1", "actor": "ada"}"#,
    ),
    (
        "{ kind: github, allow_unsigned: true }",
        &[("x-github-event", "issues")],
        r#"{"action": "closed", "issue": {"id": 1, "number": 7, "title": "A sample issue", "state": "closed",
            "html_url": "https://github.com/sample/repo/issues/7", "labels": [], "assignees": []},
            "repository": {"id": 2, "full_name": "sample/repo"}, "sender": {"login": "ada", "type": "User"}}"#,
    ),
    (
        "{ kind: gitlab, allow_unsigned: true }",
        &[("x-gitlab-event", "Note Hook")],
        r#"{"object_kind": "note", "user": {"name": "Ada", "username": "ada"},
            "object_attributes": {"id": 1, "note": "A sample comment", "noteable_type": "Issue", "action": "create",
                                  "url": "https://gitlab.com/sample/repo/-/issues/7#note_1"},
            "issue": {"id": 2, "iid": 7, "title": "A sample issue"}}"#,
    ),
    (
        "{ kind: linear, allow_unsigned: true }",
        &[],
        r#"{"action": "update", "type": "Issue", "actor": {"id": "u1", "name": "Ada", "type": "user"},
            "data": {"id": "i1", "identifier": "ENG-7", "title": "A sample issue", "stateId": "s2",
                     "state": {"id": "s2", "name": "Done", "type": "completed"}, "labelIds": ["l1"],
                     "labels": [{"id": "l1", "name": "Bug"}]},
            "updatedFrom": {"stateId": "s1", "labelIds": []}, "url": "https://linear.app/sample/issue/ENG-7"}"#,
    ),
    (
        "{ kind: jira, allow_unsigned: true }",
        &[],
        r#"{"webhookEvent": "jira:issue_updated", "timestamp": 1767225600000,
            "user": {"accountId": "a1", "displayName": "Ada"},
            "issue": {"id": "10001", "key": "SAM-7", "self": "https://sample.atlassian.net/rest/api/2/issue/10001",
                      "fields": {"summary": "A sample issue"}},
            "changelog": {"items": [{"field": "status", "fieldId": "status", "from": "1", "fromString": "To Do",
                                     "to": "3", "toString": "Done"}]}}"#,
    ),
];

/// The sample events, by the kind of source they come from.
fn sample_events() -> impl Iterator<Item = (&'static str, Box<normalize::Event>)> {
    SAMPLES.iter().filter_map(|(source, headers, body)| {
        let source: crate::config::SourceConfig = serde_yaml::from_str(source).expect("a sample source");
        let headers: HeaderMap = headers
            .iter()
            .map(|(name, value)| {
                (axum::http::HeaderName::from_static(name), axum::http::HeaderValue::from_static(value))
            })
            .collect();
        match normalize::renormalize("sample", &source, &headers, body.as_bytes().to_vec().into()) {
            Ok(Normalized::Event(event)) => Some((source.kind(), event)),
            _ => None,
        }
    })
}

/// Every template a rule will render, rendered for its channels' platforms
/// against the sample events of the source kinds this config has: the
/// message's, and on channels that draw a story's messages at send time, its
/// replies' and its card's.
fn check_templates_render(config: &Config, templates: &Templates, file: &str) -> Vec<ConfigError> {
    let kinds: std::collections::BTreeSet<&str> =
        config.sources.values().map(|source| source.kind()).collect();
    let directory = Directory::from_config(config);
    let events: Vec<(&str, Box<normalize::Event>)> =
        sample_events().filter(|(kind, _)| kinds.contains(kind)).collect();
    let mut problems = Vec::new();
    let mut tried = std::collections::BTreeSet::new();
    for (index, rule) in config.rules.iter().enumerate() {
        for channel_name in &rule.send {
            let Some(channel) = config.channels.get(channel_name) else { continue };
            let (template, path) = match (&rule.template, &channel.template) {
                (Some(template), _) => (template.as_str(), format!("rules[{index}].template")),
                (None, Some(template)) => (template.as_str(), format!("channels.{channel_name}.template")),
                (None, None) => (render::DEFAULT_TEMPLATE, "templates".to_owned()),
            };
            let mut uses = vec![(template, path, false)];
            if channel.thread.is_some() {
                let path = match channel.thread_template {
                    Some(_) => format!("channels.{channel_name}.thread_template"),
                    None => "templates".to_owned(),
                };
                uses.push((render::reply_template(channel, template), path, false));
            }
            if channel.update.is_some() {
                let path = match channel.card_template {
                    Some(_) => format!("channels.{channel_name}.card_template"),
                    None => "templates".to_owned(),
                };
                uses.push((render::card_template(channel), path, true));
            }
            for (template, path, card) in uses {
                if !tried.insert((template, channel.kind, card)) {
                    continue;
                }
                for (kind, event) in &events {
                    let sample = SampleRender { templates, directory: &directory, event, channel_name, card };
                    if let Err(error) = sample.render(template, channel.kind) {
                        let message = format!(
                            "fails on a sample {kind} event for {} channel `{channel_name}`: {error}",
                            channel.kind
                        );
                        problems.push(ConfigError { file: file.into(), path: path.clone(), message });
                        break;
                    }
                }
            }
        }
    }
    for (name, channel) in &config.channels {
        if let Some(problem) = check_digest_renders(templates, &directory, &events, name, channel) {
            problems.push(ConfigError {
                file: file.into(),
                path: format!("channels.{name}.digest.template"),
                message: problem,
            });
        }
    }
    problems
}

/// A digest channel's template, drawn for a digest of every sample event's
/// changes, and for an empty one.
fn check_digest_renders(
    templates: &Templates,
    directory: &Directory,
    events: &[(&str, Box<normalize::Event>)],
    channel_name: &str,
    channel: &crate::config::ChannelConfig,
) -> Option<String> {
    let digest = channel.digest.as_ref()?;
    let schedule = crate::digest::Schedule::from_config(digest).ok()?;
    let template = render::digest_template(channel);
    let mut parts = Vec::new();
    for (_, event) in events {
        let names = crate::resolve::resolve(event, directory);
        let facts = render::EventFacts::of(event);
        for change in &event.changes {
            let subject = render::Subject {
                event,
                event_facts: &facts,
                change,
                names: &names,
                rule: "sample",
                channel: channel_name,
                mentions: false,
                platform: channel.kind,
                wanted: templates.wanted(),
            };
            parts.push(render::context(&subject));
        }
    }
    let due = schedule.next_after(0);
    let period = crate::digest::summary::Period { start: None, end: due, late: false };
    for parts in [&parts[..], &[]] {
        let summary = crate::digest::summary::summarize(parts);
        let context = summary.context(summary.stories(), channel_name, &schedule, period);
        if let Err(error) = templates.render(template, channel.kind, &render::RenderContext::from(context)) {
            return Some(format!(
                "fails on a sample digest for {} channel `{channel_name}`: {error}",
                channel.kind
            ));
        }
    }
    None
}

/// One sample event, to render a template against: as a message about each
/// of its changes, or (`card`) as the card of the story it leaves behind.
struct SampleRender<'a> {
    templates: &'a Templates,
    directory: &'a Directory,
    event: &'a normalize::Event,
    channel_name: &'a str,
    card: bool,
}

impl SampleRender<'_> {
    fn render(&self, template: &str, platform: ChannelKind) -> Result<(), render::RenderError> {
        let event = self.event;
        let names = crate::resolve::resolve(event, self.directory);
        let facts = render::EventFacts::of(event);
        let mut story = render::StoryState::default();
        let mut recent = Vec::new();
        for change in &event.changes {
            let subject = render::Subject {
                event,
                event_facts: &facts,
                change,
                names: &names,
                rule: "sample",
                channel: self.channel_name,
                mentions: false,
                platform,
                wanted: self.templates.wanted(),
            };
            let context = render::context(&subject);
            if self.card {
                story.fold(event, change, &names);
                recent.insert(0, context);
                continue;
            }
            self.templates.render(template, platform, &render::RenderContext::from(context))?;
        }
        if self.card {
            let latest = recent.first().cloned().unwrap_or_default();
            let context = render::card_context(&story, latest, recent);
            self.templates.render(template, platform, &render::RenderContext::from(context))?;
        }
        Ok(())
    }
}

/// A named template must exist for every platform it will render for.
fn check_template_names(config: &Config, templates: &Templates, file: &str) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    let mut require = |path: String, name: &str, kind: ChannelKind, channel: &str| {
        if !templates.has(name, kind) {
            let known: Vec<&str> = templates.names().collect();
            problems.push(ConfigError {
                file: file.into(),
                path,
                message: format!(
                    "unknown template `{name}` for {kind} channel `{channel}` (known: {})",
                    known.join(", ")
                ),
            });
        }
    };
    for (name, channel) in &config.channels {
        for (key, template) in [
            ("template", &channel.template),
            ("thread_template", &channel.thread_template),
            ("card_template", &channel.card_template),
        ] {
            if let Some(template) = template {
                require(format!("channels.{name}.{key}"), template, channel.kind, name);
            }
        }
        if let Some(digest) = &channel.digest {
            let template = digest.template.as_deref().unwrap_or(render::DIGEST_TEMPLATE);
            require(format!("channels.{name}.digest.template"), template, channel.kind, name);
        }
    }
    for (index, rule) in config.rules.iter().enumerate() {
        let Some(template) = &rule.template else { continue };
        for channel_name in &rule.send {
            if let Some(channel) = config.channels.get(channel_name) {
                require(format!("rules[{index}].template"), template, channel.kind, channel_name);
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn check_warns_of_unused_channels_and_templates() {
        let dir = std::env::temp_dir().join(format!("storybridge-lints-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(dir.join("templates/deploy.hbs"), "{{name}}").unwrap();
        std::fs::write(dir.join("templates/orphan.slack.hbs"), "{{name}}").unwrap();
        let yaml = "templates: templates\nsources:\n  s: { kind: shortcut, allow_unsigned: true }\n\
                    channels:\n  a: { kind: console }\n  idle: { kind: console }\n\
                    rules:\n  - { name: r, send: [a], template: deploy }\n";
        let origin = ConfigOrigin { name: "bridge.yaml".into(), base_dir: dir };
        let bridge = Bridge::build(config::load_str(yaml, &origin, &|_| None).unwrap(), origin).unwrap();
        assert_eq!(
            bridge.lints(),
            [
                "bridge.yaml: channels.idle: no rule sends to this channel",
                "bridge.yaml: templates: `orphan` is used by no rule or channel",
            ]
        );
    }
}

#[cfg(test)]
mod sample_tests {
    use super::*;

    fn build(template: &str) -> Result<Bridge, ConfigErrors> {
        let dir = std::env::temp_dir().join(format!(
            "storybridge-samples-{}-{}",
            std::process::id(),
            template.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("card.hbs"), template).unwrap();
        std::fs::write(dir.join("card.discord.json.hbs"), r#"{"content": "{{name}}"}"#).unwrap();
        let yaml = "templates: \".\"\nsources:\n  s: { kind: shortcut, allow_unsigned: true }\n  p: { kind: pivotal, allow_unsigned: true }\n\
                    channels:\n  out: { kind: console }\n  chat: { kind: discord, url: \"https://discord.com/api/webhooks/1/x\" }\n\
                    rules:\n  - { name: r, when: {}, send: [out, chat], template: card }\n";
        let origin = ConfigOrigin { name: "bridge.yaml".into(), base_dir: dir };
        Bridge::build(crate::config::load_str(yaml, &origin, &|_| None).unwrap(), origin)
    }

    #[test]
    fn every_sample_event_normalizes() {
        let kinds: Vec<&str> = sample_events().map(|(kind, _)| kind).collect();
        assert_eq!(kinds, ["shortcut", "pivotal", "generic", "github", "gitlab", "linear", "jira"]);
    }

    #[test]
    fn a_template_that_fails_on_a_sample_event_is_refused_when_the_config_loads() {
        assert!(build("{{name}} moved").is_ok());
        let Err(errors) = build("{{nope name}}") else { panic!("built") };
        let message = errors.to_string();
        assert!(
            message.starts_with("bridge.yaml: rules[0].template: fails on a sample shortcut event for console channel `out`: template `card`"),
            "{message}"
        );
        assert!(message.contains("nope"), "{message}");
        let Err(errors) = build("{{include \"missing\"}}") else { panic!("built") };
        assert!(errors.to_string().contains("missing"), "{errors}");
    }
}

#[cfg(test)]
mod story_template_tests {
    use super::*;

    fn build(channel: &str, files: &[(&str, &str)]) -> Result<Bridge, ConfigErrors> {
        let dir = std::env::temp_dir().join(format!(
            "storybridge-story-templates-{}-{}",
            std::process::id(),
            channel.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let yaml = format!(
            "templates: \".\"\nsources:\n  s: {{ kind: shortcut, allow_unsigned: true }}\n\
             channels:\n  team: {channel}\nrules:\n  - {{ name: r, send: [team] }}\n"
        );
        let origin = ConfigOrigin { name: "bridge.yaml".into(), base_dir: dir };
        Bridge::build(crate::config::load_str(&yaml, &origin, &|_| None).unwrap(), origin)
    }

    const BOT: &str = "{ kind: slack-bot, token: t, channel: C1, update: in-place, thread: per-story";

    #[test]
    fn the_default_reply_and_card_render_on_every_sample() {
        assert!(build(&format!("{BOT} }}"), &[]).is_ok());
        let forum = "{ kind: discord, url: \"https://discord.com/api/webhooks/1/x\", forum: true, thread: per-story, update: in-place }";
        assert!(build(forum, &[]).is_ok());
    }

    #[test]
    fn a_card_or_reply_template_that_is_missing_or_fails_is_refused_at_its_key() {
        let Err(missing) = build(&format!("{BOT}, card_template: mine }}"), &[]) else { panic!("built") };
        assert!(
            missing.to_string().starts_with(
                "bridge.yaml: channels.team.card_template: unknown template `mine` for slack channel `team`"
            ),
            "{missing}"
        );
        let Err(failing) =
            build(&format!("{BOT}, thread_template: short }}"), &[("short.hbs", "{{nope story.name}}")])
        else {
            panic!("built")
        };
        assert!(
            failing
                .to_string()
                .starts_with("bridge.yaml: channels.team.thread_template: fails on a sample shortcut event"),
            "{failing}"
        );
        let Err(card) = build(
            &format!("{BOT}, card_template: mine }}"),
            &[("mine.hbs", "{{#each story.facts}}{{nope this}}{{/each}}")],
        ) else {
            panic!("built")
        };
        assert!(card.to_string().contains("channels.team.card_template: fails"), "{card}");
    }
}
