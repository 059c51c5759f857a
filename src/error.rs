//! Error types. Each says where it came from and, for upstream failures, whether a retry is safe.

use std::time::Duration;

use actix_web::http::{StatusCode, header};

use crate::resilience::retry_after_secs;
use actix_web::{HttpResponse, ResponseError};

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

impl ResponseError for UpstreamError {
    fn status_code(&self) -> StatusCode {
        match self {
            UpstreamError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::CircuitOpen { .. } | UpstreamError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let msg = match self {
            UpstreamError::Unreachable { .. } => "auth upstream unreachable",
            UpstreamError::Broken { .. } => "auth upstream connection failed",
            UpstreamError::Timeout { .. } => "auth upstream timed out",
            UpstreamError::ResponseTooLarge => "auth upstream response too large",
            UpstreamError::Tls { .. } => "auth upstream TLS handshake failed",
            UpstreamError::CircuitOpen { retry_after }
            | UpstreamError::Overloaded { retry_after } => {
                let mut res = json_error(self.status_code(), "auth upstream unavailable");
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from(retry_after_secs(*retry_after)),
                );
                return res;
            }
        };
        json_error(self.status_code(), msg)
    }
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
    /// No session (used by the `Session` extractor).
    #[error("not signed in")]
    Unauthenticated,
}

impl From<crate::http::headers::BadHost> for AuthError {
    fn from(_: crate::http::headers::BadHost) -> Self {
        AuthError::BadHost
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Unconfigured | AuthError::ActorGone => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::NotMounted | AuthError::NoSecret | AuthError::NotJwt => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            AuthError::Upstream(e) => e.status_code(),
            AuthError::BadSessionAnswer { status: 503 } => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::BadSessionAnswer { .. } => StatusCode::BAD_GATEWAY,
            AuthError::BadHost => StatusCode::BAD_REQUEST,
            AuthError::Unauthenticated => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AuthError::Upstream(e) => e.error_response(),
            other => json_error(other.status_code(), &other.to_string()),
        }
    }
}

/// `{"error": msg}` with `status`, plus `"request_id"` inside the request-id middleware.
pub fn json_error(status: StatusCode, msg: &str) -> HttpResponse {
    match crate::http::request_id::current() {
        Some(id) => HttpResponse::build(status)
            .json(serde_json::json!({ "error": msg, "request_id": id.as_str() })),
        None => HttpResponse::build(status).json(serde_json::json!({ "error": msg })),
    }
}
