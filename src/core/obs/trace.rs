//! Trace spans for OpenTelemetry export: the request, each upstream attempt, and the W3C
//! `traceparent`/`tracestate` headers read from trusted peers and sent upstream.
//!
//! Off (the default) unless [`enable`] was called, which the binary does when `[telemetry]`
//! names an endpoint (`src/app/telemetry.rs`): then every helper here answers at once (a span
//! that is [`Span::none`], no header), so the hot path pays one relaxed load. The spans have the
//! target [`TARGET`]; the exporter takes only those, and the log output leaves them out (a line
//! carries `trace_id` instead).

use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use tracing::Span;

/// The target of the spans made here.
pub const TARGET: &str = "authjs_proxy::trace";
/// `traceparent` (W3C Trace Context).
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate` (W3C Trace Context).
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

static ON: AtomicBool = AtomicBool::new(false);

/// Turns the spans on for the life of the process (the exporting subscriber is installed).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Whether spans are made and trace headers sent.
#[inline]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The span of one request: `HTTP <method>`, continuing the caller's trace when `parent`
/// (the request's headers) is given, which the caller does only for a trusted peer. The route
/// and status are recorded by [`finish_request`].
pub fn request_span(method: &str, request_id: &str, parent: Option<&HeaderMap>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = %format_args!("HTTP {method}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        request_id,
    );
    #[cfg(feature = "otel")]
    if let Some(headers) = parent {
        otel::continue_from(&span, headers);
    }
    #[cfg(not(feature = "otel"))]
    let _ = parent;
    span
}

/// Records the route label and status on a request span.
pub fn finish_request(span: &Span, route: &str, status: u16) {
    if span.is_none() {
        return;
    }
    span.record("http.route", route);
    span.record("http.response.status_code", status);
}

/// The span of one upstream attempt (`retry` 0 for the first); [`record_outcome`] says how it
/// ended.
pub fn upstream_attempt_span(retry: u32) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "upstream attempt",
        otel.kind = "client",
        retry,
        outcome = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    )
}

/// Records how an attempt ended (`ok`, `connect`, `timeout`, ...) and its status, if any.
pub fn record_outcome(span: &Span, outcome: &'static str, status: Option<u16>) {
    if span.is_none() {
        return;
    }
    span.record("outcome", outcome);
    if let Some(status) = status {
        span.record("http.response.status_code", status);
    }
}

/// The span of a session lookup; [`record_current`] `("cache", level)` says which level
/// answered: `local`, `shared` (Redis), `source` (the upstream or the session store), `stale`,
/// `off` (no cache) or `revoked`.
pub fn session_lookup_span() -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(target: TARGET, "session lookup", cache = tracing::field::Empty)
}

/// The span of a forward-auth decision; `result` (`allow`, `unauthenticated`, ...) and
/// `source` (`token`, `session`, ...) are recorded with [`record_current`].
pub fn forward_auth_span() -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "forward-auth decision",
        result = tracing::field::Empty,
        source = tracing::field::Empty,
    )
}

/// The span of one call to a dependency: `redis get`, `redis put`, `database query`.
pub fn call_span(name: &'static str, system: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "call",
        otel.name = name,
        otel.kind = "client",
        db.system.name = system,
    )
}

/// Records `field` on the current span (the innermost one entered), when tracing is on.
pub fn record_current(field: &'static str, value: &str) {
    if enabled() {
        Span::current().record(field, value);
    }
}

/// The `traceparent` (and `tracestate`) that make `span` the parent of what the upstream does.
pub fn upstream_headers(span: &Span) -> Option<(HeaderValue, Option<HeaderValue>)> {
    if span.is_none() {
        return None;
    }
    #[cfg(feature = "otel")]
    return otel::headers_of(span);
    #[cfg(not(feature = "otel"))]
    None
}

/// The trace id of the current span, for log lines (`None` when off or outside a trace).
pub fn current_trace_id() -> Option<String> {
    if !enabled() {
        return None;
    }
    #[cfg(feature = "otel")]
    return otel::trace_id_of(&Span::current());
    #[cfg(not(feature = "otel"))]
    None
}

/// The trace id of `span`, for log lines.
pub fn trace_id_of(span: &Span) -> Option<String> {
    if span.is_none() {
        return None;
    }
    #[cfg(feature = "otel")]
    return otel::trace_id_of(span);
    #[cfg(not(feature = "otel"))]
    None
}

/// Drops the caller's trace headers (the request carries its own when tracing is on).
pub fn strip_incoming(headers: &mut HeaderMap) {
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
}

#[cfg(feature = "otel")]
mod otel {
    use actix_web::http::header::{HeaderMap, HeaderValue};
    use opentelemetry::propagation::{Extractor, TextMapPropagator};
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::TRACEPARENT;

    /// The two trace headers of a request, for the propagator.
    struct Incoming<'a>(&'a HeaderMap);

    impl Extractor for Incoming<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            vec!["traceparent", "tracestate"]
        }
    }

    /// Makes `span` a child of the trace `headers` carry, when they carry a valid one.
    pub(super) fn continue_from(span: &Span, headers: &HeaderMap) {
        if !headers.contains_key(TRACEPARENT) {
            return;
        }
        let cx = TraceContextPropagator::new().extract(&Incoming(headers));
        if cx.span().span_context().is_valid() {
            // Only fails when the span is already started, which a new span is not.
            let _ = span.set_parent(cx);
        }
    }

    pub(super) fn headers_of(span: &Span) -> Option<(HeaderValue, Option<HeaderValue>)> {
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        if !sc.is_valid() {
            return None;
        }
        let parent = format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        );
        let parent = HeaderValue::from_str(&parent).ok()?;
        let state = sc.trace_state().header();
        let state = (!state.is_empty())
            .then(|| HeaderValue::from_str(&state).ok())
            .flatten();
        Some((parent, state))
    }

    pub(super) fn trace_id_of(span: &Span) -> Option<String> {
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        sc.is_valid().then(|| sc.trace_id().to_string())
    }
}
