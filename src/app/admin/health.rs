//! Liveness and readiness.
//!
//! [`readiness`] is a pure function of what decides it; [`Health`] holds the process-wide
//! input (draining after SIGTERM). Readiness is this replica's own: configured, listening and
//! not draining. The upstream's state (its circuit breaker) is reported next to it, never part
//! of it: when Auth.js is down, a replica still answers JWT decisions and stale sessions, and
//! turning every replica unready at once would only take those away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
}

/// Ready when configured and not draining.
///
/// # Examples
/// ```
/// use authjs_proxy::app::admin::health::{NotReady, readiness};
/// assert_eq!(readiness(true, false), Ok(()));
/// assert_eq!(readiness(false, false), Err(NotReady::Unconfigured));
/// assert_eq!(readiness(true, true), Err(NotReady::Draining));
/// ```
pub fn readiness(configured: bool, draining: bool) -> Result<(), NotReady> {
    if !configured {
        Err(NotReady::Unconfigured)
    } else if draining {
        Err(NotReady::Draining)
    } else {
        Ok(())
    }
}

/// Process-wide readiness inputs, shared by the server and the admin listener.
#[derive(Clone, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Default)]
struct HealthInner {
    draining: AtomicBool,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("draining", &self.is_draining())
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

    /// [`readiness`] with this process's inputs.
    pub fn check(&self, configured: bool) -> Result<(), NotReady> {
        readiness(configured, self.is_draining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfigured_comes_first() {
        assert_eq!(readiness(false, true), Err(NotReady::Unconfigured));
    }

    #[test]
    fn draining_is_for_good() {
        let health = Health::default();
        health.start_draining();
        assert_eq!(health.check(true), Err(NotReady::Draining));
    }
}
