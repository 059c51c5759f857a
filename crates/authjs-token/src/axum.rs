//! axum extractors for the Auth.js session (feature `axum`).
//!
//! * [`Session`]: the claims of a signed-in request; any other request is answered `401`
//!   with [`UNAUTHORIZED_BODY`](crate::UNAUTHORIZED_BODY) (`{"error":"not signed in"}`,
//!   `content-type: application/json`, `WWW-Authenticate: Bearer`) and the handler is not
//!   called ([`SessionRejection`]).
//! * `Option<Session>`: `None` for an anonymous request, never a rejection. A token that is
//!   present but does not decode (malformed, expired, made with another secret, tampered)
//!   counts as anonymous too, as Auth.js's `auth()` gives no session for it.
//!
//! Both read the [`SessionConfig`] from the router's state through [`FromRef`], the way
//! axum-extra's `PrivateCookieJar` reads its `Key`: pass it as the state, or make it a field
//! of yours (`#[derive(FromRef)]` with axum's `macros` feature, or an `impl FromRef`). The
//! config says which cookie names count (see [`SessionConfig`]).
//!
//! A request is decoded at most once: the verdict is kept in the request's extensions. When
//! `authjs_token::tower::SessionLayer` (feature `tower`) already decoded the request, or other middleware put [`Claims`] in its extensions, the extractors use that
//! verdict and the state's decoder is not consulted.
//!
//! ```
//! use authjs_token::axum::Session;
//! use authjs_token::{Decoder, SessionConfig};
//! use axum::{Router, body::Body, http::Request, http::StatusCode, routing::get};
//! use tower::ServiceExt;
//!
//! async fn me(Session(claims): Session) -> String {
//!     format!("hello {}", claims.name().unwrap_or("?"))
//! }
//!
//! async fn home(session: Option<Session>) -> &'static str {
//!     if session.is_some() { "welcome back" } else { "welcome" }
//! }
//!
//! let config = SessionConfig::new(Decoder::new(["my AUTH_SECRET"]));
//! let app = Router::new()
//!     .route("/me", get(me))
//!     .route("/", get(home))
//!     .with_state(config);
//!
//! let token = authjs_token::encode(
//!     &serde_json::json!({ "sub": "u1", "name": "Ada" }),
//!     "my AUTH_SECRET",
//!     "authjs.session-token",
//!     3600,
//! )?;
//! let signed_in = Request::get("/me")
//!     .header("cookie", format!("authjs.session-token={token}"))
//!     .body(Body::empty())?;
//! let response = block_on(app.clone().oneshot(signed_in))?;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! let anonymous = Request::get("/me").body(Body::empty())?;
//! let response = block_on(app.clone().oneshot(anonymous))?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["content-type"], "application/json");
//!
//! let anonymous = Request::get("/").body(Body::empty())?;
//! assert_eq!(block_on(app.oneshot(anonymous))?.status(), StatusCode::OK);
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop {
//! #         if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
//! #             return out;
//! #         }
//! #     }
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With state of your own:
//!
//! ```
//! use authjs_token::{Decoder, SessionConfig, axum::Session};
//! use axum::extract::FromRef;
//!
//! #[derive(Clone)]
//! struct AppState {
//!     session: SessionConfig,
//!     greeting: &'static str,
//! }
//!
//! impl FromRef<AppState> for SessionConfig {
//!     fn from_ref(state: &AppState) -> Self {
//!         state.session.clone()
//!     }
//! }
//!
//! async fn me(Session(claims): Session, axum::extract::State(state): axum::extract::State<AppState>) -> String {
//!     format!("{} {}", state.greeting, claims.sub().unwrap_or("?"))
//! }
//!
//! let state = AppState {
//!     session: SessionConfig::new(Decoder::new(["s"])).secure(true),
//!     greeting: "hello",
//! };
//! let app: axum::Router = axum::Router::new()
//!     .route("/me", axum::routing::get(me))
//!     .with_state(state);
//! ```

use std::convert::Infallible;
use std::fmt;
use std::ops::Deref;

use axum_core::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use crate::session::{record, recorded, unauthorized};
use crate::{Claims, DecodeError, SessionConfig};

/// Extractor: the claims of the request's Auth.js session. A request without a valid session
/// is refused with [`SessionRejection`] (`401`, JSON); take `Option<Session>` to let anonymous
/// requests in. Derefs to [`Claims`].
///
/// ```
/// use authjs_token::axum::Session;
///
/// async fn me(session: Session) -> String {
///     session.sub().unwrap_or("?").to_owned()
/// }
/// let app: axum::Router<authjs_token::SessionConfig> =
///     axum::Router::new().route("/me", axum::routing::get(me));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Session(pub Claims);

impl Session {
    /// The claims.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"sub":"u1"}"#).unwrap();
    /// let session = authjs_token::axum::Session(claims);
    /// assert_eq!(session.into_claims().sub(), Some("u1"));
    /// ```
    pub fn into_claims(self) -> Claims {
        self.0
    }
}

impl Deref for Session {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// The request's verdict: the one recorded in its extensions, else decoded now with the
/// state's configuration (and recorded).
fn verdict<S>(parts: &mut Parts, state: &S) -> Result<Claims, DecodeError>
where
    SessionConfig: FromRef<S>,
{
    if let Some(verdict) = recorded(&parts.extensions) {
        return verdict;
    }
    let verdict = SessionConfig::from_ref(state).session(&parts.headers);
    record(&mut parts.extensions, verdict.clone());
    verdict
}

impl<S> FromRequestParts<S> for Session
where
    SessionConfig: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        verdict(parts, state)
            .map(Session)
            .map_err(|error| SessionRejection { error })
    }
}

/// `Option<Session>`: `None` when the request has no session cookie nor Bearer token, and
/// also when the token it has does not decode (malformed, expired, wrong secret): such a
/// request is anonymous. Never refuses.
impl<S> OptionalFromRequestParts<S> for Session
where
    SessionConfig: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(verdict(parts, state).ok().map(Session))
    }
}

/// Why [`Session`] refused a request. As a response: `401 Unauthorized`,
/// `content-type: application/json`, `WWW-Authenticate: Bearer` and the body
/// [`UNAUTHORIZED_BODY`](crate::UNAUTHORIZED_BODY), whatever the reason (the client is not
/// told whether its token was missing, expired or forged; [`SessionRejection::error`] tells
/// the server).
///
/// ```
/// use axum::response::IntoResponse;
///
/// let rejection = authjs_token::axum::SessionRejection::from(authjs_token::DecodeError::Expired);
/// assert_eq!(rejection.error(), &authjs_token::DecodeError::Expired);
/// let response = rejection.into_response();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRejection {
    error: DecodeError,
}

impl SessionRejection {
    /// Why the request has no session (for logs; [`DecodeError::Missing`] when it sent no
    /// token).
    pub fn error(&self) -> &DecodeError {
        &self.error
    }
}

impl From<DecodeError> for SessionRejection {
    fn from(error: DecodeError) -> Self {
        SessionRejection { error }
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not signed in: {}", self.error)
    }
}

impl std::error::Error for SessionRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        unauthorized()
    }
}
