//! Messages from templates: handlebars, with escaping and markup per platform.
//! `render` does no I/O; templates are read and compiled once, at load.

mod catalog;
mod context;
pub(crate) mod escape;
mod helpers;
mod includes;
mod story;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use handlebars::Handlebars;
use serde_json::{Map, Value};

pub use context::{context, merge_burst, EventFacts, Subject, Wanted};
pub use story::{card_context, Named, StoryState, RECENT};

use crate::config::{ChannelKind, ConfigError};
use catalog::TemplateKey;
use helpers::{IncludeHelper, Markup, MarkupHelper};

/// The template every channel uses unless its rule or its config names another.
pub const DEFAULT_TEMPLATE: &str = "default";

/// A story's replies in its thread, unless the channel names a `thread_template`.
pub const REPLY_TEMPLATE: &str = "story_reply";

/// A story's live card, unless the channel names a `card_template`.
pub const CARD_TEMPLATE: &str = "story_card";

/// The template a reply in a story's thread is drawn with: the channel's
/// `thread_template`; else, for a message of the default template, the
/// default reply (without the story's name, which the thread shows); else the
/// message's own, which an admin chose.
pub fn reply_template<'a>(channel: &'a crate::config::ChannelConfig, message_template: &'a str) -> &'a str {
    match (&channel.thread_template, message_template) {
        (Some(template), _) => template,
        (None, DEFAULT_TEMPLATE) => REPLY_TEMPLATE,
        (None, template) => template,
    }
}

/// A digest channel's summary, unless its `digest:` names a `template`.
pub const DIGEST_TEMPLATE: &str = "digest";

/// The template a digest channel's summaries are drawn with.
pub fn digest_template(channel: &crate::config::ChannelConfig) -> &str {
    channel.digest.as_ref().and_then(|digest| digest.template.as_deref()).unwrap_or(DIGEST_TEMPLATE)
}

/// The template a channel's live cards are drawn with.
pub fn card_template(channel: &crate::config::ChannelConfig) -> &str {
    channel.card_template.as_deref().unwrap_or(CARD_TEMPLATE)
}

const PLATFORMS: [ChannelKind; 3] = [ChannelKind::Slack, ChannelKind::Discord, ChannelKind::Console];

/// What a template produced, before the sink shapes it into a request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Draft {
    /// Message text, already escaped for its platform.
    Text(String),
    /// A whole JSON body, from a `.json.hbs` template.
    Body(Map<String, Value>),
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("template `{template}` ({origin}): {message}")]
pub struct RenderError {
    pub template: String,
    pub origin: String,
    pub message: String,
}

/// The data for one render. handlebars renders from its own `Context`; building
/// it from a `Value` we own avoids the deep copy `Handlebars::render` makes.
pub struct RenderContext(handlebars::Context);

impl RenderContext {
    pub fn data(&self) -> &Value {
        self.0.data()
    }

    pub fn into_data(mut self) -> Value {
        std::mem::take(self.0.data_mut())
    }
}

impl From<Value> for RenderContext {
    fn from(value: Value) -> Self {
        RenderContext(handlebars::Context::from(value))
    }
}

/// Every template, compiled for every platform it serves.
pub struct Templates {
    /// One registry per platform and output mode: handlebars sets escaping per registry.
    registries: HashMap<(ChannelKind, bool), Handlebars<'static>>,
    files: HashMap<TemplateKey, (bool, String)>,
    names: BTreeSet<String>,
    /// Names of the templates that came from the `templates:` directory.
    overrides: BTreeSet<String>,
    /// The costly context fields some template mentions: only those are built.
    wanted: Wanted,
    /// Each template's file name, origin and text, for the console's editor.
    sources: std::collections::BTreeMap<String, (String, String)>,
}

impl Templates {
    pub fn load(directory: Option<&Path>, config_file: &str) -> Result<Self, Vec<ConfigError>> {
        Templates::load_edited(directory, config_file, &std::collections::BTreeMap::new())
    }

