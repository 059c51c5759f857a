//! Load shedding: at most `upstream.max_in_flight` requests at the upstream at once, per
//! instance (all worker threads together).
//!
//! A request that finds the limit reached waits a short, bounded time for a slot
//! ([`QUEUE_WAIT`]), in arrival order; past it, it is refused at once with `503` and
//! `Retry-After`, before anything is sent. The permits are a `tokio` semaphore: taking a free
//! one is a single compare-and-swap; its waiter list (and lock) is only touched when the limit
//! is reached, i.e. on the shedding path.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Longest wait for a free slot before a request is shed.
pub const QUEUE_WAIT: Duration = Duration::from_millis(50);

/// Largest `upstream.max_in_flight` accepted.
pub const MAX_LIMIT: usize = 1_000_000;

/// Counts and bounds requests in flight to the upstream.
pub struct InFlightLimit {
    permits: Option<Semaphore>,
    max: usize,
    peak: AtomicUsize,
}

impl std::fmt::Debug for InFlightLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlightLimit")
            .field("max_in_flight", &self.max)
            .field("in_flight", &self.current())
            .finish()
    }
}

/// A request's place at the upstream; given back when dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    _permit: Option<SemaphorePermit<'a>>,
}

impl InFlightLimit {
    /// A limit of `max` requests at once; 0 means no limit.
    ///
    /// # Examples
    /// ```
    /// use authjs_proxy::resilience::InFlightLimit;
    /// let limit = InFlightLimit::new(1);
    /// let held = limit.try_acquire().unwrap();
    /// assert!(limit.try_acquire().is_none());
    /// drop(held);
    /// assert!(limit.try_acquire().is_some());
    /// ```
    pub fn new(max: usize) -> Self {
        let max = max.min(MAX_LIMIT);
        InFlightLimit {
            permits: (max > 0).then(|| Semaphore::new(max)),
            max,
            peak: AtomicUsize::new(0),
        }
    }

    /// A slot if one is free now.
    pub fn try_acquire(&self) -> Option<Slot<'_>> {
        match &self.permits {
            None => Some(Slot { _permit: None }),
            Some(s) => s.try_acquire().ok().map(|p| self.taken(p)),
        }
    }

    /// A slot, waiting at most `wait` for one; `None` when the request should be shed.
    pub async fn acquire(&self, wait: Duration) -> Option<Slot<'_>> {
        let permits = match &self.permits {
            None => return Some(Slot { _permit: None }),
            Some(s) => s,
        };
        if let Ok(p) = permits.try_acquire() {
            return Some(self.taken(p));
        }
        if wait.is_zero() {
            return None;
        }
        match tokio::time::timeout(wait, permits.acquire()).await {
            Ok(Ok(p)) => Some(self.taken(p)),
            _ => None,
        }
    }

    fn taken<'a>(&'a self, permit: SemaphorePermit<'a>) -> Slot<'a> {
        self.peak.fetch_max(self.current(), Ordering::Relaxed);
        Slot {
            _permit: Some(permit),
        }
    }

    /// Requests in flight now (0 without a limit: they are not counted).
    pub fn current(&self) -> usize {
        self.permits
            .as_ref()
            .map_or(0, |s| self.max - s.available_permits())
    }

    /// The limit; 0 = none.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The most requests in flight at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_full_limit_sheds_after_the_wait() {
        let limit = InFlightLimit::new(2);
        let a = limit.acquire(QUEUE_WAIT).await;
        let b = limit.acquire(QUEUE_WAIT).await;
        assert!(a.is_some() && b.is_some());
        assert!(limit.acquire(Duration::from_millis(5)).await.is_none());
        assert_eq!(limit.current(), 2);
        assert_eq!(limit.peak(), 2);
        drop(a);
        assert!(limit.acquire(Duration::ZERO).await.is_some());
    }

    #[actix_rt::test]
    async fn a_waiter_gets_the_slot_given_back() {
        let limit = std::rc::Rc::new(InFlightLimit::new(1));
        let held = limit.try_acquire().unwrap();
        let waiter = {
            let limit = limit.clone();
            actix_rt::spawn(async move { limit.acquire(Duration::from_secs(5)).await.is_some() })
        };
        actix_rt::task::yield_now().await;
        drop(held);
        assert!(waiter.await.unwrap());
    }

    #[test]
    fn zero_means_no_limit() {
        let limit = InFlightLimit::new(0);
        let held: Vec<_> = (0..1000).filter_map(|_| limit.try_acquire()).collect();
        assert_eq!(held.len(), 1000);
    }
}
