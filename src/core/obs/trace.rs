//! Trace spans for OpenTelemetry export: the request, each upstream attempt, session lookups,
//! forward-auth decisions and calls to Redis and the database, and the W3C
//! `traceparent`/`tracestate` headers read from trusted peers and sent upstream.
//!
//! Off (the default) unless [`enable`] was called, which the binary does when `[telemetry]`
//! names an endpoint (`src/app/telemetry.rs`): then every helper here answers at once (no span,
//! no header), so the hot path pays one relaxed load. With tracing on, the sampling decision is
//! made here when a request starts ([`start_request`]): a sampled request gets real spans; an
//! unsampled one gets none, only its trace id (continued or new), which its upstream attempts
//! still carry in `traceparent` (flags `00`) and its log lines in `trace_id`. The spans have
//! the target [`TARGET`]; the exporter takes only those, and the log output leaves them out.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use tracing::Span;
use tracing::instrument::Instrument;

use crate::core::obs::random::next_u64;

/// The target of the spans made here.
///
/// Every span with this target is made at INFO: the exporter's filter tells the subscriber
/// so (its level hint), and a span below INFO would be lost whenever `RUST_LOG` asks for less.
pub const TARGET: &str = "authjs_proxy::trace";
/// `traceparent` (W3C Trace Context).
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate` (W3C Trace Context).
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

static ON: AtomicBool = AtomicBool::new(false);
/// Whether a continued trace keeps its caller's sampling decision.
static PARENT_BASED: AtomicBool = AtomicBool::new(true);
/// The share of traces sampled (of new ones, or of all when not parent-based), as `f64` bits.
static RATIO: AtomicU64 = AtomicU64::new(0x3FF0_0000_0000_0000); // 1.0

/// Turns the spans on for the life of the process (the exporting subscriber is installed):
/// `parent_based` keeps a trusted caller's decision; `ratio` (0 to 1) samples the others.
pub fn enable(parent_based: bool, ratio: f64) {
    PARENT_BASED.store(parent_based, Ordering::Relaxed);
    RATIO.store(ratio.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
}

/// Whether spans are made and trace headers sent.
#[inline]
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Whether a request (or the step being made) is in a sampled trace: child spans only there.
fn in_sampled_trace() -> bool {
    enabled() && !Span::current().is_none()
}

/// The trace-id ratio decision of the OpenTelemetry specification (as the SDK's
/// `TraceIdRatioBased`: the trace id's low 63 bits against the ratio).
fn ratio_samples(trace_id: u128) -> bool {
    let ratio = f64::from_bits(RATIO.load(Ordering::Relaxed));
    if ratio >= 1.0 {
        return true;
    }
    let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    ((trace_id as u64) >> 1) < bound
}

/// A caller's `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parent {
    trace_id: u128,
    sampled: bool,
}

/// `version-traceid-parentid-flags` (W3C Trace Context level 1: lowercase hex, ids not zero,
/// version `ff` invalid; version 00 exactly 55 bytes, later versions may add fields).
fn parse_traceparent(v: &[u8]) -> Option<Parent> {
    fn hex(b: &[u8]) -> Option<u128> {
        let mut n: u128 = 0;
        for &c in b {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            n = (n << 4) | u128::from(d);
        }
        Some(n)
    }
    if v.len() < 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let version = hex(&v[..2])?;
    if version == 0xff || (version == 0 && v.len() != 55) || (v.len() > 55 && v[55] != b'-') {
        return None;
    }
    let trace_id = hex(&v[3..35])?;
    let span_id = hex(&v[36..52])?;
    let flags = hex(&v[53..55])?;
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    Some(Parent {
        trace_id,
        sampled: flags & 1 == 1,
    })
}

/// Whether `name` is a W3C trace header (`traceparent`, `tracestate`): with tracing on, only
/// the proxy writes them upstream.
pub fn is_trace_header(name: &HeaderName) -> bool {
    name == TRACEPARENT || name == TRACESTATE
}

/// The trace of a request that is not sampled: no spans, only the id its upstream attempts and
/// log lines carry, and the caller's `tracestate` when continued.
/// It rides with the request's id ([`crate::core::obs::request_id::traced_scope`]): one
/// task-local per request.
#[derive(Debug, Clone)]
pub struct Unsampled {
    trace_id: u128,
    state: Option<HeaderValue>,
}

impl Unsampled {
    /// The trace id.
    pub fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// Adds this trace's headers to `headers` (an upstream request): the trace id with a span
    /// id of its own and flags `00`, and the caller's `tracestate` when continued.
    pub fn add_headers(&self, headers: &mut HeaderMap) {
        headers.insert(TRACEPARENT, traceparent(self.trace_id, next_u64() | 1, 0));
        if let Some(state) = &self.state {
            headers.insert(TRACESTATE, state.clone());
        }
    }
}

/// A request's trace: [`start_request`] settles it.
#[derive(Debug)]
pub enum RequestTrace {
    /// Tracing is off.
    Off,
    /// Sampled: the request's span.
    Sampled(Span),
    /// Not sampled.
    Unsampled(Unsampled),
}

