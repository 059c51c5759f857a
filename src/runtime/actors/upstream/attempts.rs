//! One upstream request, attempt by attempt: the breaker, the in-flight limit, the retry
//! budget and backoff (`backon`) around each exchange, and what each failure allows.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::header::{self, HeaderMap, HttpDate};
use awc::error::{PayloadError, SendRequestError};
use awc::{FrozenClientRequest, SendClientRequest};
use backon::{ExponentialBuilder, Retryable};

use crate::core::Replay;
use crate::core::error::UpstreamError;
use crate::core::obs::request_id::request_event;
use crate::core::obs::{metrics, trace};
use crate::resilience::breaker::{Outcome, Permit};
use crate::resilience::limiter::QUEUE_WAIT;
use crate::runtime::actors::upstream::{ClientSlot, Forward, UpstreamResponse};

/// What one attempt ended with, when it did not produce a final response.
enum Failure {
    /// The connection could not be made (refused, connect timeout, name resolution, TLS
    /// handshake): provably nothing was sent.
    Connect,
    /// The attempt timed out; the request may have been sent.
    Timeout,
    /// The exchange broke after the request may have been written: the connection closed
    /// before or during the answer, a malformed or truncated answer, an interim (1xx) or
    /// `101` answer.
    Broken,
    /// A 502/503/504 on a [`Replay::Safe`] request; kept to relay if final.
    Status(UpstreamResponse, Option<Duration>),
    /// Response body larger than allowed.
    TooLarge,
    /// The TLS handshake failed: nothing was sent, and trying again fails the same way.
    Tls,
}

impl Failure {
    fn retryable(&self, replay: Replay) -> bool {
        match self {
            Failure::Connect => true,
            Failure::Timeout | Failure::Broken | Failure::Status(..) => replay == Replay::Safe,
            Failure::TooLarge | Failure::Tls => false,
        }
    }

    /// The `reason` label of `upstream_retries_total`.
    fn reason(&self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Broken => "broken",
            Failure::Status(..) => "status",
            Failure::TooLarge => "too_large",
            Failure::Tls => "tls",
        }
    }
}

/// Sorts an awc send error: only failures before any byte was written are [`Failure::Connect`].
fn classify_send_error(e: &SendRequestError) -> Failure {
    if let Some(reason) = crate::tls::send_error_reason(e) {
        request_event!(tracing::Level::WARN, %reason, "upstream TLS handshake failed");
        return Failure::Tls;
    }
    match e {
        // awc also reports "the connection closed before the answer" as `Disconnected`,
        // after the request was written: that may have been sent.
        SendRequestError::Connect(awc::error::ConnectError::Disconnected) => Failure::Broken,
        SendRequestError::Connect(_) => Failure::Connect,
        SendRequestError::Timeout => Failure::Timeout,
        _ => Failure::Broken,
    }
}

/// The `Content-Length` an answer declared, when it declared exactly one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(header::CONTENT_LENGTH);
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()?.trim().parse().ok()
}

/// Parses `Retry-After` as delta-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date: HttpDate = v.parse().ok()?;
    SystemTime::from(date)
        .duration_since(SystemTime::now())
        .ok()
        .or(Some(Duration::ZERO))
}

/// What one exchange told the circuit breaker.
fn outcome_of(result: &Result<UpstreamResponse, Failure>) -> Outcome {
    match result {
        Ok(res) if matches!(res.status.as_u16(), 502..=504) => Outcome::Failure,
        Ok(_) | Err(Failure::TooLarge) => Outcome::Success,
        Err(
            Failure::Connect
            | Failure::Timeout
            | Failure::Broken
            | Failure::Status(..)
            | Failure::Tls,
        ) => Outcome::Failure,
    }
}

