//! A store that can be made unreachable on cue, around a real one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use storybridge::store::*;

pub struct FlakyStore {
    pub inner: Arc<dyn Store>,
    pub down: AtomicBool,
    /// Delivery's writes (recording attempts) fail while reads work, as on a
    /// full disk.
    pub full: AtomicBool,
}

impl FlakyStore {
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(FlakyStore { inner, down: AtomicBool::new(false), full: AtomicBool::new(false) })
    }

    fn check_write(&self) -> Result<(), StoreError> {
        self.check()?;
        if self.full.load(Ordering::SeqCst) {
            return Err(StoreError::Commit("database or disk is full (simulated)".into()));
        }
        Ok(())
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Query("disk I/O error (simulated)".into()))
        } else {
            Ok(())
        }
    }
}

/// The inner call, made only when the store is up: the SQLite store starts
/// its work when the call is made, not when it is awaited.
macro_rules! guarded {
    ($self:ident, $call:expr) => {
        guarded!($self, check, $call)
    };
    ($self:ident, $check:ident, $call:expr) => {{
        match $self.$check() {
            Ok(()) => $call,
            Err(error) => Box::pin(async move { Err(error) }),
        }
    }};
}

impl Store for FlakyStore {
    fn accept(&self, event: NewEvent) -> StoreFuture<'_, Accepted> {
        guarded!(self, self.inner.accept(event))
    }
    fn unrouted(&self, limit: usize, max_bytes: usize) -> StoreFuture<'_, Vec<StoredEvent>> {
        guarded!(self, self.inner.unrouted(limit, max_bytes))
    }
    fn commit_routes(&self, routes: Vec<EventRoutes>, routed: bool) -> StoreFuture<'_, Vec<Queued>> {
        guarded!(self, self.inner.commit_routes(routes, routed))
    }
    fn stored_events(&self, which: EventSelection) -> StoreFuture<'_, Vec<StoredEvent>> {
        guarded!(self, self.inner.stored_events(which))
    }
    fn thread(&self, channel: &str, key: &str) -> StoreFuture<'_, Option<storybridge::store::ThreadRoot>> {
        guarded!(self, self.inner.thread(channel, key))
    }
    fn set_thread(
        &self,
        channel: &str,
        key: &str,
        root: storybridge::store::ThreadRoot,
        card: Option<String>,
    ) -> StoreFuture<'_, ()> {
        guarded!(self, check_write, self.inner.set_thread(channel, key, root, card))
    }
    fn card_shown(&self, channel: &str, key: &str, hash: String) -> StoreFuture<'_, ()> {
        guarded!(self, check_write, self.inner.card_shown(channel, key, hash))
    }
    fn stories(&self, keys: Vec<String>) -> StoreFuture<'_, Vec<storybridge::store::StoryRecord>> {
        guarded!(self, self.inner.stories(keys))
    }
    fn release_digests(
        &self,
        release: storybridge::store::Release,
    ) -> StoreFuture<'_, storybridge::store::Released> {
        guarded!(self, check_write, self.inner.release_digests(release))
    }
    fn held_digest(&self, channel: &str) -> StoreFuture<'_, Option<storybridge::store::HeldDigest>> {
        guarded!(self, self.inner.held_digest(channel))
    }
    fn digest_items(&self) -> StoreFuture<'_, Vec<(String, i64)>> {
        guarded!(self, self.inner.digest_items())
    }
    fn card(
        &self,
        channel: &str,
        key: &str,
        recent: usize,
    ) -> StoreFuture<'_, storybridge::store::CardSource> {
        guarded!(self, self.inner.card(channel, key, recent))
    }
    fn parts(&self, delivery: i64) -> StoreFuture<'_, Vec<String>> {
        guarded!(self, self.inner.parts(delivery))
    }
    fn rendered(&self, delivery: i64, outcome: Result<String, String>) -> StoreFuture<'_, ()> {
        guarded!(self, self.inner.rendered(delivery, outcome))
    }
    fn pending_batch(&self, channel: &str, limit: usize) -> StoreFuture<'_, Vec<Delivery>> {
        guarded!(self, self.inner.pending_batch(channel, limit))
    }
    fn finish_attempt(&self, delivery: i64, attempt: Attempt, resolution: Resolution) -> StoreFuture<'_, ()> {
        guarded!(self, check_write, self.inner.finish_attempt(delivery, attempt, resolution))
    }
    // The production path, not the trait's defaults: the real store records
    // and claims in one operation.
    fn finish_attempts(&self, records: Vec<(i64, Attempt, Resolution)>) -> StoreFuture<'_, ()> {
        guarded!(self, check_write, self.inner.finish_attempts(records))
    }
    fn record_and_claim(
        &self,
        channel: &str,
        finished: Vec<(i64, Attempt, Resolution)>,
        limit: usize,
    ) -> StoreFuture<'_, Claim> {
        if finished.is_empty() {
            guarded!(self, check, self.inner.record_and_claim(channel, finished, limit))
        } else {
            guarded!(self, check_write, self.inner.record_and_claim(channel, finished, limit))
        }
    }
    fn deliveries(&self, filter: DeliveryFilter) -> StoreFuture<'_, Vec<Delivery>> {
        guarded!(self, self.inner.deliveries(filter))
    }
    fn attempts(&self, delivery: i64) -> StoreFuture<'_, Vec<Attempt>> {
        guarded!(self, self.inner.attempts(delivery))
    }
    fn replay(&self, which: Replay) -> StoreFuture<'_, usize> {
        guarded!(self, self.inner.replay(which))
    }
    fn prune(&self, before: Millis) -> StoreFuture<'_, usize> {
        guarded!(self, self.inner.prune(before))
    }
    fn pause_channel(&self, channel: &str, pause: Pause) -> StoreFuture<'_, ()> {
        guarded!(self, self.inner.pause_channel(channel, pause))
    }
    fn resume_channel(&self, channel: &str) -> StoreFuture<'_, ()> {
        guarded!(self, self.inner.resume_channel(channel))
    }
    fn channel_pause(&self, channel: &str) -> StoreFuture<'_, Option<Pause>> {
        guarded!(self, self.inner.channel_pause(channel))
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        guarded!(self, self.inner.ping())
    }
    fn queue_stats(&self) -> StoreFuture<'_, Vec<QueueStats>> {
        guarded!(self, self.inner.queue_stats())
    }
    fn events(&self, event_id: &str) -> StoreFuture<'_, Vec<StoredEvent>> {
        guarded!(self, self.inner.events(event_id))
    }
}