/// Settles the trace of a request: continued from `headers` (a trusted peer's request; `None`
/// for any other peer, which always starts a new trace), sampled or not.
///
/// `request_id` is the request's `X-Request-Id` value, read as text only for a sampled request.
pub fn start_request(
    method: &str,
    request_id: &HeaderValue,
    headers: Option<&HeaderMap>,
) -> RequestTrace {
    if !enabled() {
        return RequestTrace::Off;
    }
    let parent = headers
        .and_then(|h| h.get(TRACEPARENT))
        .and_then(|v| parse_traceparent(v.as_bytes()));
    let trace_id = match parent {
        Some(p) => p.trace_id,
        None => (u128::from(next_u64()) << 64) | u128::from(next_u64()),
    };
    let sampled = match parent {
        Some(p) if PARENT_BASED.load(Ordering::Relaxed) => p.sampled,
        _ => ratio_samples(trace_id),
    };
    if sampled {
        return RequestTrace::Sampled(request_span(
            method,
            request_id.to_str().unwrap_or_default(),
            headers.filter(|_| parent.is_some()),
        ));
    }
    let state = headers
        .filter(|_| parent.is_some())
        .and_then(|h| h.get(TRACESTATE))
        .cloned();
    RequestTrace::Unsampled(Unsampled { trace_id, state })
}

impl RequestTrace {
    /// Runs `fut` (the request's work) in this trace's span, if sampled. An unsampled trace
    /// goes with the request's id instead ([`RequestTrace::unsampled`]).
    pub fn wrap<F: Future>(&self, fut: F) -> Traced<F> {
        match self {
            RequestTrace::Sampled(span) => Traced::Sampled {
                inner: fut.instrument(span.clone()),
            },
            RequestTrace::Off | RequestTrace::Unsampled(_) => Traced::Plain { inner: fut },
        }
    }

    /// Runs `f` (the request's access line) in this trace's span, if sampled.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match self {
            RequestTrace::Sampled(span) => span.in_scope(f),
            RequestTrace::Off | RequestTrace::Unsampled(_) => f(),
        }
    }

    /// The trace of an unsampled request.
    pub fn unsampled(&self) -> Option<&Unsampled> {
        match self {
            RequestTrace::Unsampled(u) => Some(u),
            _ => None,
        }
    }

    /// Records the route label and status on a sampled request's span.
    pub fn finish(&self, route: &str, status: u16) {
        if let RequestTrace::Sampled(span) = self {
            span.record("http.route", route);
            span.record("http.response.status_code", status);
        }
    }
}

pub use traced::Traced;

mod traced {
    // pin-project-lite takes no doc comments on an enum's fields.
    #![allow(missing_docs)]
    use tracing::instrument::Instrumented;

    pin_project_lite::pin_project! {
        /// A request's work in its trace ([`RequestTrace::wrap`](super::RequestTrace::wrap)):
        /// as it is (tracing off, or not sampled) or in the request's span.
        #[project = TracedProjection]
        pub enum Traced<F> {
            Plain { #[pin] inner: F },
            Sampled { #[pin] inner: Instrumented<F> },
        }
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project() {
            traced::TracedProjection::Plain { inner } => inner.poll(cx),
            traced::TracedProjection::Sampled { inner } => inner.poll(cx),
        }
    }
}

/// The span of a sampled request: `HTTP <method>`, continuing the caller's trace when
/// `parent` (the request's headers) is given.
fn request_span(method: &str, request_id: &str, parent: Option<&HeaderMap>) -> Span {
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

/// The span of one upstream attempt (`retry` 0 for the first); [`record_outcome`] says how it
/// ended.
pub fn upstream_attempt_span(retry: u32) -> Span {
    if !in_sampled_trace() {
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
    if !in_sampled_trace() {
        return Span::none();
    }
    tracing::info_span!(target: TARGET, "session lookup", cache = tracing::field::Empty)
}

/// The span of a forward-auth decision; `result` (`allow`, `unauthenticated`, ...) and
/// `source` (`token`, `session`, ...) are recorded with [`record_current`].
pub fn forward_auth_span() -> Span {
    if !in_sampled_trace() {
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
    if !in_sampled_trace() {
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

/// The `traceparent` (and `tracestate`) that make `span` (a sampled upstream attempt's) the
/// parent of what the upstream does.
pub fn upstream_headers(span: &Span) -> Option<(HeaderValue, Option<HeaderValue>)> {
    if span.is_none() {
        return None;
    }
    #[cfg(feature = "otel")]
    return otel::headers_of(span);
    #[cfg(not(feature = "otel"))]
    None
}

/// `00-<trace id>-<span id>-<flags>`.
fn traceparent(trace_id: u128, span_id: u64, flags: u8) -> HeaderValue {
    fn hex(out: &mut [u8], bytes: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xf)];
        }
    }
    let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
    hex(&mut buf[3..35], &trace_id.to_be_bytes());
    hex(&mut buf[36..52], &span_id.to_be_bytes());
    hex(&mut buf[53..55], &[flags]);
    HeaderValue::from_bytes(&buf).expect("hex and dashes")
}

/// The trace id of the sampled request being handled (its span is the current one), for log
/// lines; `None` when off, outside a request or not sampled (an unsampled request's id rides
/// with its request id: [`crate::core::obs::request_id::current_trace_id`]).
pub fn sampled_trace_id() -> Option<String> {
    if !enabled() {
        return None;
    }
    #[cfg(feature = "otel")]
    return otel::trace_id_of(&Span::current());
    #[cfg(not(feature = "otel"))]
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_read_with_its_sampled_flag() {
        let p =
            parse_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(p.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert!(p.sampled);
        let p =
            parse_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!p.sampled);
    }

    #[test]
    fn a_malformed_traceparent_is_ignored() {
        for bad in [
            &b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"",
        ] {
            assert_eq!(
                parse_traceparent(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_traceparent_is_written_as_the_standard_says() {
        let v = traceparent(0x4bf92f3577b34da6a3ce929d0e0e4736, 0xf067aa0ba902b7, 0);
        assert_eq!(v, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    }
}
