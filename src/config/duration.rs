//! Durations in config: `500ms`, `30s`, `15m`, `24h`, `7d`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().ok()?;
        let seconds = match unit.trim() {
            "ms" => return Some(Duration::from_millis(number)),
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        };
        Some(Duration::from_secs(number.checked_mul(seconds)?))
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .map(ConfigDuration)
            .ok_or_else(|| serde::de::Error::custom("expected a duration such as 30s, 15m, 24h or 7d"))
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_units() {
        assert_eq!(ConfigDuration::parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(ConfigDuration::parse("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(ConfigDuration::parse("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(ConfigDuration::parse("7"), None);
        assert_eq!(ConfigDuration::parse("7 weeks"), None);
    }
}