pub(super) async fn forward(
    slot: ClientSlot,
    mut msg: Forward,
) -> Result<UpstreamResponse, UpstreamError> {
    let mut headers = std::mem::take(&mut msg.headers);
    // An unsampled trace's headers go with every attempt alike; a sampled attempt adds its own.
    crate::core::obs::request_id::add_trace_headers(&mut headers);
    let prepared = Prepared::new(headers);
    let cfg = &msg.config;
    let _in_flight_gauge = metrics::upstream_in_flight();
    let started = Instant::now();
    let deadline = started + cfg.request_timeout;
    let guard = &*cfg.resilience;
    // Refusals come before anything is sent: an open circuit fails fast without waiting for a
    // slot, and a shed request never reaches the upstream.
    let first = guard
        .breaker
        .try_acquire()
        .map_err(|retry_after| UpstreamError::CircuitOpen { retry_after })?;
    // A free slot is taken at once and the whole `request_timeout` is left; after a wait in
    // the queue, what is left is read from the clock.
    let (_in_flight, first_remaining) = match guard.in_flight.try_acquire() {
        Some(slot) => (slot, Some(cfg.request_timeout)),
        None => match guard
            .in_flight
            .acquire(QUEUE_WAIT.min(cfg.request_timeout))
            .await
        {
            Some(slot) => (slot, None),
            None => {
                request_event!(tracing::Level::DEBUG, method = %msg.method, "upstream in-flight limit reached; request shed");
                return Err(UpstreamError::Overloaded {
                    retry_after: Duration::from_secs(1),
                });
            }
        },
    };
    guard.budget.deposit();
    let attempts = Attempts {
        slot: &slot,
        prepared,
        msg: &msg,
        deadline,
        made: Cell::new(0),
        next_permit: Cell::new(Some(first)),
        cause: RefCell::new(None),
    };
    // The first attempt runs on its own: most requests need no other, and the retry machinery
    // (policy, backon's future, its timers) is built only for those that do.
    let result = match attempts.attempt(first_remaining).await {
        Err(failure) if attempts.may_retry(&failure) => {
            Box::pin(attempts.retry_after(failure)).await
        }
        result => result,
    };
    // A permit taken for a retry that did not happen goes back unused.
    drop(attempts.next_permit.take());

    let cause = attempts.cause.take();
    let attempts = attempts.made.get();
    let outcome = match result {
        Ok(res) => Ok(res),
        Err(Failure::Status(mut res, _)) => {
            res.attempts = attempts;
            Ok(res)
        }
        Err(Failure::Connect) => Err(UpstreamError::Unreachable { attempts }),
        Err(Failure::Broken) => Err(UpstreamError::Broken { attempts }),
        Err(Failure::Timeout) => Err(UpstreamError::Timeout { attempts }),
        Err(Failure::TooLarge) => Err(UpstreamError::ResponseTooLarge),
        Err(Failure::Tls) => Err(UpstreamError::Tls { attempts }),
    };
    let took = started.elapsed();
    metrics::upstream_outcome(outcome.as_ref().map(|res| res.status), took);
    let elapsed_ms = took.as_millis() as u64;
    match &outcome {
        Ok(res) => request_event!(tracing::Level::DEBUG,
            method = %msg.method,
            status = res.status.as_u16(),
            attempts,
            elapsed_ms,
            "upstream answered"
        ),
        Err(e) => request_event!(tracing::Level::WARN,
            method = %msg.method,
            upstream = %cfg.upstream.origin,
            attempts,
            elapsed_ms,
            error = %e,
            cause = cause.as_deref().unwrap_or("-"),
            "upstream request failed"
        ),
    }
    outcome
}

/// The attempts of one upstream request: what they share.
struct Attempts<'a> {
    slot: &'a ClientSlot,
    prepared: Prepared,
    msg: &'a Forward,
    deadline: Instant,
    /// Attempts made so far.
    made: Cell<u32>,
    /// The breaker permit of the next attempt: the first one, then one taken per retry.
    next_permit: Cell<Option<Permit<'a>>>,
    /// What the last failed exchange said (the OS error of a refused connection, ...), for
    /// the failure's log line.
    cause: RefCell<Option<String>>,
}

impl<'a> Attempts<'a> {
    fn max(&self) -> u32 {
        self.msg.config.retry.max_attempts.max(1)
    }

    /// Whether `failure` may be followed by another attempt (before backoff, breaker and
    /// budget have their say).
    fn may_retry(&self, failure: &Failure) -> bool {
        failure.retryable(self.msg.replay) && self.made.get() < self.max()
    }

