//! How long to wait before resending after a transient failure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(600);

/// The wait before retry number `failures` (1-based): exponential from one
/// second, capped at ten minutes, plus up to 25% jitter so channels that failed
/// together do not retry together. Retries go on until `max_age`.
pub fn delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    let base = FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
    base + jitter(base / 4)
}

fn jitter(max: Duration) -> Duration {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    max.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_about_a_second_to_a_cap() {
        let first = delay(1);
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_millis(1250), "{first:?}");
        let third = delay(3);
        assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(5), "{third:?}");
        let late = delay(40);
        assert!(late >= MAX_DELAY && late <= MAX_DELAY + MAX_DELAY / 4, "{late:?}");
    }
}
