//! Request ids and the access log: an actix-web middleware ([`RequestIds`], or [`middleware`]
//! with `from_fn`).
//!
//! * `X-Request-Id` is kept from the client when it is a sane token (1 to
//!   [`MAX_REQUEST_ID_LEN`] visible ASCII characters), otherwise generated. It replaces the
//!   request's header (so it travels upstream), is returned to the client, names the `request`
//!   span authjs-proxy's own lines for the request are written in (made when a line is
//!   written, see [`in_request_span`]), and appears in JSON error bodies.
//! * One access line per request at info: method, route template, status, duration, upstream
//!   attempts; never the path, query string, cookies or header values.
//! * `requests_total` / `request_duration_seconds` are recorded here.
//!
//! ```no_run
//! use actix_web::App;
//! use authjs_proxy::http::request_id::RequestIds;
//! # let proxy = authjs_proxy::AuthProxy::start();
//! let app = App::new()
//!     .wrap(RequestIds)
//!     .configure(authjs_proxy::configure(proxy));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};

use tokio::task::futures::TaskLocalFuture;

use crate::admin::metrics;
use crate::http::routes::Action;

/// `X-Request-Id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-sent request id that is kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A request's id: a sane client token or a generated UUID.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The client's id when sane, else a new one.
    pub fn from_client(sent: Option<&HeaderValue>) -> Self {
        match sent {
            Some(v) if is_sane(v.as_bytes()) => RequestId(v.clone()),
            _ => Self::generate(),
        }
    }

    /// A new random id (UUID v4 layout). Ids only need to be unique, not unpredictable: they
    /// come from a per-thread SplitMix64 stream seeded by the OS, so no system call per request.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&next_random().to_le_bytes());
        bytes[8..].copy_from_slice(&next_random().to_le_bytes());
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid.hyphenated().encode_lower(&mut buf);
        RequestId(HeaderValue::from_str(id).expect("a UUID is a valid header value"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII gets in.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

thread_local! {
    static RANDOM_STATE: std::cell::Cell<u64> = std::cell::Cell::new(seed());
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: time and thread still make streams distinct.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let thread = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::thread::current().id(),
        );
        return nanos ^ thread;
    }
    u64::from_le_bytes(b)
}

