//! Circuit breaker for the upstream (closed → open → half-open → closed).
//!
//! Why not the `failsafe` crate: its state machine sits behind a mutex taken on every call,
//! and this one is consulted by every request of every worker thread. The whole state fits in
//! one `AtomicU64` (state, when it began, half-open probe counters), so every transition is a
//! single compare-and-swap and the closed path is two atomic loads. At this size a state
//! machine of our own is also easier to read than an adapter around a generic one.
//!
//! * **Closed**: requests pass; `consecutive_failures` failed exchanges in a row (connect
//!   failures, timeouts, broken connections, 502/503/504) open it.
//! * **Open**: requests are refused at once, without touching the network, for `open_ms`.
//! * **Half-open**: up to `half_open_probes` requests go through, one attempt each. When that
//!   many succeed the breaker closes; one failure opens it again. A probe that ends without an
//!   outcome (cancelled, deadline passed before sending) frees its slot, so half-open can not
//!   get stuck.
//!
//! Outcomes are tied to the period (state and start time) their permit was issued in: a late
//! answer from before a transition never moves the breaker.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use crate::core::breaker_state::BreakerState;
use crate::core::obs::metrics;
use crate::core::obs::request_id::request_event;

/// Most half-open probes (the counters have 10 bits each).
pub const MAX_PROBES: u32 = 1000;

/// The packed state: bits 0–1 state, 2–11 probes issued, 12–21 probe successes, 22–63 the
/// millisecond (since the breaker was built) the state began.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Word(u64);

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const COUNTER_MASK: u64 = 0x3ff;

impl Word {
    fn new(state: u64, since_ms: u64) -> Self {
        Word(state | (since_ms << 22))
    }
    fn state(self) -> u64 {
        self.0 & 0b11
    }
    fn issued(self) -> u64 {
        (self.0 >> 2) & COUNTER_MASK
    }
    fn successes(self) -> u64 {
        (self.0 >> 12) & COUNTER_MASK
    }
    fn since_ms(self) -> u64 {
        self.0 >> 22
    }
    /// The period this word belongs to (state and start), without the counters.
    fn period(self) -> u64 {
        self.0 & !(COUNTER_MASK << 2 | COUNTER_MASK << 12)
    }
    fn with_issued(self, n: u64) -> Self {
        Word((self.0 & !(COUNTER_MASK << 2)) | (n.min(COUNTER_MASK) << 2))
    }
    fn with_successes(self, n: u64) -> Self {
        Word((self.0 & !(COUNTER_MASK << 12)) | (n.min(COUNTER_MASK) << 12))
    }
}

/// What an exchange told about the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered (any status but 502/503/504, 4xx included).
    Success,
    /// Connect failure, timeout, broken connection or 502/503/504.
    Failure,
}

/// Permission to send one attempt. Report its [`Outcome`] with [`Breaker::record`]; dropping
/// it unreported is neutral (a half-open probe slot is given back).
#[must_use = "report the outcome with Breaker::record, or drop the permit when nothing was sent"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    /// The period the permit was issued in; `None` when the breaker is disabled.
    period: Option<u64>,
}

impl std::fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field(
                "state",
                &self.period.map(|p| state_of(Word(p).state()).as_str()),
            )
            .finish()
    }
}

impl Permit<'_> {
    /// Whether this permit is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.period.is_some_and(|p| Word(p).state() == HALF_OPEN)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(period) = self.period.take() {
            self.breaker.release(period);
        }
    }
}

fn state_of(bits: u64) -> BreakerState {
    match bits {
        OPEN => BreakerState::Open,
        HALF_OPEN => BreakerState::HalfOpen,
        _ => BreakerState::Closed,
    }
}

/// The breaker of one upstream, shared by every worker thread.
pub struct Breaker {
    threshold: u32,
    open_for_ms: u64,
    probes: u64,
    born: Instant,
    word: AtomicU64,
    consecutive: AtomicU32,
    /// What it guards, for the log (`upstream`, `session store`).
    what: &'static str,
    /// Where its state is shown.
    gauge: fn(BreakerState),
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .field("consecutive_failures", &self.threshold)
            .field("open_ms", &self.open_for_ms)
            .finish()
    }
}

