//! Request ids and the access log: an actix-web middleware ([`RequestIds`], or [`middleware`]
//! with `from_fn`).
//!
//! * `X-Request-Id` is kept from the client when it is a sane token (1 to
//!   [`MAX_REQUEST_ID_LEN`](crate::core::obs::request_id::MAX_REQUEST_ID_LEN) visible ASCII characters), otherwise generated. It replaces the
//!   request's header (so it travels upstream), is returned to the client, names the `request`
//!   span authjs-proxy's own lines for the request are written in (made when a line is
//!   written, see [`in_request_span`]), and appears in JSON error bodies.
//! * One access line per request at info: method, route template, status, duration, upstream
//!   attempts; never the path, query string, cookies or header values.
//! * `requests_total` / `request_duration_seconds` are recorded here.
//! * With tracing on ([`trace`]), the request's span starts here: it continues the caller's
//!   `traceparent` only from a peer in the trust list, and its `trace_id` is on the access line.
//!
//! ```no_run
//! use actix_web::App;
//! use authjs_proxy::web::access_log::RequestIds;
//! # let proxy = authjs_proxy::AuthProxy::start();
//! let app = App::new()
//!     .wrap(RequestIds)
//!     .configure(authjs_proxy::configure(proxy));
//! ```

use std::borrow::Cow;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use tokio::task::futures::TaskLocalFuture;

use crate::core::obs::metrics;
use crate::core::obs::request_id::{
    self, RequestId, RequestNotes, X_REQUEST_ID, in_request_span, in_span_of,
};
use crate::core::obs::trace::{self, RequestTrace, Traced};
use crate::runtime::AuthProxy;

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
    /// The request's trace ([`RequestTrace::Off`] with tracing off).
    trace: RequestTrace,
}

/// The request's trace. The caller's trace is continued only from a trusted peer.
fn request_trace(req: &ServiceRequest, method: &'static str, id: &RequestId) -> RequestTrace {
    // The trust list is read only for a request that carries a trace.
    let trusted = req.headers().contains_key(trace::TRACEPARENT)
        && req
            .app_data::<actix_web::web::Data<AuthProxy>>()
            .and_then(|proxy| proxy.config())
            .is_some_and(|cfg| cfg.trusts(req.peer_addr().map(|a| a.ip())));
    trace::start_request(method, id.header_value(), trusted.then(|| req.headers()))
}

impl Begun {
    /// Settles the request's id (and puts it in the request's headers, so it travels upstream).
    fn start(req: &mut ServiceRequest) -> Self {
        let started = Instant::now();
        let id = RequestId::from_client(req.headers().get(X_REQUEST_ID));
        req.headers_mut()
            .insert(X_REQUEST_ID, id.header_value().clone());
        let method = metrics::method_label(req.method());
        let trace = if trace::enabled() {
            request_trace(req, method, &id)
        } else {
            RequestTrace::Off
        };
        Begun {
            id,
            method,
            started,
            trace,
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
            trace,
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
        trace.finish(&route, status);
        if tracing::enabled!(target: "authjs_proxy::access", tracing::Level::INFO) {
            let line = || {
                tracing::info!(
                    target: "authjs_proxy::access",
                    method,
                    route = %route,
                    status,
                    duration_ms = took.as_secs_f64() * 1000.0,
                    upstream_attempts = attempts,
                    "request"
                );
            };
            match trace.unsampled() {
                // The id and unsampled trace as the request's own lines had them.
                Some(u) => request_id::sync_traced_scope(id.clone(), Some(u.clone()), || {
                    in_request_span(line)
                }),
                None => trace.in_scope(|| in_span_of(&id, line)),
            }
        }
        metrics::request(route, method, status, took);
        let mut res = result?;
        res.headers_mut()
            .insert(X_REQUEST_ID, id.header_value().clone());
        Ok(res)
    }
}

/// The middleware as a function, for `actix_web::middleware::from_fn`: request id, access log
/// line and request metrics. The id is the task-local [`current`](request_id::current) of the request's future;
/// lines logged through `request_event!` are written in its span. [`RequestIds`] does the
/// same without `from_fn`'s boxed future per request.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let begun = Begun::start(&mut req);
    let call = begun.trace.wrap(next.call(req));
    let unsampled = begun.trace.unsampled().cloned();
    let result = request_id::traced_scope(begun.id.clone(), unsampled, call).await;
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
            inner: request_id::traced_scope(
                begun.id.clone(),
                begun.trace.unsampled().cloned(),
                begun.trace.wrap(self.service.call(req)),
            ),
            begun: Some(begun),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer under [`RequestIds`].
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: TaskLocalFuture<request_id::Current, Traced<F>>,
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