    /// One attempt; `remaining` is what is left of the deadline when the caller knows it
    /// without reading the clock.
    async fn attempt(&self, remaining: Option<Duration>) -> Result<UpstreamResponse, Failure> {
        self.made.set(self.made.get() + 1);
        let permit = self.next_permit.take();
        let remaining =
            remaining.unwrap_or_else(|| self.deadline.saturating_duration_since(Instant::now()));
        if remaining.is_zero() {
            // Nothing was exchanged: the permit goes back unreported.
            return Err(Failure::Timeout);
        }
        let msg = self.msg;
        let span = trace::upstream_attempt_span(self.made.get() - 1);
        let result = tracing::Instrument::instrument(
            exchange(
                self.slot,
                &self.prepared,
                msg,
                (remaining, self.deadline),
                &span,
                &self.made,
                &self.cause,
            ),
            span.clone(),
        )
        .await;
        if !span.is_none() {
            let outcome = match &result {
                Ok(res) if matches!(res.status.as_u16(), 502..=504) => "status",
                Ok(_) => "ok",
                Err(f) => f.reason(),
            };
            let status = result.as_ref().ok().map(|res| res.status.as_u16());
            trace::record_outcome(&span, outcome, status);
        }
        if let Some(permit) = permit {
            msg.config
                .resilience
                .breaker
                .record(permit, outcome_of(&result));
        }
        let response = result?;
        if msg.replay == Replay::Safe && matches!(response.status.as_u16(), 502..=504) {
            let wait = retry_after(&response.headers);
            return Err(Failure::Status(response, wait));
        }
        Ok(response)
    }

    /// The retries after a first attempt that ended with `first`, with backoff: backon sees
    /// `first` as the outcome of its first call, so its policy counts it like any other.
    async fn retry_after(&self, first: Failure) -> Result<UpstreamResponse, Failure> {
        let cfg = &self.msg.config;
        let guard = &*cfg.resilience;
        let max_attempts = self.max();
        let max_backoff = Duration::from_millis(cfg.retry.max_backoff_ms);
        let mut policy = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(cfg.retry.initial_backoff_ms))
            .with_max_delay(max_backoff)
            .with_max_times(max_attempts.saturating_sub(1) as usize);
        if cfg.retry.jitter {
            policy = policy.with_jitter();
        }
        let first = Cell::new(Some(first));
        let attempt = || async {
            match first.take() {
                Some(failure) => Err(failure),
                None => self.attempt(None).await,
            }
        };
        attempt
            .retry(policy)
            .sleep(actix_rt::time::sleep)
            .when(|f: &Failure| self.may_retry(f))
            .adjust(|f, backoff| {
                // `None`: the policy has run out of attempts; that bound holds whatever the
                // upstream says. A `Retry-After` longer than the backoff allows means "not
                // now": relay the answer instead of retrying early. No sleep passes the
                // deadline.
                let delay = match (f, backoff) {
                    (_, None) => return None,
                    (Failure::Status(_, Some(wait)), _) if *wait > max_backoff => return None,
                    (Failure::Status(_, Some(wait)), _) => *wait,
                    (_, Some(delay)) => delay,
                };
                if Instant::now() + delay >= self.deadline {
                    return None;
                }
                // A retry is an attempt like any other: the breaker must let it through (a
                // half-open circuit is probed by single attempts, not retries), and it must
                // fit the retry budget. Otherwise this failure is the answer.
                let permit = guard.breaker.try_acquire().ok().filter(|p| !p.is_probe());
                if permit.is_none() {
                    request_event!(
                        tracing::Level::DEBUG,
                        "upstream circuit not closed; not retrying"
                    );
                    return None;
                }
                if !guard.budget.try_withdraw() {
                    request_event!(tracing::Level::DEBUG, "retry budget spent; not retrying");
                    return None;
                }
                self.next_permit.set(permit);
                Some(delay)
            })
            .notify(|f: &Failure, delay| {
                metrics::upstream_retry(f.reason());
                request_event!(
                    tracing::Level::DEBUG,
                    attempt = self.made.get(),
                    delay_ms = delay.as_millis() as u64,
                    "retrying upstream request"
                );
            })
            .await
    }
}

/// The request as awc sends it: built once (awc's frozen request) and sent again on retries
/// without copying its headers; built anew on the next client after the client is dropped.
struct Prepared {
    /// The headers until the request is built (again).
    headers: RefCell<Option<HeaderMap>>,
    /// The built request and the client it was built on.
    frozen: RefCell<Option<(u64, FrozenClientRequest)>>,
}

impl Prepared {
    fn new(headers: HeaderMap) -> Self {
        Prepared {
            headers: RefCell::new(Some(headers)),
            frozen: RefCell::new(None),
        }
    }

