//! Retry budget, the Finagle/Linkerd model: retries may add at most `budget_percent` of the
//! requests of the last 10 seconds, plus a reserve of `min_per_second` for every second the
//! budget has existed (at most 10 seconds' worth), so a quiet service can still retry.
//!
//! Over any run of `t` seconds the upstream sees at most
//! `requests × (1 + budget_percent / 100) + min_per_second × ⌈t⌉` requests, however many
//! `max_attempts` allow: a 503 storm is not multiplied by retries.
//!
//! The window is ten one-second slots, each one `AtomicU64` (second, requests, retries), updated
//! by compare-and-swap. A retry is counted first and checked afterwards (undone when over
//! budget), so threads racing for the last token can only refuse too many, never allow too many.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Seconds in the window.
pub const WINDOW_SECS: u64 = 10;

const SECOND_BITS: u32 = 24;
const SECOND_MASK: u64 = (1 << SECOND_BITS) - 1;
const REQUEST_MASK: u64 = (1 << 24) - 1;
const RETRY_MASK: u64 = (1 << 16) - 1;

/// A slot: bits 40–63 the second, 16–39 requests, 0–15 retries.
#[derive(Clone, Copy)]
struct Slot(u64);

impl Slot {
    fn new(second: u64) -> Self {
        Slot((second & SECOND_MASK) << 40)
    }
    fn second(self) -> u64 {
        self.0 >> 40
    }
    fn requests(self) -> u64 {
        (self.0 >> 16) & REQUEST_MASK
    }
    fn retries(self) -> u64 {
        self.0 & RETRY_MASK
    }
    fn with(self, requests: u64, retries: u64) -> Self {
        Slot((self.0 & !(REQUEST_MASK << 16 | RETRY_MASK)) | requests << 16 | retries)
    }
}

/// The retry budget of one upstream, shared by every worker thread.
pub struct RetryBudget {
    percent: u64,
    min_per_second: u64,
    born: Instant,
    slots: [AtomicU64; WINDOW_SECS as usize],
}

impl std::fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBudget")
            .field("budget_percent", &self.percent)
            .field("min_per_second", &self.min_per_second)
            .finish()
    }
}

impl RetryBudget {
    /// A budget letting retries add `percent` % of the requests plus `min_per_second`.
    ///
    /// # Examples
    /// ```
    /// use authjs_proxy::resilience::RetryBudget;
    /// let budget = RetryBudget::new(20, 0);
    /// for _ in 0..10 {
    ///     budget.deposit();
    /// }
    /// assert!(budget.try_withdraw());
    /// assert!(budget.try_withdraw());
    /// assert!(!budget.try_withdraw(), "20 % of 10 requests is 2 retries");
    /// ```
    pub fn new(percent: u32, min_per_second: u32) -> Self {
        RetryBudget {
            percent: u64::from(percent),
            min_per_second: u64::from(min_per_second),
            born: Instant::now(),
            slots: Default::default(),
        }
    }

    fn second(&self) -> u64 {
        self.born.elapsed().as_secs()
    }

    /// Applies `change` to the slot of `second`, starting the slot afresh when it holds an
    /// older second. `change` answers `None` to leave the slot as it is.
    fn update(&self, second: u64, change: impl Fn(Slot) -> Option<Slot>) -> bool {
        let cell = &self.slots[(second % WINDOW_SECS) as usize];
        let mut seen = Slot(cell.load(Ordering::Acquire));
        // Every failed swap means another thread counted in the meantime; the counters are
        // bounded, so this ends, and past a generous number of rounds the change is dropped.
        for _ in 0..64 {
            let base = if seen.second() == second & SECOND_MASK {
                seen
            } else {
                Slot::new(second)
            };
            let Some(next) = change(base) else {
                return false;
            };
            match cell.compare_exchange(seen.0, next.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(now) => seen = Slot(now),
            }
        }
        false
    }

    /// Requests and retries counted over the window ending at `second`.
    fn window(&self, second: u64) -> (u64, u64) {
        let now = second & SECOND_MASK;
        self.slots.iter().fold((0, 0), |(req, ret), cell| {
            let slot = Slot(cell.load(Ordering::Acquire));
            if now.wrapping_sub(slot.second()) & SECOND_MASK < WINDOW_SECS {
                (req + slot.requests(), ret + slot.retries())
            } else {
                (req, ret)
            }
        })
    }

    /// Counts one request (its first attempt).
    pub fn deposit(&self) {
        self.update(self.second(), |s| {
            Some(s.with((s.requests() + 1).min(REQUEST_MASK), s.retries()))
        });
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn try_withdraw(&self) -> bool {
        let second = self.second();
        let counted = self.update(second, |s| {
            (s.retries() < RETRY_MASK).then(|| s.with(s.requests(), s.retries() + 1))
        });
        if !counted {
            return false;
        }
        let (requests, retries) = self.window(second);
        let reserve = self.min_per_second * (second + 1).min(WINDOW_SECS);
        if retries <= requests * self.percent / 100 + reserve {
            return true;
        }
        self.update(second, |s| {
            (s.retries() > 0).then(|| s.with(s.requests(), s.retries() - 1))
        });
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_a_share_of_requests() {
        let b = RetryBudget::new(20, 0);
        for _ in 0..100 {
            b.deposit();
        }
        let granted = (0..100).filter(|_| b.try_withdraw()).count();
        assert_eq!(granted, 20);
    }

    #[test]
    fn the_reserve_allows_min_per_second_without_requests() {
        let b = RetryBudget::new(20, 10);
        let granted = (0..100).filter(|_| b.try_withdraw()).count();
        assert_eq!(granted, 10, "first second: 10 from the reserve");
    }

    #[test]
    fn zero_percent_and_zero_reserve_allow_no_retries() {
        let b = RetryBudget::new(0, 0);
        for _ in 0..100 {
            b.deposit();
        }
        assert!(!b.try_withdraw());
    }

    #[test]
    fn concurrent_withdrawals_never_exceed_the_budget() {
        let b = std::sync::Arc::new(RetryBudget::new(10, 5));
        for _ in 0..1000 {
            b.deposit();
        }
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || (0..200).filter(|_| b.try_withdraw()).count())
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        // 10 % of 1000 plus 5 per second elapsed (a second may tick during the test).
        assert!((100..=110).contains(&granted), "{granted}");
    }

    #[test]
    fn old_slots_leave_the_window() {
        let b = RetryBudget::new(100, 0);
        b.update(0, |s| Some(s.with(50, 0)));
        assert_eq!(b.window(5).0, 50);
        assert_eq!(
            b.window(10).0,
            0,
            "ten seconds later the requests no longer count"
        );
    }
}
