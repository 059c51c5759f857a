//! Error types, as plain types. Each says where it came from and, for upstream failures,
//! whether a retry is safe. Their HTTP answers are in [`crate::web::errors`].

use std::time::Duration;

use crate::core::client::BadHost;

/// A configuration was refused; names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The option at fault (`base_url`, `retry.max_attempts`, `headers.X-Api-Key`, ...).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// An upstream request failed after the retry policy ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made (nothing was sent).
    #[error("upstream unreachable after {attempts} attempt(s)")]
    Unreachable {
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed after the request was (maybe) sent: reset, bad response.
    #[error("upstream connection failed after {attempts} attempt(s)")]
    Broken {
        /// Attempts made.
        attempts: u32,
    },
    /// An attempt timed out and could not be retried, or the whole-request deadline passed.
    #[error("upstream timed out after {attempts} attempt(s)")]
    Timeout {
        /// Attempts made.
        attempts: u32,
    },
    /// The upstream's response body was larger than `max_response_bytes`.
    #[error("upstream response too large")]
    ResponseTooLarge,
    /// The TLS handshake with the upstream failed (untrusted or invalid certificate, client
    /// certificate refused); nothing was sent and a retry would fail the same way.
    #[error("upstream TLS handshake failed after {attempts} attempt(s)")]
    Tls {
        /// Attempts made.
        attempts: u32,
    },
    /// The circuit breaker is open: refused without touching the network (nothing was sent).
    #[error("upstream circuit open")]
    CircuitOpen {
        /// When to try again (`Retry-After`).
        retry_after: Duration,
    },
    /// Too many requests already at the upstream (`upstream.max_in_flight`): shed before
    /// anything was sent.
    #[error("upstream overloaded: too many requests in flight")]
    Overloaded {
        /// When to try again (`Retry-After`).
        retry_after: Duration,
    },
}

impl UpstreamError {
    /// Attempts made before giving up.
    pub fn attempts(&self) -> u32 {
        match self {
            UpstreamError::Unreachable { attempts }
            | UpstreamError::Broken { attempts }
            | UpstreamError::Timeout { attempts }
            | UpstreamError::Tls { attempts } => *attempts,
            UpstreamError::ResponseTooLarge => 1,
            UpstreamError::CircuitOpen { .. } | UpstreamError::Overloaded { .. } => 0,
        }
    }

    /// Whether the proxy refused the request itself (breaker or load shedding): nothing was
    /// sent upstream.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            UpstreamError::CircuitOpen { .. } | UpstreamError::Overloaded { .. }
        )
    }
}

/// The session store (the adapter's database) could not answer a lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had (refused, authentication failed, pool exhausted).
    #[error("session store unavailable")]
    Unavailable,
    /// The lookup took longer than `statement_timeout_ms`.
    #[error("session store timed out")]
    Timeout,
    /// The query failed (a missing table or column, a type the store can not read).
    #[error("session store query failed")]
    Query,
    /// The store's circuit breaker is open: refused without touching the network.
    #[error("session store circuit open")]
    CircuitOpen {
        /// When to try again (`Retry-After`).
        retry_after: Duration,
    },
}

/// Errors of the session helpers (`get_server_session`, `get_token`) and extractors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No configuration has been accepted yet.
    #[error("auth proxy runtime is not configured")]
    Unconfigured,
    /// The runtime was not registered with the app (`authjs_proxy::configure` missing).
    #[error("auth proxy runtime is not registered with this app")]
    NotMounted,
    /// Local decoding was asked for without a secret.
    #[error("no secret configured: configure a secret or ask for the raw token")]
    NoSecret,
    /// The upstream could not answer.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// An actor stopped (shutdown in progress).
    #[error("auth proxy actor unavailable")]
    ActorGone,
    /// Claims were asked for, but sessions use the `database` strategy.
    #[error("token claims need the jwt session strategy")]
    NotJwt,
    /// The upstream's session route answered something other than a 200 with a JSON object
    /// or `null`: neither a session nor "signed out".
    #[error("auth upstream gave no usable session answer (status {status})")]
    BadSessionAnswer {
        /// The upstream's status.
        status: u16,
    },
    /// The request's `Host` (or absolute-form authority) is not a valid `host[:port]`.
    #[error("invalid Host header")]
    BadHost,
    /// The session store could not answer, nor the fallback source.
    #[error(transparent)]
    SessionStore(#[from] StoreError),
    /// No session (used by the `Session` extractor).
    #[error("not signed in")]
    Unauthenticated,
}

impl From<BadHost> for AuthError {
    fn from(_: BadHost) -> Self {
        AuthError::BadHost
    }
}
