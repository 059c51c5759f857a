//! GCRA (the generic cell rate algorithm) over a key's theoretical arrival time (TAT), in
//! milliseconds since the Unix epoch: the same arithmetic here (one replica) and in the Redis
//! script (all replicas), so a count means the same wherever it is kept.
//!
//! A budget of `max` events per `window`: each event moves the TAT by `T = window / max`; an
//! event at `now` fits when `TAT <= now + (max - 1) * T`. A lockout pushes the TAT so that no
//! event fits for the lockout's length. `governor` does the same arithmetic but can neither
//! forget one key (a successful sign-in clears its failures) nor share its state, so the
//! dozen lines are here.

use std::time::Duration;

use crate::options::sign_in::Budget;

/// A budget's numbers, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Emission interval: the time one event takes from the budget.
    pub interval_ms: u64,
    /// Burst tolerance: `(max - 1) * interval`.
    pub tolerance_ms: u64,
    /// Added when the budget is spent, for lockout budgets (0: none).
    pub lockout_ms: u64,
}

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

    /// How long an event at `now` must wait with the key at `tat` (0: it fits).
    pub fn wait(&self, tat: u64, now: u64) -> u64 {
        tat.saturating_sub(now.saturating_add(self.tolerance_ms))
    }

    /// The TAT after an event at `now` (which fits): with a lockout, a spent budget refuses
    /// for the lockout's length.
    pub fn after(&self, tat: u64, now: u64) -> u64 {
        let next = tat.max(now) + self.interval_ms;
        if self.lockout_ms > 0 && self.wait(next, now) > 0 {
            now + self.tolerance_ms + self.lockout_ms
        } else {
            next
        }
    }

    /// How long a key must be kept after `now` to remember `tat`.
    pub fn keep_ms(tat: u64, now: u64) -> u64 {
        tat.saturating_sub(now).max(1)
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
        let mut tat = 0;
        let now = 1_000_000;
        for _ in 0..3 {
            assert_eq!(r.wait(tat, now), 0);
            tat = r.after(tat, now);
        }
        assert_eq!(r.wait(tat, now), 200_000, "one cell: 600 s / 3");
        assert_eq!(r.wait(tat, now + 200_000), 0);
    }

    #[test]
    fn a_lockout_budget_refuses_for_the_lockout_once_spent() {
        let r = rate(5, 600, 600);
        let mut tat = 0;
        let now = 1_000_000;
        for i in 0..5 {
            assert_eq!(r.wait(tat, now), 0, "failure {i}");
            tat = r.after(tat, now);
        }
        assert_eq!(r.wait(tat, now), 600_000, "locked for 10 minutes");
        assert_eq!(r.wait(tat, now + 600_000), 0);
    }

    #[test]
    fn events_spread_over_the_window_never_spend_the_budget() {
        let r = rate(5, 600, 600);
        let mut tat = 0;
        for i in 0..50u64 {
            let now = 1_000_000 + i * 120_000;
            assert_eq!(r.wait(tat, now), 0, "event {i}");
            tat = r.after(tat, now);
        }
    }
}
