//! The compiled config: `bridge.yaml` and the template files, loaded and
//! checked as a whole, with everything compiled that routing needs (rules,
//! templates, the names directory). Immutable: a reload builds a new one.

use crate::config::{ChannelKind, Config, ConfigError, ConfigErrors, ConfigOrigin};
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
}

impl Bridge {
    /// Compiles `config`, checking what spans config and template files.
    pub fn build(config: Config, origin: ConfigOrigin) -> Result<Bridge, ConfigErrors> {
        let directory = config.templates.as_ref().map(|dir| origin.base_dir.join(dir));
        let templates = Templates::load(directory.as_deref(), &origin.name).map_err(ConfigErrors)?;
        let problems = check_template_names(&config, &templates, &origin.name);
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        Ok(Bridge {
            rules: config.rules.iter().map(Rule::compile).collect(),
            directory: Directory::from_config(&config),
            templates,
            config,
            origin,
        })
    }
}

impl Bridge {
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
            .chain(self.config.channels.values().filter_map(|channel| channel.template.as_deref()))
            .chain([render::DEFAULT_TEMPLATE])
            .collect();
        for template in self.templates.from_directory() {
            if !named.contains(&template) {
                warnings.push(format!("{file}: templates: `{template}` is used by no rule or channel"));
            }
        }
        warnings
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
        if let Some(template) = &channel.template {
            require(format!("channels.{name}.template"), template, channel.kind, name);
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
