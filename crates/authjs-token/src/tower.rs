//! A tower middleware that decodes the Auth.js session once per request (feature `tower`).
//!
//! [`SessionLayer`] wraps any [`Service`] taking an [`http::Request`] (hyper, axum, tonic,
//! tower-http stacks): before calling it, it reads the request's session as
//! [`SessionConfig`] says and, when the session is valid, puts its [`Claims`] in the
//! request's extensions (`request.extensions().get::<Claims>()`). An anonymous request (no
//! token, or a token that does not decode: malformed, expired, made with another secret)
//! goes through without claims. Decoding is synchronous and done in `call`, so the inner
//! service's future is returned as it is.
//!
//! [`SessionLayer::require`] refuses anonymous requests instead: it answers `401` with
//! [`UNAUTHORIZED_BODY`](crate::UNAUTHORIZED_BODY) (`content-type: application/json`,
//! `WWW-Authenticate: Bearer`) without calling the inner service. To build that answer the
//! response body type must implement `From<&'static str>`, as axum's `Body`,
//! `http_body_util::Full<Bytes>`, `String`, `Vec<u8>` and `Bytes` do; a service with another
//! body type (a boxed body, tonic's) can map its body first (tower-http's `MapResponseBody`)
//! or use the pass-through layer and check the extensions itself. No runtime, no boxing: the
//! refusal is a ready value in [`ResponseFuture`].
//!
//! With the `axum` feature, the `authjs_token::axum::Session` extractor uses the claims
//! the layer found instead of decoding again.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use authjs_token::tower::SessionLayer;
//! use authjs_token::{Claims, Decoder, SessionConfig};
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! let config = SessionConfig::new(Decoder::new(["my AUTH_SECRET"]));
//! let hello = service_fn(|request: Request<()>| async move {
//!     let who = match request.extensions().get::<Claims>() {
//!         Some(claims) => claims.sub().unwrap_or("?").to_owned(),
//!         None => "anonymous".to_owned(),
//!     };
//!     Ok::<_, Infallible>(Response::new(format!("hello {who}")))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(SessionLayer::new(config.clone()))
//!     .service(hello.clone());
//!
//! let token = authjs_token::encode(
//!     &serde_json::json!({ "sub": "u1" }),
//!     "my AUTH_SECRET",
//!     "authjs.session-token",
//!     3600,
//! )?;
//! let signed_in = Request::get("/")
//!     .header("cookie", format!("authjs.session-token={token}"))
//!     .body(())?;
//! let response = block_on(service.clone().oneshot(signed_in))?;
//! assert_eq!(response.body(), "hello u1");
//! let response = block_on(service.oneshot(Request::get("/").body(())?))?;
//! assert_eq!(response.body(), "hello anonymous");
//!
//! // Signed-in requests only.
//! let guarded = SessionLayer::new(config).require().layer(hello);
//! let response = block_on(guarded.oneshot(Request::get("/").body(())?))?;
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.body(), authjs_token::UNAUTHORIZED_BODY);
//! # use tower::Layer;
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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

#[cfg(doc)]
use crate::Claims;
use crate::SessionConfig;
use crate::session::{record, unauthorized};

/// Mode of [`SessionLayer`] and [`SessionService`]: anonymous requests go through (without
/// [`Claims`] in their extensions). The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAnonymous;

/// Mode of [`SessionLayer`] and [`SessionService`]: anonymous requests are answered `401`
/// without calling the inner service ([`SessionLayer::require`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireSession;

/// A [`Layer`] that decodes each request's session and puts its [`Claims`] in the request's
/// extensions; with [`SessionLayer::require`], that also refuses anonymous requests. `Debug`
/// shows the configuration, never a key.
///
/// ```
/// use authjs_token::{Decoder, SessionConfig, tower::SessionLayer};
///
/// let layer = SessionLayer::new(SessionConfig::new(Decoder::new(["s"])).secure(true));
/// let router: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hi" }))
///     .layer(layer);
/// ```
#[derive(Debug, Clone)]
pub struct SessionLayer<M = AllowAnonymous> {
    config: SessionConfig,
    mode: M,
}

impl SessionLayer {
    /// A layer that lets anonymous requests through.
    ///
    /// ```
    /// # use authjs_token::{Decoder, tower::SessionLayer};
    /// let layer = SessionLayer::new(Decoder::new(["s"]));
    /// assert!(!layer.config().is_secure());
    /// ```
    pub fn new(config: impl Into<SessionConfig>) -> Self {
        SessionLayer {
            config: config.into(),
            mode: AllowAnonymous,
        }
    }

    /// The same layer refusing anonymous requests: `401` with the JSON body, the inner service
    /// not called. The response body type must implement `From<&'static str>` (see the
    /// [module docs](self)).
    ///
    /// ```
    /// # use authjs_token::{Decoder, tower::SessionLayer};
    /// let layer = SessionLayer::new(Decoder::new(["s"])).require();
    /// let router: axum::Router = axum::Router::new()
    ///     .route("/private", axum::routing::get(|| async { "secret" }))
    ///     .layer(layer);
    /// ```
    pub fn require(self) -> SessionLayer<RequireSession> {
        SessionLayer {
            config: self.config,
            mode: RequireSession,
        }
    }
}

impl<M> SessionLayer<M> {
    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }
}

impl<S, M: Clone> Layer<S> for SessionLayer<M> {
    type Service = SessionService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            config: self.config.clone(),
            _mode: self.mode.clone(),
        }
    }
}

/// The [`Service`] [`SessionLayer`] makes: decodes the session, records it in the request's
/// extensions, then calls the inner service (or, in [`RequireSession`] mode without a
/// session, answers `401`).
#[derive(Debug, Clone)]
pub struct SessionService<S, M = AllowAnonymous> {
    inner: S,
    config: SessionConfig,
    /// The mode is in the type; the field keeps it in `Debug`.
    _mode: M,
}

impl<S, M> SessionService<S, M> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody> Service<Request<ReqBody>> for SessionService<S, AllowAnonymous>
where
    S: Service<Request<ReqBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let verdict = self.config.session(request.headers());
        record(request.extensions_mut(), verdict);
        self.inner.call(request)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S, RequireSession>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<&'static str>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let verdict = self.config.session(request.headers());
        let state = if record(request.extensions_mut(), verdict) {
            State::Inner {
                future: self.inner.call(request),
            }
        } else {
            State::Refused {
                response: Some(unauthorized()),
            }
        };
        ResponseFuture { state }
    }
}

pin_project! {
    /// The future of [`SessionService`] in [`RequireSession`] mode: the inner service's, or
    /// the ready `401` answer.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response<B>> },
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Inner { .. } => "inner",
            State::Refused { .. } => "refused",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
        }
    }
}