    /// `load`, with `edits` (file name → text) over the files, as the console
    /// tries them before the admin saves them.
    pub fn load_edited(
        directory: Option<&Path>,
        config_file: &str,
        edits: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut files = catalog::collect(directory, config_file)?;
        catalog::apply_edits(&mut files, edits, config_file)?;
        let mut problems = Vec::new();
        for file in files.values() {
            if let Err(error) = handlebars::Template::compile(&file.text) {
                problems.push(ConfigError {
                    file: config_file.into(),
                    path: "templates".into(),
                    message: describe_template_error(&file.origin, &error),
                });
            }
        }
        let registered: std::collections::BTreeMap<String, (&str, &str)> = files
            .iter()
            .map(|((name, platform), file)| {
                (registry_name(name, *platform), (file.text.as_str(), file.origin.as_str()))
            })
            .collect();
        for message in includes::problems(&registered) {
            problems.push(ConfigError { file: config_file.into(), path: "templates".into(), message });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut registries = HashMap::new();
        for platform in PLATFORMS {
            for json in [false, true] {
                let mut registry = registry(platform, json);
                // Every template goes in both registries, so any template can use
                // any other as a partial; the registry's escaping is what a
                // partial inherits from the template that includes it.
                for ((name, for_platform), file) in &files {
                    if for_platform.is_none_or(|p| p == platform) {
                        registry
                            .register_template_string(&registry_name(name, *for_platform), &file.text)
                            .expect("compiled above");
                    }
                }
                registries.insert((platform, json), registry);
            }
        }
        Ok(Templates {
            registries,
            wanted: Wanted::by(files.values().map(|file| file.text.as_str())),
            overrides: files
                .iter()
                .filter(|(_, file)| !file.origin.starts_with("<embedded"))
                .map(|((name, _), _)| name.clone())
                .collect(),
            names: files.keys().map(|(name, _)| name.clone()).collect(),
            sources: files
                .iter()
                .map(|(key, file)| {
                    (catalog::file_name(key, file.json), (file.origin.clone(), file.text.clone()))
                })
                .collect(),
            files: files.into_iter().map(|(key, file)| (key, (file.json, file.origin))).collect(),
        })
    }

    /// Every template as `(file name, origin, text)`, by file name.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.sources.iter().map(|(file, (origin, text))| (file.as_str(), origin.as_str(), text.as_str()))
    }

    /// Template names, for "known: …" in errors.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Templates the admin wrote (from the `templates:` directory), by name.
    pub fn from_directory(&self) -> impl Iterator<Item = &str> {
        self.overrides.iter().map(String::as_str)
    }

    /// Which costly context fields any template mentions; contexts leave the
    /// others out.
    pub fn wanted(&self) -> Wanted {
        self.wanted
    }

    pub fn has(&self, name: &str, platform: ChannelKind) -> bool {
        self.find(name, platform).is_some()
    }

    fn find(&self, name: &str, platform: ChannelKind) -> Option<(TemplateKey, &(bool, String))> {
        [Some(platform), None].into_iter().find_map(|candidate| {
            let key = (name.to_owned(), candidate);
            self.files.get(&key).map(|file| (key, file))
        })
    }

    pub fn render(
        &self,
        name: &str,
        platform: ChannelKind,
        context: &RenderContext,
    ) -> Result<Draft, RenderError> {
        let ((_, for_platform), (json, origin)) = self.find(name, platform).ok_or_else(|| RenderError {
            template: name.into(),
            origin: "-".into(),
            message: format!("no such template for {platform}"),
        })?;
        let error = |message: String| RenderError { template: name.into(), origin: origin.clone(), message };
        let registry = &self.registries[&(platform, *json)];
        let output = registry
            .render_with_context(&registry_name(name, for_platform), &context.0)
            .map_err(|failure| error(failure.to_string()))?;
        if !*json {
            return Ok(Draft::Text(output));
        }
        match serde_json::from_str::<Value>(&output) {
            Ok(Value::Object(body)) => Ok(Draft::Body(body)),
            Ok(_) => Err(error("must produce a JSON object".into())),
            Err(failure) => Err(error(format!("produced invalid JSON: {failure}"))),
        }
    }
}

/// `templates/x.hbs, line 2, column 21: invalid handlebars syntax`. The parser's
/// list of every token it would have accepted helps no one and is cut.
fn describe_template_error(origin: &str, error: &handlebars::TemplateError) -> String {
    let reason = error.reason().to_string();
    let reason = reason.split(": expected ").next().unwrap_or(&reason);
    match error.pos() {
        Some((line, column)) => format!("{origin}, line {line}, column {column}: {reason}"),
        None => format!("{origin}: {reason}"),
    }
}

fn registry_name(name: &str, platform: Option<ChannelKind>) -> String {
    match platform {
        Some(platform) => format!("{name}.{platform}"),
        None => name.to_owned(),
    }
}

fn registry(platform: ChannelKind, json: bool) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.register_escape_fn(move |text| {
        let escaped = escape::for_platform(platform, text);
        if json {
            escape::json_string_content(&escaped)
        } else {
            escaped
        }
    });
    for (helper, markup) in [
        ("link", Markup::Link),
        ("bold", Markup::Bold),
        ("quote", Markup::Quote),
        ("nl", Markup::Newline),
        ("plain", Markup::Plain),
        ("json", Markup::Json),
        ("mention", Markup::Mention),
        ("when", Markup::When),
    ] {
        registry.register_helper(helper, Box::new(MarkupHelper { markup, platform, json }));
    }
    registry.register_helper("include", Box::new(IncludeHelper));
    registry
}

#[cfg(test)]
mod tests;
