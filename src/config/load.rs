//! Reading `bridge.yaml`: YAML → `${VAR}` expansion → `STORYBRIDGE_*` overrides →
//! typed [`Config`] → cross-key checks. Every failure names the file and key path.

use std::path::{Path, PathBuf};

use figment::error::{Actual, Kind};
use figment::providers::{Env, Format, Serialized, Yaml};
use figment::value::{Dict, Value};
use figment::Figment;

use super::check::check;
use super::error::{ConfigError, ConfigErrors};
use super::expand::expand;
use super::Config;

/// The `bridge.yaml` in the repository, compiled in so the binary runs on its own.
pub const EMBEDDED_CONFIG: &str = include_str!("../../bridge.yaml");

/// Top-level keys that `STORYBRIDGE_<KEY>` may override. Nested keys are not
/// overridable: rules and channels belong in the file, secrets in `${VAR}`.
const ENV_OVERRIDABLE: &[&str] = &[
    "listen",
    "max_body_bytes",
    "body_timeout",
    "idle_timeout",
    "max_connections",
    "max_body_bytes_in_flight",
    "templates",
    "storage",
    "max_age",
    "retention",
    "admin_listen",
    "log_format",
];

/// Where a config came from: its name in messages and the directory that
/// relative paths in it (such as `templates:`) start from.
#[derive(Debug, Clone)]
pub struct ConfigOrigin {
    pub name: String,
    pub base_dir: PathBuf,
}

impl ConfigOrigin {
    pub fn file(path: &Path) -> Self {
        let base_dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        ConfigOrigin { name: path.display().to_string(), base_dir }
    }

    pub fn embedded() -> Self {
        ConfigOrigin { name: "<embedded bridge.yaml>".into(), base_dir: PathBuf::from(".") }
    }
}

/// Loads and checks a config file, taking `${VAR}` from the process environment.
pub fn load_file(path: &Path) -> Result<(Config, ConfigOrigin), ConfigErrors> {
    load_file_with(path, &|name| std::env::var(name).ok())
}

/// Loads and checks a config file; `lookup` supplies `${VAR}` values.
pub fn load_file_with(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, ConfigOrigin), ConfigErrors> {
    let origin = ConfigOrigin::file(path);
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigErrors::single(&origin.name, "", format!("cannot read: {error}")))?;
    let config = load_str(&text, &origin, lookup)?;
    Ok((config, origin))
}

/// Loads and checks config text; `lookup` supplies `${VAR}` values.
pub fn load_str(
    text: &str,
    origin: &ConfigOrigin,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    load_checked(text, origin, lookup).map_err(blame_overrides)
}

/// A problem with a top-level key that a `STORYBRIDGE_<KEY>` variable set is
/// that variable's, not the file's: the admin would search the file in vain.
fn blame_overrides(ConfigErrors(errors): ConfigErrors) -> ConfigErrors {
    ConfigErrors(
        errors
            .into_iter()
            .map(|mut error| {
                let key = error.path.split(['.', '[']).next().unwrap_or_default();
                let variable = format!("STORYBRIDGE_{}", key.to_ascii_uppercase());
                if ENV_OVERRIDABLE.contains(&key) && std::env::var_os(&variable).is_some() {
                    error.file = format!("{variable} (environment, overriding {})", error.file);
                }
                error
            })
            .collect(),
    )
}

fn load_checked(
    text: &str,
    origin: &ConfigOrigin,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let file = origin.name.as_str();
    // Every problem in one pass where one does not hide the next: duplicate
    // keys (figment keeps the last), unset variables (the key keeps its
    // `${…}` text, and what a later step says about that key is left out),
    // then the types and the cross-key checks.
    let mut errors = duplicate_keys(text, file);
    let mut tree: Dict = Figment::from(Yaml::string(text))
        .merge(Env::prefixed("STORYBRIDGE_").only(ENV_OVERRIDABLE))
        .extract()
        .map_err(|error| figment_errors(file, error))?;

    let mut unexpanded = Vec::new();
    for (key, value) in tree.iter_mut() {
        expand_tree(value, key.clone(), lookup, file, &mut unexpanded);
    }
    let failed: Vec<String> = unexpanded.iter().map(|error| error.path.clone()).collect();
    errors.extend(unexpanded);
    let about_failed = |problem: &ConfigError| {
        !problem.path.is_empty()
            && failed
                .iter()
                .any(|path| path.starts_with(&problem.path) || problem.path.starts_with(path.as_str()))
    };
    let config = match Figment::from(Serialized::defaults(tree)).extract::<Config>() {
        Ok(config) => {
            errors.extend(check(&config, file).into_iter().filter(|problem| !about_failed(problem)));
            Some(config)
        }
        Err(error) => {
            errors.extend(figment_errors(file, error).0.into_iter().filter(|problem| !about_failed(problem)));
            None
        }
    };
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => Err(ConfigErrors(errors)),
    }
}

