//! `bridge.yaml`: typed configuration, loaded and checked at the edge so the rest
//! of the bridge works with values it can trust.

mod check;
mod duration;
mod error;
mod expand;
mod exposure;
mod load;
mod secret;
mod types;

pub use duration::ConfigDuration;
pub use error::{ConfigError, ConfigErrors};
pub use exposure::{development_defaults, exposure};
pub use load::{load_file, load_file_with, load_str, ConfigOrigin, EMBEDDED_CONFIG};
pub use secret::Secret;
pub use types::*;

#[cfg(test)]
mod tests;