impl Breaker {
    /// A closed breaker opening after `consecutive_failures` failures in a row (0 disables
    /// it), open for `open_for`, closing after `probes` successful probes (1..=[`MAX_PROBES`]).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use authjs_proxy::resilience::breaker::{Breaker, BreakerState, Outcome};
    /// let b = Breaker::new(2, Duration::from_secs(5), 1);
    /// for _ in 0..2 {
    ///     let permit = b.try_acquire().unwrap();
    ///     b.record(permit, Outcome::Failure);
    /// }
    /// assert_eq!(b.state(), BreakerState::Open);
    /// assert!(b.try_acquire().is_err());
    /// ```
    pub fn new(consecutive_failures: u32, open_for: Duration, probes: u32) -> Self {
        Breaker {
            threshold: consecutive_failures,
            open_for_ms: (open_for.as_millis() as u64).max(1),
            probes: u64::from(probes.clamp(1, MAX_PROBES)),
            born: Instant::now(),
            word: AtomicU64::new(Word::new(CLOSED, 0).0),
            consecutive: AtomicU32::new(0),
            what: "upstream",
            gauge: metrics::circuit_breaker_state,
        }
    }

    /// The same breaker guarding something else than the upstream: `what` names it in the
    /// log, `gauge` shows its state.
    pub fn guarding(mut self, what: &'static str, gauge: fn(BreakerState)) -> Self {
        self.what = what;
        self.gauge = gauge;
        self
    }

    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    /// The current state. An open breaker whose `open_ms` has passed reports `half_open`: the
    /// next request is a probe.
    pub fn state(&self) -> BreakerState {
        let w = Word(self.word.load(Ordering::Acquire));
        if w.state() == OPEN && self.now_ms() >= w.since_ms() + self.open_for_ms {
            return BreakerState::HalfOpen;
        }
        state_of(w.state())
    }

