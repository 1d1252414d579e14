//! Reading a request body: which encoding it claims, no more bytes than
//! allowed, within its time, and within what all bodies together may hold.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::IngestError;
use crate::normalize::BodyFormat;

/// JSON, or a form whose `payload` field is JSON. A sender that names no type is
/// taken to send JSON, as trackers do.
pub fn format(headers: &HeaderMap) -> Result<BodyFormat, IngestError> {
    let content_type = match headers.get(header::CONTENT_TYPE) {
        Some(value) => Some(value.to_str().map_err(|_| IngestError::UnsupportedMediaType)?),
        None => None,
    };
    BodyFormat::of(content_type).ok_or(IngestError::UnsupportedMediaType)
}

/// The request-body bytes all requests may hold at once
/// (`max_body_bytes_in_flight`), counted in KiB.
pub struct BodyBudget {
    kib: Arc<Semaphore>,
    total_kib: usize,
}

/// A body's share of the budget, given back when dropped.
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        let total_kib = kib(bytes).min(Semaphore::MAX_PERMITS).min(u32::MAX as usize);
        BodyBudget { kib: Arc::new(Semaphore::new(total_kib)), total_kib }
    }

    /// Waits for room for `bytes`. Whole, up front: requests that each took
    /// part of what they need and waited for the rest could all wait forever.
    /// Waiters are served in order, so a large body is not starved by small ones.
    async fn reserve(&self, bytes: usize) -> OwnedSemaphorePermit {
        // At most the whole budget: a reload may raise `max_body_bytes` past
        // the budget this process started with.
        let kib = kib(bytes).min(self.total_kib) as u32;
        self.kib.clone().acquire_many_owned(kib).await.expect("the budget is never closed")
    }
}

fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

/// The body, read whole: a declared length over `limit` is refused before
/// reading, an undeclared one as soon as it passes `limit`. It waits up to
/// `timeout` for its room in `budget` (the declared length, or `limit` when
/// undeclared; 503 if none came), then up to `timeout` for its bytes (408):
/// a sender is not blamed for the time it waited for us.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    budget: &BodyBudget,
    timeout: Duration,
) -> Result<(Bytes, Reservation), IngestError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(IngestError::TooLarge(limit));
    }
    let wanted = declared.map_or(limit, |length| length as usize);
    let mut reserved =
        tokio::time::timeout(timeout, budget.reserve(wanted)).await.map_err(|_| IngestError::Busy)?;
    let reading = read_limited(body, limit);
    let bytes = tokio::time::timeout(timeout, reading).await.map_err(|_| IngestError::SlowBody)??;
    // An undeclared length was given room for the largest body: keep what it used.
    let unused = reserved.num_permits().saturating_sub(kib(bytes.len()));
    if unused > 0 {
        drop(reserved.split(unused));
    }
    Ok((bytes, Reservation { _permit: reserved }))
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, IngestError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(IngestError::TooLarge(limit)),
        Err(_) => Err(IngestError::UnreadableBody),
    }
}

/// Whitespace or a bare JSON `null`: what Shortcut's empty POSTs look like.
pub fn is_empty(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii();
    trimmed.is_empty() || trimmed == b"null"
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_waits_until_the_budget_has_room_for_all_of_it() {
        let budget = BodyBudget::new(4 * 1024);
        let first = budget.reserve(3 * 1024).await;
        let second = tokio::time::timeout(Duration::from_secs(1), budget.reserve(2 * 1024)).await;
        assert!(second.is_err(), "2 KiB do not fit beside 3 KiB in 4 KiB");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), budget.reserve(2 * 1024)).await;
        assert_eq!(second.expect("room now").num_permits(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_order_so_a_large_body_is_not_starved() {
        let budget = Arc::new(BodyBudget::new(4 * 1024));
        let held = budget.reserve(1024).await;
        let large = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(4 * 1024).await }
        });
        tokio::task::yield_now().await;
        // A small body that would fit now waits behind the large one.
        let small = tokio::time::timeout(Duration::from_secs(1), budget.reserve(1024)).await;
        assert!(small.is_err());
        drop(held);
        assert_eq!(large.await.unwrap().num_permits(), 4);
    }

    fn declaring(length: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, length.into());
        headers
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_finds_no_room_in_time_is_busy_not_slow() {
        let budget = BodyBudget::new(4 * 1024);
        let _taken = budget.reserve(4 * 1024).await;
        let body = Body::from(vec![b'x'; 2048]);
        let outcome = read(&declaring(2048), body, 8192, &budget, Duration::from_secs(1)).await;
        assert!(matches!(outcome, Err(IngestError::Busy)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_without_a_length_keeps_only_the_room_it_used() {
        let budget = BodyBudget::new(64 * 1024);
        let body = Body::from(vec![b'x'; 3000]);
        let (bytes, _reserved) =
            read(&HeaderMap::new(), body, 64 * 1024, &budget, Duration::from_secs(1)).await.unwrap();
        assert_eq!(bytes.len(), 3000);
        assert_eq!(budget.kib.available_permits(), 64 - 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_larger_than_the_budget_still_gets_all_of_it_eventually() {
        // A reload may raise max_body_bytes past the budget the process started with.
        let budget = BodyBudget::new(2 * 1024);
        let whole = tokio::time::timeout(Duration::from_secs(1), budget.reserve(10 * 1024)).await;
        assert_eq!(whole.expect("clamped to the budget").num_permits(), 2);
    }
}
