//! Staying up when the upstream does not: a circuit breaker ([`breaker`]), a retry budget
//! ([`budget`]) and a bound on requests in flight ([`limiter`]).
//!
//! One [`Resilience`] belongs to one configuration generation: it is built with the
//! [`crate::runtime::Snapshot`] snapshot and shared (in an `Arc`) by every worker thread,
//! so a new configuration starts with a closed breaker, a full budget and no requests counted.
//! The hot path touches atomics only.

pub mod breaker;
pub mod budget;
pub mod limiter;

use std::time::Duration;

use serde::Serialize;

pub use breaker::{Breaker, BreakerState};
pub use budget::RetryBudget;
pub use limiter::InFlightLimit;

/// The upstream protections of one configuration generation.
#[derive(Debug)]
pub struct Resilience {
    /// Fails fast while the upstream is known to be down.
    pub breaker: Breaker,
    /// Bounds how much load retries add.
    pub budget: RetryBudget,
    /// Bounds how many requests are at the upstream at once.
    pub in_flight: InFlightLimit,
}

/// What the readiness check reports about the upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamHealth {
    /// The breaker's state.
    pub breaker: BreakerState,
    /// Requests at the upstream now.
    pub in_flight: usize,
    /// The limit (`upstream.max_in_flight`; 0 = none).
    pub max_in_flight: usize,
    /// The most requests seen at the upstream at once since this configuration applied.
    pub peak_in_flight: usize,
}

impl UpstreamHealth {
    /// Whether the proxy can currently send requests upstream (the breaker is not open).
    pub fn ready(&self) -> bool {
        self.breaker != BreakerState::Open
    }
}

impl Resilience {
    /// Protections with the given settings (already validated).
    pub fn new(breaker: Breaker, budget: RetryBudget, in_flight: InFlightLimit) -> Self {
        Resilience {
            breaker,
            budget,
            in_flight,
        }
    }

    /// The current state, for `/healthz` and `/readyz`.
    pub fn health(&self) -> UpstreamHealth {
        UpstreamHealth {
            breaker: self.breaker.state(),
            in_flight: self.in_flight.current(),
            max_in_flight: self.in_flight.max(),
            peak_in_flight: self.in_flight.peak(),
        }
    }
}

/// A `Retry-After` value in whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(4200)), 5);
    }
}