    /// Permission for one attempt, or how long the breaker stays open.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Duration> {
        if self.threshold == 0 {
            return Ok(Permit {
                breaker: self,
                period: None,
            });
        }
        let mut current = Word(self.word.load(Ordering::Acquire));
        // Each failed compare-and-swap means another thread moved the state; a handful of
        // rounds settles it, and past them the request is refused rather than spun on.
        for _ in 0..16 {
            let next = match current.state() {
                CLOSED => {
                    return Ok(Permit {
                        breaker: self,
                        period: Some(current.period()),
                    });
                }
                OPEN => {
                    let now = self.now_ms();
                    let until = current.since_ms() + self.open_for_ms;
                    if now < until {
                        return Err(Duration::from_millis(until - now));
                    }
                    Word::new(HALF_OPEN, now).with_issued(1)
                }
                _ => {
                    if current.issued() >= self.probes {
                        // Probes are out; they answer within the request deadline.
                        return Err(Duration::from_secs(1));
                    }
                    current.with_issued(current.issued() + 1)
                }
            };
            match self
                .word
                .compare_exchange(current.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if current.state() == OPEN {
                        (self.gauge)(BreakerState::HalfOpen);
                        request_event!(
                            tracing::Level::WARN,
                            probes = self.probes,
                            "{} circuit half-open: probing the {}",
                            self.what,
                            self.what
                        );
                    }
                    return Ok(Permit {
                        breaker: self,
                        period: Some(next.period()),
                    });
                }
                Err(seen) => current = Word(seen),
            }
        }
        Err(Duration::from_secs(1))
    }

    /// Reports what the attempt made with `permit` told about the upstream.
    pub fn record(&self, mut permit: Permit<'_>, outcome: Outcome) {
        let Some(period) = permit.period.take() else {
            return;
        };
        match (Word(period).state(), outcome) {
            // Read first: no write (and no cache-line bouncing) on the usual path.
            (CLOSED, Outcome::Success)
                if self.consecutive.load(Ordering::Relaxed) != 0
                    && Word(self.word.load(Ordering::Acquire)).period() == period =>
            {
                self.consecutive.store(0, Ordering::Relaxed);
            }
            (CLOSED, Outcome::Failure) => {
                let failures = self.consecutive.fetch_add(1, Ordering::AcqRel) + 1;
                if failures >= self.threshold {
                    self.open_from(period, failures, "circuit opened");
                }
            }
            (HALF_OPEN, Outcome::Failure) => {
                self.open_from(period, 0, "circuit re-opened: a probe failed");
            }
            (HALF_OPEN, Outcome::Success) => self.probe_succeeded(period),
            _ => {}
        }
    }

    /// Moves from `period` to open, once; the thread that makes the move logs it.
    fn open_from(&self, period: u64, failures: u32, message: &'static str) {
        let mut current = Word(self.word.load(Ordering::Acquire));
        while current.period() == period {
            let open = Word::new(OPEN, self.now_ms());
            match self
                .word
                .compare_exchange(current.0, open.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.consecutive.store(0, Ordering::Relaxed);
                    (self.gauge)(BreakerState::Open);
                    if failures > 0 {
                        request_event!(
                            tracing::Level::WARN,
                            consecutive_failures = failures,
                            open_ms = self.open_for_ms,
                            "{} {message}",
                            self.what
                        );
                    } else {
                        request_event!(
                            tracing::Level::WARN,
                            open_ms = self.open_for_ms,
                            "{} {message}",
                            self.what
                        );
                    }
                    return;
                }
                // Only the probe counters can change within a period: the loop ends when the
                // period is left or the swap succeeds.
                Err(seen) => current = Word(seen),
            }
        }
    }

    fn probe_succeeded(&self, period: u64) {
        let mut current = Word(self.word.load(Ordering::Acquire));
        while current.period() == period {
            let successes = current.successes() + 1;
            let next = if successes >= self.probes {
                Word::new(CLOSED, self.now_ms())
            } else {
                current.with_successes(successes)
            };
            match self
                .word
                .compare_exchange(current.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if next.state() == CLOSED {
                        self.consecutive.store(0, Ordering::Relaxed);
                        (self.gauge)(BreakerState::Closed);
                        request_event!(
                            tracing::Level::WARN,
                            probes = successes,
                            "{} circuit closed",
                            self.what
                        );
                    }
                    return;
                }
                Err(seen) => current = Word(seen),
            }
        }
    }

    /// A permit ended without an outcome: a half-open probe gives its slot back.
    fn release(&self, period: u64) {
        if Word(period).state() != HALF_OPEN {
            return;
        }
        let mut current = Word(self.word.load(Ordering::Acquire));
        while current.period() == period && current.issued() > 0 {
            let next = current.with_issued(current.issued() - 1);
            match self
                .word
                .compare_exchange(current.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(seen) => current = Word(seen),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(b: &Breaker) {
        let p = b.try_acquire().expect("permit");
        b.record(p, Outcome::Failure);
    }

    fn succeed(b: &Breaker) {
        let p = b.try_acquire().expect("permit");
        b.record(p, Outcome::Success);
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let b = Breaker::new(3, Duration::from_secs(60), 1);
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
        let wait = b.try_acquire().unwrap_err();
        assert!(wait > Duration::from_secs(50), "{wait:?}");
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(3, Duration::from_secs(60), 1);
        fail(&b);
        fail(&b);
        succeed(&b);
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn zero_threshold_disables_the_breaker() {
        let b = Breaker::new(0, Duration::from_millis(1), 1);
        for _ in 0..100 {
            fail(&b);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    fn open_then_wait(probes: u32) -> Breaker {
        let b = Breaker::new(1, Duration::from_millis(1), probes);
        fail(&b);
        assert!(matches!(Word(b.word.load(Ordering::Acquire)).state(), OPEN));
        std::thread::sleep(Duration::from_millis(5));
        b
    }

    #[test]
    fn after_open_ms_a_limited_number_of_probes_go_through() {
        let b = open_then_wait(2);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let p1 = b.try_acquire().unwrap();
        let p2 = b.try_acquire().unwrap();
        assert!(p1.is_probe() && p2.is_probe());
        assert!(b.try_acquire().is_err(), "only two probes at once");
        b.record(p1, Outcome::Success);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(p2, Outcome::Success);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let b = open_then_wait(2);
        let p1 = b.try_acquire().unwrap();
        let p2 = b.try_acquire().unwrap();
        b.record(p1, Outcome::Failure);
        assert!(matches!(Word(b.word.load(Ordering::Acquire)).state(), OPEN));
        // The other probe's late success belongs to the previous period: no effect.
        b.record(p2, Outcome::Success);
        assert!(matches!(Word(b.word.load(Ordering::Acquire)).state(), OPEN));
    }

    #[test]
    fn a_dropped_probe_gives_its_slot_back() {
        let b = open_then_wait(1);
        let p = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
        drop(p);
        let p = b.try_acquire().expect("the slot is free again");
        b.record(p, Outcome::Success);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn late_failures_from_before_opening_do_not_count_in_half_open() {
        let b = Breaker::new(2, Duration::from_millis(1), 1);
        let late = b.try_acquire().unwrap();
        fail(&b);
        fail(&b);
        std::thread::sleep(Duration::from_millis(5));
        let probe = b.try_acquire().unwrap();
        b.record(late, Outcome::Failure);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(probe, Outcome::Success);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn threads_share_one_breaker() {
        let b = std::sync::Arc::new(Breaker::new(100, Duration::from_secs(60), 1));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        if let Ok(p) = b.try_acquire() {
                            b.record(p, Outcome::Failure);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.state(), BreakerState::Open);
    }
}
