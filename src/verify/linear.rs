//! Linear signs `webhookTimestamp` (milliseconds) inside the body. Its SDK
//! refuses a body whose stamp is more than a minute from the receiver's clock,
//! so a captured request cannot be sent again later; so does the bridge.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::VerifyError;

pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Reads only `webhookTimestamp` from an already authenticated body. A body
/// that is not JSON passes here and is refused by `decode` with a 400.
pub fn check_timestamp(body: &[u8], now: SystemTime) -> Result<(), VerifyError> {
    #[derive(Deserialize)]
    struct Stamp {
        #[serde(rename = "webhookTimestamp")]
        webhook_timestamp: Option<serde_json::Value>,
    }
    let Ok(stamp) = serde_json::from_slice::<Stamp>(body) else { return Ok(()) };
    let millis = match stamp.webhook_timestamp {
        Some(serde_json::Value::Number(number)) => number.as_f64(),
        Some(serde_json::Value::String(text)) => text.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|millis| millis.is_finite())
    .ok_or(VerifyError::NoTimestamp)?;
    let now_millis = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as f64;
    let skew = (now_millis - millis).abs();
    if skew > MAX_CLOCK_SKEW.as_millis() as f64 {
        // Saturates for absurd stamps (1e300): the message stays readable.
        return Err(VerifyError::Stale((skew / 1000.0).min(u64::MAX as f64) as u64));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    #[test]
    fn a_minute_either_way_is_taken_and_no_more() {
        let now = at(1_705_312_800_000);
        for (stamp, taken) in [
            ("1705312800000", true),
            ("1705312740000", true),
            ("1705312860000", true),
            ("1705312739999", false),
            ("1705312860001", false),
            ("\"1705312800000\"", true),
            ("1e300", false),
            ("-5", false),
        ] {
            let body = format!(r#"{{"type":"Issue","webhookTimestamp":{stamp}}}"#);
            assert_eq!(check_timestamp(body.as_bytes(), now).is_ok(), taken, "{stamp}");
        }
    }

    #[test]
    fn a_body_without_a_stamp_is_refused_and_one_that_is_not_json_is_left_to_decode() {
        let now = at(0);
        assert_eq!(check_timestamp(br#"{"type":"Issue"}"#, now), Err(VerifyError::NoTimestamp));
        assert_eq!(check_timestamp(br#"{"webhookTimestamp":null}"#, now), Err(VerifyError::NoTimestamp));
        assert_eq!(check_timestamp(b"not json", now), Ok(()));
    }
}
