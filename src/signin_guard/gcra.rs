//! GCRA (the generic cell rate algorithm) with lockouts, in milliseconds since the Unix epoch:
//! the same arithmetic here (one replica) and in the Redis script (all replicas), so a count
//! means the same wherever it is kept.
//!
//! A key's [`State`] is its theoretical arrival time (TAT) and the end of its lockout. A budget
//! of `max` events per `window` moves the TAT by `T = window / max` per event; an event at
//! `now` fits when `TAT <= now + (max - 1) * T` and no lockout runs. A sign-in *reserves* its
//! event before it is forwarded (so concurrent attempts can not all pass one check), then
//! *settles*: a failure keeps it and, on a lockout budget it spent, locks for the lockout's
//! length and starts afresh after it; anything else *refunds* it.
//!
//! `governor` does the plain arithmetic but can neither lock out, refund, forget one key (a
//! successful sign-in clears its failures) nor share its state, so these lines are here.

use std::time::Duration;

use crate::options::sign_in::Budget;

/// A budget's numbers, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Emission interval: the time one event takes from the budget.
    pub interval_ms: u64,
    /// Burst tolerance: `(max - 1) * interval`.
    pub tolerance_ms: u64,
    /// How long a spent lockout budget refuses (0: not a lockout budget).
    pub lockout_ms: u64,
}

/// A key's state: `(TAT, lockout end)`, both in ms since the epoch (0: none).
pub type State = (u64, u64);

impl Rate {
    /// The rate of `budget`, with `lockout` when it is a lockout budget.
    pub fn of(budget: Budget, lockout: Duration) -> Rate {
        let interval_ms = (budget.window_s * 1000 / u64::from(budget.max.max(1))).max(1);
        Rate {
            interval_ms,
            tolerance_ms: interval_ms * u64::from(budget.max.saturating_sub(1)),
            lockout_ms: u64::try_from(lockout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// How long an event at `now` must wait (0: it fits), never longer than the budget's
    /// window plus its lockout (whatever a store says).
    pub fn wait(&self, (tat, locked_until): State, now: u64) -> u64 {
        let wait = tat
            .saturating_sub(now.saturating_add(self.tolerance_ms))
            .max(locked_until.saturating_sub(now));
        wait.min(self.interval_ms + self.tolerance_ms + self.lockout_ms)
    }

    /// The state after reserving an event at `now` (which fits).
    pub fn reserve(&self, (tat, locked_until): State, now: u64) -> State {
        (tat.max(now) + self.interval_ms, locked_until)
    }

    /// The state after a reserved event turned out a failure: a lockout budget it spent locks
    /// for the lockout's length, and is whole again afterwards.
    pub fn fail(&self, (tat, locked_until): State, now: u64) -> State {
        if self.lockout_ms > 0 && tat > now.saturating_add(self.tolerance_ms) {
            (now, now + self.lockout_ms)
        } else {
            (tat, locked_until)
        }
    }

    /// The state after a reserved event turned out not to count.
    pub fn refund(&self, (tat, locked_until): State) -> State {
        (tat.saturating_sub(self.interval_ms), locked_until)
    }

    /// How long a store must keep `state` after `now` for it to matter.
    pub fn keep_ms(&self, (tat, locked_until): State, now: u64) -> u64 {
        tat.max(locked_until).saturating_sub(now).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(max: u32, window_s: u64, lockout_s: u64) -> Rate {
        Rate::of(Budget { max, window_s }, Duration::from_secs(lockout_s))
    }

    #[test]
    fn a_budget_allows_its_burst_then_refuses_until_a_cell_refills() {
        let r = rate(3, 600, 0);
        let (mut s, now) = ((0, 0), 1_000_000);
        for _ in 0..3 {
            assert_eq!(r.wait(s, now), 0);
            s = r.reserve(s, now);
        }
        assert_eq!(r.wait(s, now), 200_000, "one cell: 600 s / 3");
        assert_eq!(r.wait(s, now + 200_000), 0);
    }

    #[test]
    fn a_lockout_budget_refuses_for_the_lockout_once_failures_spend_it() {
        let r = rate(5, 600, 600);
        let (mut s, now) = ((0, 0), 1_000_000);
        for i in 0..5 {
            assert_eq!(r.wait(s, now), 0, "failure {i}");
            s = r.fail(r.reserve(s, now), now);
        }
        assert_eq!(r.wait(s, now), 600_000, "locked for 10 minutes");
        assert_eq!(r.wait(s, now + 600_000), 0);
    }

    #[test]
    fn after_a_lockout_the_whole_budget_is_back() {
        let r = rate(5, 600, 600);
        let (mut s, now) = ((0, 0), 1_000_000);
        for _ in 0..5 {
            s = r.fail(r.reserve(s, now), now);
        }
        let later = now + 600_000;
        for i in 0..4 {
            assert_eq!(r.wait(s, later), 0, "failure {i} after the lockout");
            s = r.fail(r.reserve(s, later), later);
            assert_eq!(r.wait(s, later), 0, "not locked again after {i}");
        }
    }

    #[test]
    fn a_refunded_reservation_costs_nothing() {
        let r = rate(2, 600, 600);
        let (mut s, now) = ((0, 0), 1_000_000);
        for _ in 0..10 {
            s = r.refund(r.reserve(s, now));
        }
        assert_eq!(r.wait(s, now), 0);
    }

    #[test]
    fn events_spread_over_the_window_never_spend_the_budget() {
        let r = rate(5, 600, 600);
        let mut s = (0, 0);
        for i in 0..50u64 {
            let now = 1_000_000 + i * 120_000;
            assert_eq!(r.wait(s, now), 0, "event {i}");
            s = r.fail(r.reserve(s, now), now);
        }
    }

    #[test]
    fn a_forged_state_can_not_refuse_past_the_window_and_lockout() {
        let r = rate(5, 600, 600);
        assert_eq!(r.wait((u64::MAX, u64::MAX), 1_000), 1_200_000);
    }
}