    /// Starts sending `msg` on the thread's client.
    /// Any request on this thread may have dropped the client it was built on (an interim
    /// answer): then it is built again on the current one, never resent through the old pool.
    /// With tracing on, `span` is the attempt's: its `traceparent` goes with this send only.
    fn send(
        &self,
        slot: &ClientSlot,
        msg: &Forward,
        span: &tracing::Span,
    ) -> Result<SendClientRequest, Failure> {
        let cfg = &msg.config;
        let (id, client) = slot.current(cfg);
        let mut frozen = self.frozen.borrow_mut();
        if let Some((built_on, old)) = &*frozen
            && *built_on != id
        {
            *self.headers.borrow_mut() = Some(old.headers().clone());
            *frozen = None;
        }
        if frozen.is_none() {
            let mut req = client
                .request(msg.method.clone(), msg.url.as_str())
                .timeout(cfg.per_try_timeout);
            // Taken, not copied; a request that cannot be built (its URL) fails alike each time.
            *req.headers_mut() = self.headers.borrow_mut().take().unwrap_or_default();
            *frozen = Some((id, req.freeze().map_err(|_| Failure::Broken)?));
        }
        let (_, request) = frozen.as_ref().expect("built above");
        if let Some((parent, state)) = trace::upstream_headers(span) {
            let mut send = request.extra_header((trace::TRACEPARENT, parent));
            if let Some(state) = state {
                send = send.extra_header((trace::TRACESTATE, state));
            }
            return Ok(send.send_body(msg.body.clone()));
        }
        Ok(request.send_body(msg.body.clone()))
    }
}

/// One exchange: send the request, read the whole answer.
async fn exchange(
    slot: &ClientSlot,
    prepared: &Prepared,
    msg: &Forward,
    (remaining, deadline): (Duration, Instant),
    span: &tracing::Span,
    attempts: &Cell<u32>,
    cause: &RefCell<Option<String>>,
) -> Result<UpstreamResponse, Failure> {
    let cfg = &msg.config;
    let send = prepared.send(slot, msg, span)?;
    // awc bounds the attempt by `per_try_timeout`; near the deadline, less is left.
    let sent = if remaining < cfg.per_try_timeout {
        actix_rt::time::timeout(remaining, send)
            .await
            .map_err(|_| Failure::Timeout)?
    } else {
        send.await
    };
    let res = sent.map_err(|e| {
        *cause.borrow_mut() = Some(e.to_string());
        classify_send_error(&e)
    })?;
    let status = res.status();
    if status.is_informational() {
        // awc takes the first head as the answer and has already pooled the connection
        // the real answer may still arrive on.
        slot.discard();
        request_event!(
            tracing::Level::WARN,
            status = status.as_u16(),
            "upstream sent an interim or protocol-switching answer; connection dropped"
        );
        return Err(Failure::Broken);
    }
    // Reading the body is bounded by what is left of the deadline (awc reuses its timer).
    // The headers are taken, not copied.
    let mut headers = HeaderMap::new();
    let mut res = res
        .map_body(|head, payload| {
            headers = std::mem::take(&mut head.headers);
            payload
        })
        .timeout(deadline.saturating_duration_since(Instant::now()));
    let declared = declared_length(&headers);
    if declared.is_some_and(|n| n > cfg.max_response_bytes as u64) {
        return Err(Failure::TooLarge);
    }
    let body = match res.body().limit(cfg.max_response_bytes).await {
        Ok(body) => body,
        Err(PayloadError::Overflow) => return Err(Failure::TooLarge),
        Err(PayloadError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(Failure::Timeout);
        }
        Err(_) => return Err(Failure::Broken),
    };
    if !matches!(status.as_u16(), 204 | 304) && declared.is_some_and(|n| n != body.len() as u64) {
        // awc ends the body quietly when the connection closes early.
        return Err(Failure::Broken);
    }
    Ok(UpstreamResponse {
        status,
        headers,
        body,
        attempts: attempts.get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn with_retry_after(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_delta_seconds() {
        assert_eq!(
            retry_after(&with_retry_after("7")),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn retry_after_reads_an_http_date() {
        let later = SystemTime::now() + Duration::from_secs(120);
        let wait = retry_after(&with_retry_after(&HttpDate::from(later).to_string())).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
    }

    #[test]
    fn retry_after_in_the_past_means_now() {
        let earlier = SystemTime::now() - Duration::from_secs(120);
        let wait = retry_after(&with_retry_after(&HttpDate::from(earlier).to_string()));
        assert_eq!(wait, Some(Duration::ZERO));
    }

    #[test]
    fn garbage_retry_after_is_ignored() {
        assert_eq!(retry_after(&with_retry_after("soon")), None);
    }
}
