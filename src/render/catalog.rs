//! Which template files exist: the ones compiled in, overridden by name from the
//! config's `templates:` directory.
//!
//! A file is `<name>[.<platform>][.json].hbs`: `default.hbs` serves every
//! platform, `default.slack.hbs` only Slack, and a `.json.hbs` template writes
//! the whole JSON body instead of the message text.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{ChannelKind, ConfigError};

/// Templates compiled into the binary, so it runs without its `templates/` folder.
const EMBEDDED: &[(&str, &str)] = &[
    ("default.hbs", include_str!("../../templates/default.hbs")),
    ("default.slack.json.hbs", include_str!("../../templates/default.slack.json.hbs")),
    ("default.discord.json.hbs", include_str!("../../templates/default.discord.json.hbs")),
    ("comment.hbs", include_str!("../../templates/comment.hbs")),
    ("headline.hbs", include_str!("../../templates/headline.hbs")),
    ("action.hbs", include_str!("../../templates/action.hbs")),
    ("details.hbs", include_str!("../../templates/details.hbs")),
    ("summary.hbs", include_str!("../../templates/summary.hbs")),
    ("story_reply.hbs", include_str!("../../templates/story_reply.hbs")),
    ("story_reply.slack.json.hbs", include_str!("../../templates/story_reply.slack.json.hbs")),
    ("story_reply.discord.json.hbs", include_str!("../../templates/story_reply.discord.json.hbs")),
    ("story_card.slack.json.hbs", include_str!("../../templates/story_card.slack.json.hbs")),
    ("story_card.discord.json.hbs", include_str!("../../templates/story_card.discord.json.hbs")),
    ("story_card_line.hbs", include_str!("../../templates/story_card_line.hbs")),
    ("digest.hbs", include_str!("../../templates/digest.hbs")),
    ("digest.slack.json.hbs", include_str!("../../templates/digest.slack.json.hbs")),
    ("digest.discord.json.hbs", include_str!("../../templates/digest.discord.json.hbs")),
];

/// A template's name and the platform it is for (`None`: every platform).
pub type TemplateKey = (String, Option<ChannelKind>);

#[derive(Debug, Clone)]
pub struct TemplateFile {
    pub json: bool,
    pub text: String,
    /// Where it came from, for error messages: a path or `<embedded name>`.
    pub origin: String,
}

pub fn parse_file_name(file_name: &str) -> Option<(TemplateKey, bool)> {
    let stem = file_name.strip_suffix(".hbs")?;
    let (stem, json) = match stem.strip_suffix(".json") {
        Some(stem) => (stem, true),
        None => (stem, false),
    };
    let (name, platform) = match stem.rsplit_once('.') {
        Some((name, "slack")) => (name, Some(ChannelKind::Slack)),
        Some((name, "discord")) => (name, Some(ChannelKind::Discord)),
        Some((name, "console")) => (name, Some(ChannelKind::Console)),
        Some(_) => return None,
        None => (stem, None),
    };
    if name.is_empty() {
        return None;
    }
    Some(((name.to_owned(), platform), json))
}

/// The embedded templates, then every `*.hbs` in `directory`, which replace the
/// embedded ones of the same name and platform.
pub fn collect(
    directory: Option<&Path>,
    config_file: &str,
) -> Result<BTreeMap<TemplateKey, TemplateFile>, Vec<ConfigError>> {
    let mut files = BTreeMap::new();
    for (file_name, text) in EMBEDDED {
        let (key, json) = parse_file_name(file_name).expect("embedded template names are well formed");
        files.insert(
            key,
            TemplateFile { json, text: (*text).to_owned(), origin: format!("<embedded {file_name}>") },
        );
    }
    let Some(directory) = directory else {
        return Ok(files);
    };
    let problem =
        |message: String| ConfigError { file: config_file.into(), path: "templates".into(), message };
    let entries = std::fs::read_dir(directory)
        .map_err(|error| vec![problem(format!("cannot read directory {}: {error}", directory.display()))])?;
    let mut problems = Vec::new();
    let mut from_directory: BTreeMap<TemplateKey, TemplateFile> = BTreeMap::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !file_name.ends_with(".hbs") {
            continue;
        }
        let path = entry.path();
        let Some((key, json)) = parse_file_name(&file_name) else {
            problems.push(problem(format!(
                "{}: a template file is named <name>[.slack|.discord|.console][.json].hbs",
                path.display()
            )));
            continue;
        };
        match std::fs::read_to_string(&path) {
            // Trailing newlines would land inside JSON strings when a template is
            // used as a partial; a message never ends with one anyway.
            Ok(text) => {
                let text = text.trim_end().to_owned();
                let origin = path.display().to_string();
                if let Some(previous) =
                    from_directory.insert(key, TemplateFile { json, text, origin: origin.clone() })
                {
                    problems.push(problem(format!(
                        "{origin} and {} are the same template; keep one",
                        previous.origin
                    )));
                }
            }
            Err(error) => problems.push(problem(format!("cannot read {}: {error}", path.display()))),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    files.extend(from_directory);
    Ok(files)
}

/// Applies the console's unsaved edits over `files`: each by its file name
/// (`headline.hbs`, `default.slack.json.hbs`), as if it were in the
/// `templates:` directory.
pub fn apply_edits(
    files: &mut BTreeMap<TemplateKey, TemplateFile>,
    edits: &BTreeMap<String, String>,
    config_file: &str,
) -> Result<(), Vec<ConfigError>> {
    let mut problems = Vec::new();
    for (file_name, text) in edits {
        match parse_file_name(file_name) {
            Some((key, json)) => {
                let origin = format!("{file_name} (edited)");
                files.insert(key, TemplateFile { json, text: text.trim_end().to_owned(), origin });
            }
            None => problems.push(ConfigError {
                file: config_file.into(),
                path: "templates".into(),
                message: format!(
                    "{file_name}: a template file is named <name>[.slack|.discord|.console][.json].hbs"
                ),
            }),
        }
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems),
    }
}

/// The file name a template has (or would have) in the `templates:` directory.
pub fn file_name(key: &TemplateKey, json: bool) -> String {
    let (name, platform) = key;
    let platform = platform.map(|platform| format!(".{platform}")).unwrap_or_default();
    let json = if json { ".json" } else { "" };
    format!("{name}{platform}{json}.hbs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_name_platform_and_mode() {
        assert_eq!(parse_file_name("default.hbs"), Some((("default".into(), None), false)));
        assert_eq!(
            parse_file_name("deploy.slack.json.hbs"),
            Some((("deploy".into(), Some(ChannelKind::Slack)), true))
        );
        assert_eq!(parse_file_name("x.teams.hbs"), None);
        assert_eq!(parse_file_name("notes.txt"), None);
    }
}
