//! The HTTP answers of the error types: status, JSON body, `Retry-After`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};

use crate::core::error::{AuthError, UpstreamError};
use crate::core::response::json_error;
use crate::resilience::retry_after_secs;

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
            AuthError::SessionStore(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AuthError::Upstream(e) => e.error_response(),
            other => json_error(other.status_code(), &other.to_string()),
        }
    }
}
