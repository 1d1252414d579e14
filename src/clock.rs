//! The time schedules follow: the system's, moved by an offset that tests set
//! (`set`, `advance`) to run a day of digests without sleeping through it.
//! Everything else keeps the system clock: only what a schedule decides (which
//! period a change belongs to, when a period is due) reads this one.

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;

use crate::store::{now_millis, Millis};

#[derive(Debug, Default)]
pub struct Clock {
    offset: AtomicI64,
    moved: Notify,
}

impl Clock {
    /// Milliseconds since the epoch, as schedules see them.
    pub fn now(&self) -> Millis {
        now_millis() + self.offset.load(Ordering::Relaxed)
    }

    /// From now on, it is `at` (and time goes on from there).
    pub fn set(&self, at: Millis) {
        self.offset.store(at - now_millis(), Ordering::Relaxed);
        self.moved.notify_one();
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.offset.fetch_add(by.as_millis() as Millis, Ordering::Relaxed);
        self.moved.notify_one();
    }

    /// Resolves when the clock is set or advanced: what waits on a schedule
    /// waits on this too. One waiter (the digest release loop); a move while
    /// it is busy is kept for its next wait.
    pub async fn moved(&self) {
        self.moved.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_goes_on_from_where_it_was_set() {
        let clock = Clock::default();
        clock.set(1_000_000);
        let now = clock.now();
        assert!((1_000_000..1_010_000).contains(&now), "{now}");
        clock.advance(std::time::Duration::from_secs(3600));
        assert!(clock.now() >= 1_000_000 + 3_600_000);
    }
}
