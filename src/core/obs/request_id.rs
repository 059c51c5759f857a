//! Request ids: an id per request (kept from the client when sane, else generated), carried
//! as a task-local through the request's work, and the `request_event!` macro that writes a
//! line in the request's span. The middleware that settles them is
//! [`crate::web::access_log`].

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpMessage, HttpRequest};
use tokio::task::futures::TaskLocalFuture;

use crate::core::obs::random::next_u64;
use crate::core::obs::trace::{self, Unsampled};

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
        bytes[..8].copy_from_slice(&next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&next_u64().to_le_bytes());
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

/// 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters (no spaces, no control characters).
///
/// # Examples
/// ```
/// use authjs_proxy::core::obs::request_id::is_sane;
/// assert!(is_sane(b"req-42_a.b"));
/// assert!(!is_sane(b"two words"));
/// assert!(!is_sane(b""));
/// ```
pub fn is_sane(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
}

/// What the request being handled carries in its task: its id and, when tracing is on and it
/// is not sampled, its trace (one task-local for both: each is swapped in at every poll).
#[derive(Debug, Clone)]
pub struct Current {
    id: RequestId,
    // Boxed: the value is swapped in and out at every poll, so it stays small (8 bytes more
    // than the id alone).
    unsampled: Option<Box<Unsampled>>,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// The id of the request being handled, inside the access-log middleware (or [`scope`]).
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(|c| c.id.clone()).ok()
}

/// Runs `fut` as the request with id `id`: [`current`] answers `id` inside it, and lines
/// logged through `request_event!` are written in its span.
pub fn scope<F: Future>(id: RequestId, fut: F) -> TaskLocalFuture<Current, F> {
    traced_scope(id, None, fut)
}

/// [`scope`], with the request's unsampled trace: its upstream requests carry it
/// ([`add_trace_headers`]) and so do its log lines.
pub fn traced_scope<F: Future>(
    id: RequestId,
    unsampled: Option<Unsampled>,
    fut: F,
) -> TaskLocalFuture<Current, F> {
    let unsampled = unsampled.map(Box::new);
    CURRENT.scope(Current { id, unsampled }, fut)
}

/// Runs `f` as [`traced_scope`] runs a future (the access line, written after the request's
/// future ended).
pub fn sync_traced_scope<R>(
    id: RequestId,
    unsampled: Option<Unsampled>,
    f: impl FnOnce() -> R,
) -> R {
    let unsampled = unsampled.map(Box::new);
    CURRENT.sync_scope(Current { id, unsampled }, f)
}

/// Adds the trace headers of the unsampled request being handled to `headers` (its upstream
/// request). Nothing outside such a request; a sampled attempt adds its own.
pub fn add_trace_headers(headers: &mut HeaderMap) {
    if !trace::enabled() {
        return;
    }
    let _ = CURRENT.try_with(|c| {
        if let Some(u) = &c.unsampled {
            u.add_headers(headers);
        }
    });
}

/// The trace id of the request being handled, for log lines (`None` when tracing is off or
/// outside a request).
pub fn current_trace_id() -> Option<String> {
    if !trace::enabled() {
        return None;
    }
    if let Ok(Some(id)) = CURRENT.try_with(|c| c.unsampled.as_ref().map(|u| u.trace_id())) {
        return Some(format!("{id:032x}"));
    }
    trace::sampled_trace_id()
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
        Some(id) if is_sane(id.as_bytes()) => scope(RequestId(id), fut).await,
        _ => fut.await,
    }
}

/// Runs `log` in the `request` span of `id`: the span every line of a request is written in
/// (`request{request_id=...}` in text, `"span":{"request_id":...}` in JSON).
/// With tracing on, the span also carries the `trace_id` of the request's trace.
pub fn in_span_of<R>(id: &RequestId, log: impl FnOnce() -> R) -> R {
    if let Some(trace_id) = current_trace_id() {
        return tracing::error_span!("request", request_id = %id, trace_id = %trace_id)
            .in_scope(log);
    }
    tracing::error_span!("request", request_id = %id).in_scope(log)
}

/// Runs `log` in the span of the request being handled, if any (see [`in_span_of`]).
///
/// The span is made only when a line is written: a request span entered around every poll of
/// every request costs more than the rest of the request's logging put together, for lines
/// that are almost never written. Use it through `request_event!`.
pub fn in_request_span<R>(log: impl FnOnce() -> R) -> R {
    match current() {
        Some(id) => in_span_of(&id, log),
        None => log(),
    }
}

/// `tracing::event!` in the span of the request being handled: `request_event!(Level::WARN,
/// field = value, "message")`. Nothing is built unless the level is enabled.
macro_rules! request_event {
    ($level:expr, $($arg:tt)+) => {
        if tracing::enabled!($level) {
            $crate::core::obs::request_id::in_request_span(|| tracing::event!($level, $($arg)+));
        }
    };
}
pub(crate) use request_event;

#[cfg(test)]
mod tests {
    use super::*;

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