/// SplitMix64 (Steele, Lea, Flood 2014).
fn next_random() -> u64 {
    RANDOM_STATE.with(|state| {
        let mut z = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters (no spaces, no control characters).
///
/// # Examples
/// ```
/// use authjs_proxy::http::request_id::is_sane;
/// assert!(is_sane(b"req-42_a.b"));
/// assert!(!is_sane(b"two words"));
/// assert!(!is_sane(b""));
/// ```
pub fn is_sane(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
}

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of the request being handled, inside [`middleware`].
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// What a handler tells the access log and metrics about its request: the route template it
/// answered (`auth/session`, `auth/callback/{provider}`; paths are never used as labels) and
/// the upstream attempts it made. One request extension for both.
#[derive(Debug, Clone, Default)]
pub struct RequestNotes {
    /// The route template, when the handler named one.
    pub route: Option<Cow<'static, str>>,
    /// Upstream attempts made for the request.
    pub attempts: u32,
}

/// The route template of an Auth.js route suffix (`callback/github` → `auth/callback/{provider}`).
pub fn auth_route_template(action: Action, suffix: &str) -> &'static str {
    let provider = suffix.contains('/');
    match action {
        Action::Providers => "auth/providers",
        Action::Session => "auth/session",
        Action::Csrf => "auth/csrf",
        Action::Signin if provider => "auth/signin/{provider}",
        Action::Signin => "auth/signin",
        Action::Signout => "auth/signout",
        Action::Callback => "auth/callback/{provider}",
        Action::VerifyRequest => "auth/verify-request",
        Action::Error => "auth/error",
        Action::WebauthnOptions => "auth/webauthn-options/{provider}",
    }
}

/// Records the route template of `req` (see [`RequestNotes`]).
pub fn note_route(req: &HttpRequest, route: &'static str) {
    req.extensions_mut()
        .get_or_insert_with(RequestNotes::default)
        .route = Some(Cow::Borrowed(route));
}

/// Records how many upstream attempts `req` took (see [`RequestNotes`]).
pub fn note_attempts(req: &HttpRequest, attempts: u32) {
    req.extensions_mut()
        .get_or_insert_with(RequestNotes::default)
        .attempts = attempts;
}

/// Runs `fut` as the work of the request with this `X-Request-Id` (work handed to an actor on
/// another thread), so its log lines carry the id too.
pub async fn scoped_by<F: std::future::Future>(id: Option<HeaderValue>, fut: F) -> F::Output {
    match id {
        Some(id) if is_sane(id.as_bytes()) => CURRENT.scope(RequestId(id), fut).await,
        _ => fut.await,
    }
}

/// Runs `log` in the `request` span of `id`: the span every line of a request is written in
/// (`request{request_id=...}` in text, `"span":{"request_id":...}` in JSON).
pub fn in_span_of<R>(id: &RequestId, log: impl FnOnce() -> R) -> R {
    tracing::error_span!("request", request_id = %id).in_scope(log)
}

/// Runs `log` in the span of the request being handled, if any (see [`in_span_of`]).
///
/// The span is made only when a line is written: a request span entered around every poll of
/// every request costs more than the rest of the request's logging put together, for lines
/// that are almost never written. Use it through `request_event!`.
pub fn in_request_span<R>(log: impl FnOnce() -> R) -> R {
    match CURRENT.try_with(Clone::clone) {
        Ok(id) => in_span_of(&id, log),
        Err(_) => log(),
    }
}

/// `tracing::event!` in the span of the request being handled: `request_event!(Level::WARN,
/// field = value, "message")`. Nothing is built unless the level is enabled.
macro_rules! request_event {
    ($level:expr, $($arg:tt)+) => {
        if tracing::enabled!($level) {
            $crate::http::request_id::in_request_span(|| tracing::event!($level, $($arg)+));
        }
    };
}
pub(crate) use request_event;

/// The route label and upstream attempts of an answered request.
fn notes_of(req: &HttpRequest) -> (Cow<'static, str>, u32) {
    let (route, attempts) = match req.extensions().get::<RequestNotes>() {
        Some(notes) => (notes.route.clone(), notes.attempts),
        None => (None, 0),
    };
    let route = route.unwrap_or_else(|| match req.match_pattern() {
        Some(p) if !p.is_empty() => Cow::Owned(p),
        _ => Cow::Borrowed("unmatched"),
    });
    (route, attempts)
}

/// What the middleware keeps of a request between its start and its answer.
struct Begun {
    id: RequestId,
    method: &'static str,
    started: Instant,
}

impl Begun {
    /// Settles the request's id (and puts it in the request's headers, so it travels upstream).
    fn start(req: &mut ServiceRequest) -> Self {
        let started = Instant::now();
        let id = RequestId::from_client(req.headers().get(X_REQUEST_ID));
        req.headers_mut()
            .insert(X_REQUEST_ID, id.header_value().clone());
        Begun {
            id,
            method: metrics::method_label(req.method()),
            started,
        }
    }

    /// The access line, the request metrics and the id on the answer.
    fn finish<B>(
        self,
        result: Result<ServiceResponse<B>, actix_web::Error>,
    ) -> Result<ServiceResponse<B>, actix_web::Error> {
        let Begun {
            id,
            method,
            started,
        } = self;
        let took = started.elapsed();
        let (status, route, attempts) = match &result {
            Ok(res) => {
                let (route, attempts) = notes_of(res.request());
                (res.status().as_u16(), route, attempts)
            }
            Err(e) => (
                e.as_response_error().status_code().as_u16(),
                Cow::Borrowed("unmatched"),
                0,
            ),
        };
        if tracing::enabled!(target: "authjs_proxy::access", tracing::Level::INFO) {
            in_span_of(&id, || {
                tracing::info!(
                    target: "authjs_proxy::access",
                    method,
                    route = %route,
                    status,
                    duration_ms = took.as_secs_f64() * 1000.0,
                    upstream_attempts = attempts,
                    "request"
                );
            });
        }
        metrics::request(route, method, status, took);
        let mut res = result?;
        res.headers_mut().insert(X_REQUEST_ID, id.0);
        Ok(res)
    }
}

/// The middleware as a function, for `actix_web::middleware::from_fn`: request id, access log
/// line and request metrics. The id is the task-local [`current`] of the request's future;
/// lines logged through `request_event!` are written in its span. [`RequestIds`] does the
/// same without `from_fn`'s boxed future per request.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let begun = Begun::start(&mut req);
    let result = CURRENT.scope(begun.id.clone(), next.call(req)).await;
    begun.finish(result)
}

/// The request-id middleware as an actix-web `Transform`: `App::new().wrap(RequestIds)`.
/// Same behaviour as [`middleware`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIds;

impl<S, B> Transform<S, ServiceRequest> for RequestIds
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestIdService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestIdService { service }))
    }
}

/// The service [`RequestIds`] wraps around an app.
#[derive(Debug)]
pub struct RequestIdService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for RequestIdService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = RequestIdFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let begun = Begun::start(&mut req);
        RequestIdFuture {
            inner: CURRENT.scope(begun.id.clone(), self.service.call(req)),
            begun: Some(begun),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer under [`RequestIds`].
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: TaskLocalFuture<RequestId, F>,
        begun: Option<Begun>,
    }
}

impl<F, B> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        match this.begun.take() {
            Some(begun) => Poll::Ready(begun.finish(result)),
            // Only if polled again after its answer, which the inner future refuses first.
            None => Poll::Ready(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_routes_are_labelled_by_template() {
        assert_eq!(
            auth_route_template(Action::Callback, "callback/github"),
            "auth/callback/{provider}"
        );
        assert_eq!(auth_route_template(Action::Signin, "signin"), "auth/signin");
        assert_eq!(
            auth_route_template(Action::Signin, "signin/github"),
            "auth/signin/{provider}"
        );
    }

    #[test]
    fn generated_ids_are_distinct_v4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| RequestId::generate().as_str().to_owned())
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(5) {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
        }
    }

    #[test]
    fn a_sane_client_id_is_kept() {
        let sent = HeaderValue::from_static("abc-123");
        assert_eq!(RequestId::from_client(Some(&sent)).as_str(), "abc-123");
    }

    #[test]
    fn an_oversized_or_odd_client_id_is_replaced() {
        let long = HeaderValue::from_str(&"a".repeat(MAX_REQUEST_ID_LEN + 1)).unwrap();
        let spaced = HeaderValue::from_static("a b");
        let high = HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap();
        for sent in [long, spaced, high] {
            let id = RequestId::from_client(Some(&sent));
            assert_ne!(id.header_value(), &sent);
            assert_eq!(id.as_str().len(), 36, "a generated UUID");
        }
    }
}