/// Figment reads a repeated key as last-wins; a second `team:` under `channels:`
/// is a mistake an admin should hear about, and serde_yaml's own mapping says so.
fn duplicate_keys(text: &str, file: &str) -> Vec<ConfigError> {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Err(error) if error.to_string().contains("duplicate entry with key ") => {
            // serde_yaml says `sources: duplicate entry with key "a" at line 2 column 3`,
            // where the location is the mapping's start, not the repeated key's.
            let message = error.to_string();
            let (path, rest) = message.split_once(": duplicate entry").unwrap_or(("", &message));
            let key = rest.split("with key ").nth(1).unwrap_or("?");
            let key = key.split(" at line").next().unwrap_or(key);
            ConfigErrors::single(file, path, format!("duplicate key {key}: each name may appear once")).0
        }
        // Other YAML errors are reported by figment below, with the same wording.
        _ => Vec::new(),
    }
}

fn expand_tree(
    value: &mut Value,
    path: String,
    lookup: &dyn Fn(&str) -> Option<String>,
    file: &str,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        Value::String(_, text) => match expand(text, lookup) {
            Ok(expanded) => *text = expanded,
            Err(error) => errors.push(ConfigError { file: file.into(), path, message: error.to_string() }),
        },
        Value::Dict(_, dict) => {
            for (key, child) in dict.iter_mut() {
                expand_tree(child, format!("{path}.{key}"), lookup, file, errors);
            }
        }
        Value::Array(_, items) => {
            for (index, child) in items.iter_mut().enumerate() {
                expand_tree(child, format!("{path}[{index}]"), lookup, file, errors);
            }
        }
        _ => {}
    }
}

fn figment_errors(file: &str, error: figment::Error) -> ConfigErrors {
    ConfigErrors(
        error
            .into_iter()
            .map(|error| {
                let mut path = key_path(&error.path);
                let message = describe_figment_error(&error.kind, &mut path);
                ConfigError { file: file.into(), path, message }
            })
            .collect(),
    )
}

/// Figment's path segments joined as `rules[0].when`: numeric segments are list indices.
fn key_path(segments: &[String]) -> String {
    let mut path = String::new();
    for segment in segments {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(segment);
        }
    }
    path
}

/// Figment sometimes puts the offending key in the path already, sometimes not.
fn push_key_once(path: &mut String, key: &str) {
    if path == key || path.ends_with(&format!(".{key}")) {
        return;
    }
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// Serde's messages quote the offending value, which may be a secret expanded from
/// `${VAR}`; these say what kind of value it was instead.
fn describe_figment_error(kind: &Kind, path: &mut String) -> String {
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("expected {expected}, found {}", describe_actual(actual))
        }
        Kind::InvalidValue(_, expected) => format!("invalid value: expected {expected}"),
        Kind::InvalidLength(length, expected) => {
            format!("expected {expected}, found {length} items")
        }
        Kind::UnknownVariant(variant, expected) => {
            format!("unknown value `{variant}`, expected {}", one_of(expected))
        }
        Kind::UnknownField(field, expected) => {
            push_key_once(path, field);
            format!("unknown key, expected {}", one_of(expected))
        }
        Kind::MissingField(field) => {
            push_key_once(path, field);
            "missing (this key is required)".into()
        }
        Kind::DuplicateField(field) => {
            push_key_once(path, field);
            "given twice".into()
        }
        Kind::Message(message) => message.clone(),
        other => other.to_string(),
    }
}

fn describe_actual(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a map",
        _ => "another kind of value",
    }
}

fn one_of(expected: &[&str]) -> String {
    match expected {
        [] => "nothing here".into(),
        [only] => format!("`{only}`"),
        _ => {
            let quoted: Vec<String> = expected.iter().map(|name| format!("`{name}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}
