//! Linear signs `webhookTimestamp` (milliseconds) inside the body. Its SDK
//! refuses a body whose stamp is more than a minute from the receiver's clock,
//! so a captured request cannot be sent again later; so does the bridge,
//! once the signature is checked and the body decoded (`verify::fresh`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::VerifyError;

pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Checks `webhookTimestamp` (epoch milliseconds, a number or numeric text) of
/// an authenticated, decoded body.
pub fn check_timestamp(payload: &Value, now: SystemTime) -> Result<(), VerifyError> {
    // Not an object: no event at all, which `normalize` refuses with a 400.
    let Value::Object(fields) = payload else { return Ok(()) };
    let millis = match fields.get("webhookTimestamp") {
        Some(Value::Number(number)) => number.as_f64(),
        Some(Value::String(text)) => text.trim().parse::<f64>().ok(),
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
            let body: Value =
                serde_json::from_str(&format!(r#"{{"type":"Issue","webhookTimestamp":{stamp}}}"#)).unwrap();
            assert_eq!(check_timestamp(&body, now).is_ok(), taken, "{stamp}");
        }
    }

    #[test]
    fn a_body_without_a_stamp_is_refused() {
        let now = at(0);
        assert_eq!(
            check_timestamp(&serde_json::json!({"type": "Issue"}), now),
            Err(VerifyError::NoTimestamp)
        );
        assert_eq!(
            check_timestamp(&serde_json::json!({"webhookTimestamp": null}), now),
            Err(VerifyError::NoTimestamp)
        );
    }
}
