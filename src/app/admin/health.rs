//! Liveness and readiness.
//!
//! [`readiness`] is a pure function of what decides it; [`Health`] holds the process-wide
//! inputs (draining after SIGTERM, the upstream circuit breaker when one is attached).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use serde::Serialize;

/// Why the service is not ready to take traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum NotReady {
    /// No configuration has been accepted yet.
    #[error("no configuration accepted yet")]
    Unconfigured,
    /// SIGTERM received: the service finishes what it has and stops.
    #[error("shutting down")]
    Draining,
    /// The upstream circuit breaker is open: requests would be refused.
    #[error("upstream circuit breaker open")]
    BreakerOpen,
}

/// Ready when configured, not draining and the breaker (if any) is not open.
///
/// # Examples
/// ```
/// use authjs_proxy::admin::health::{NotReady, readiness};
/// assert_eq!(readiness(true, false, None), Ok(()));
/// assert_eq!(readiness(true, false, Some(true)), Err(NotReady::BreakerOpen));
/// assert_eq!(readiness(true, true, Some(false)), Err(NotReady::Draining));
/// ```
pub fn readiness(
    configured: bool,
    draining: bool,
    breaker_open: Option<bool>,
) -> Result<(), NotReady> {
    if !configured {
        Err(NotReady::Unconfigured)
    } else if draining {
        Err(NotReady::Draining)
    } else if breaker_open == Some(true) {
        Err(NotReady::BreakerOpen)
    } else {
        Ok(())
    }
}

/// Tells whether the upstream circuit breaker is open right now.
pub type BreakerProbe = Box<dyn Fn() -> bool + Send + Sync>;

/// Process-wide readiness inputs, shared by the server and the admin listener.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    draining: AtomicBool,
    breaker: OnceLock<BreakerProbe>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("draining", &self.is_draining())
            .field("breaker", &self.breaker_open())
            .finish()
    }
}

impl Health {
    /// Marks the service as draining (SIGTERM received); readiness fails from now on.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Whether SIGTERM was received.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Attaches the upstream circuit breaker (once; later calls are ignored and return
    /// `false`).
    pub fn watch_breaker(&self, is_open: impl Fn() -> bool + Send + Sync + 'static) -> bool {
        self.inner.breaker.set(Box::new(is_open)).is_ok()
    }

    /// The breaker's state: `None` when no breaker is attached.
    pub fn breaker_open(&self) -> Option<bool> {
        self.inner.breaker.get().map(|probe| probe())
    }

    /// [`readiness`] with this process's inputs.
    pub fn check(&self, configured: bool) -> Result<(), NotReady> {
        readiness(configured, self.is_draining(), self.breaker_open())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfigured_comes_first() {
        assert_eq!(
            readiness(false, true, Some(true)),
            Err(NotReady::Unconfigured)
        );
    }

    #[test]
    fn an_attached_breaker_decides_when_open() {
        let health = Health::default();
        assert_eq!(health.check(true), Ok(()));
        let open = Arc::new(AtomicBool::new(false));
        let probe = open.clone();
        assert!(health.watch_breaker(move || probe.load(Ordering::SeqCst)));
        assert_eq!(health.check(true), Ok(()));
        open.store(true, Ordering::SeqCst);
        assert_eq!(health.check(true), Err(NotReady::BreakerOpen));
    }

    #[test]
    fn draining_is_for_good() {
        let health = Health::default();
        health.start_draining();
        assert_eq!(health.check(true), Err(NotReady::Draining));
    }
}
