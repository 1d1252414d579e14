//! How long to wait before resending after a transient failure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Attempts after the first, before a message is given up.
const MAX_RETRIES: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(60);

/// The wait before retry number `failures` (1-based): exponential from one
/// second, capped, with up to 25% jitter so channels that failed together do not
/// retry together. `None` once retries are used up.
pub fn delay(failures: u32) -> Option<Duration> {
    if failures == 0 || failures > MAX_RETRIES {
        return None;
    }
    let base = FIRST_DELAY
        .saturating_mul(1 << (failures - 1).min(16))
        .min(MAX_DELAY);
    Some(base + jitter(base / 4))
}

fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    max.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_about_a_second_and_stop() {
        let first = delay(1).unwrap();
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_millis(1250));
        let third = delay(3).unwrap();
        assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(5));
        assert_eq!(delay(MAX_RETRIES + 1), None);
    }
}
