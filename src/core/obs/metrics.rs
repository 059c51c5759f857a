//! Prometheus metrics (`prometheus-client`), exposed by the admin listener's `GET /metrics`.
//!
//! The registry is process-wide so hooks in the hot path are one call (`metrics::…`) without
//! threading a handle through every layer. Names follow the Prometheus conventions: prefix
//! `authjs_proxy_`, `_total` counters, seconds, low-cardinality labels (route templates, never
//! raw paths). Metrics of capabilities that have not been wired yet (circuit breaker,
//! forward-auth) are registered on first use, so they appear when their work lands.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Duration;

use actix_web::http::StatusCode;
use foldhash::fast::RandomState as FastHash;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

pub use crate::core::breaker_state::BreakerState;
use crate::core::error::UpstreamError;

/// `Content-Type` of [`encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Labels of `requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Cow<'static, str>,
    method: &'static str,
    status: u16,
}

/// Labels of `request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// What a `get_server_session` lookup found in the session cache.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum CacheResult {
    /// Answered from the cache (or joined a lookup already in flight).
    Hit,
    /// Asked the upstream.
    Miss,
    /// Answered with an expired entry because the upstream failed (stale-if-error).
    Stale,
    /// The shared level held a value no replica of this deployment wrote (forged or
    /// tampered); refused as a miss.
    Refused,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: RwLock<Registry>,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteLabels>,
    upstream_requests: Family<OutcomeLabels, Counter>,
    upstream_retries: Family<ReasonLabels, Counter>,
    upstream_duration: Histogram,
    upstream_in_flight: Gauge,
    session_cache: Family<ResultLabels, Counter>,
    token_decode: Family<ResultLabels, Counter>,
    config_generation: Gauge,
    config_reloads: Family<ResultLabels, Counter>,
    breaker_state: OnceLock<Gauge>,
    forward_auth: OnceLock<Family<ResultLabels, Counter>>,
    redis_up: OnceLock<Gauge>,
    store_lookups: OnceLock<Family<ResultLabels, Counter>>,
    store_breaker_state: OnceLock<Gauge>,
}

/// Latency buckets from 1 ms to ~16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut r = Registry::with_prefix("authjs_proxy");
    let requests = Family::<RequestLabels, Counter>::default();
    r.register(
        "requests",
        "Requests answered, by route template, method and status",
        requests.clone(),
    );
    let request_duration: HistogramFamily<RouteLabels> =
        Family::new_with_constructor(latency_histogram);
    r.register_with_unit(
        "request_duration",
        "Time from request to response head, by route template",
        Unit::Seconds,
        request_duration.clone(),
    );
    let upstream_requests = Family::<OutcomeLabels, Counter>::default();
    r.register(
        "upstream_requests",
        "Upstream requests (retries included in one), by final outcome",
        upstream_requests.clone(),
    );
    let upstream_retries = Family::<ReasonLabels, Counter>::default();
    r.register(
        "upstream_retries",
        "Upstream attempts sent again, by the reason of the failed attempt",
        upstream_retries.clone(),
    );
    let upstream_duration = latency_histogram();
    r.register_with_unit(
        "upstream_duration",
        "Time of upstream requests, retries and backoff included",
        Unit::Seconds,
        upstream_duration.clone(),
    );
    let upstream_in_flight = Gauge::default();
    r.register(
        "upstream_in_flight",
        "Upstream requests in progress",
        upstream_in_flight.clone(),
    );
    let session_cache = Family::<ResultLabels, Counter>::default();
    r.register(
        "session_cache_requests",
        "get_server_session lookups through the session cache, by result",
        session_cache.clone(),
    );
    let token_decode = Family::<ResultLabels, Counter>::default();
    r.register(
        "token_decode",
        "Local session token decodes, by result (revoked: valid, but signed out through the proxy; also counted valid)",
        token_decode.clone(),
    );
    let config_generation = Gauge::default();
    r.register(
        "config_generation",
        "Generation of the configuration in force (0: unconfigured)",
        config_generation.clone(),
    );
    let config_reloads = Family::<ResultLabels, Counter>::default();
    r.register(
        "config_reloads",
        "Configuration reloads (SIGHUP or POST /reload), by result",
        config_reloads.clone(),
    );
    let build_info = Family::<VersionLabels, Gauge>::default();
    build_info
        .get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
    r.register("build_info", "Build information (always 1)", build_info);
    Metrics {
        registry: RwLock::new(r),
        requests,
        request_duration,
        upstream_requests,
        upstream_retries,
        upstream_duration,
        upstream_in_flight,
        session_cache,
        token_decode,
        config_generation,
        config_reloads,
        breaker_state: OnceLock::new(),
        forward_auth: OnceLock::new(),
        redis_up: OnceLock::new(),
        store_lookups: OnceLock::new(),
        store_breaker_state: OnceLock::new(),
    }
});

fn register_late<M>(name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    let mut r = METRICS
        .registry
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    r.register(name, help, metric.clone());
    metric
}

/// The metrics in the Prometheus text format (0.0.4), see [`CONTENT_TYPE`].
pub fn encode() -> String {
    let mut out = String::with_capacity(8 * 1024);
    let r = METRICS
        .registry
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &r);
    out
}

/// The label for an HTTP method: the common ones by name, anything else `other`.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

thread_local! {
    /// The series this thread records requests into, by their labels. A family lookup takes
    /// a lock and hashes the labels twice per request; the series themselves are shared
    /// (clones of the registered ones), so `/metrics` sees every thread's counts.
    /// (Keyed with foldhash: the labels are few and ours, SipHash's flood resistance buys
    /// nothing here and showed in profiles.)
    static REQUEST_SERIES: RefCell<HashMap<RequestLabels, (Counter, Histogram), FastHash>> =
        RefCell::new(HashMap::default());
    static UPSTREAM_SERIES: RefCell<HashMap<&'static str, Counter, FastHash>> =
        RefCell::new(HashMap::default());
}

/// One request answered on the public listener.
pub fn request(route: Cow<'static, str>, method: &'static str, status: u16, took: Duration) {
    let labels = RequestLabels {
        route,
        method,
        status,
    };
    REQUEST_SERIES.with(|series| {
        let mut series = series.borrow_mut();
        if let Some((count, duration)) = series.get(&labels) {
            count.inc();
            duration.observe(took.as_secs_f64());
            return;
        }
        let m = &*METRICS;
        let duration = m
            .request_duration
            .get_or_create(&RouteLabels {
                route: labels.route.clone(),
            })
            .clone();
        let count = m.requests.get_or_create(&labels).clone();
        count.inc();
        duration.observe(took.as_secs_f64());
        series.insert(labels, (count, duration));
    });
}

/// One upstream request finished (after its retries) with `outcome`, taking `took`.
pub fn upstream_request(outcome: &'static str, took: Duration) {
    let m = &*METRICS;
    UPSTREAM_SERIES.with(|series| {
        series
            .borrow_mut()
            .entry(outcome)
            .or_insert_with(|| {
                m.upstream_requests
                    .get_or_create(&OutcomeLabels { outcome })
                    .clone()
            })
            .inc();
    });
    m.upstream_duration.observe(took.as_secs_f64());
}

/// [`upstream_request`] for the result of `UpstreamActor`'s `forward`.
pub fn upstream_outcome(outcome: Result<StatusCode, &UpstreamError>, took: Duration) {
    let label = match outcome {
        Ok(status) if status.is_server_error() => "error_status",
        Ok(_) => "ok",
        Err(UpstreamError::Unreachable { .. }) => "unreachable",
        Err(UpstreamError::Broken { .. }) => "broken",
        Err(UpstreamError::Timeout { .. }) => "timeout",
        Err(UpstreamError::ResponseTooLarge) => "too_large",
        Err(UpstreamError::Tls { .. }) => "tls",
        Err(UpstreamError::CircuitOpen { .. }) => "circuit_open",
        Err(UpstreamError::Overloaded { .. }) => "overloaded",
    };
    upstream_request(label, took);
}

/// An upstream attempt failed with `reason` and is sent again.
pub fn upstream_retry(reason: &'static str) {
    METRICS
        .upstream_retries
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// Counts one upstream request in progress until the guard drops (also when the request's
/// future is dropped half-way).
#[must_use = "the request counts as in flight until the guard drops"]
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.upstream_in_flight.dec();
    }
}

/// Marks an upstream request in progress; see [`InFlight`].
pub fn upstream_in_flight() -> InFlight {
    METRICS.upstream_in_flight.inc();
    InFlight(())
}

/// A session cache lookup ended with `result`.
pub fn session_cache(result: CacheResult) {
    let result = match result {
        CacheResult::Hit => "hit",
        CacheResult::Miss => "miss",
        CacheResult::Stale => "stale",
        CacheResult::Refused => "refused",
    };
    METRICS
        .session_cache
        .get_or_create(&ResultLabels { result })
        .inc();
}

/// A local token decode succeeded (`valid`) or found nothing usable.
pub fn token_decode(valid: bool) {
    // Counted on every forward-auth decision: the two series are looked up once.
    static SERIES: LazyLock<[Counter; 2]> = LazyLock::new(|| {
        ["valid", "invalid"].map(|result| {
            METRICS
                .token_decode
                .get_or_create(&ResultLabels { result })
                .clone()
        })
    });
    SERIES[usize::from(!valid)].inc();
}

/// A token that decoded was refused as revoked (signed out through the proxy).
pub fn token_revoked() {
    static SERIES: LazyLock<Counter> = LazyLock::new(|| {
        METRICS
            .token_decode
            .get_or_create(&ResultLabels { result: "revoked" })
            .clone()
    });
    SERIES.inc();
}

/// A sign-in refused because a budget was spent (`kind`: credentials or email; `reason`: the
/// budget).
pub fn sign_in_refused(kind: &'static str, reason: &'static str) {
    sign_in_family()
        .get_or_create(&SignInLabels { kind, reason })
        .inc();
}

/// The configuration generation now in force.
pub fn config_generation(generation: u64) {
    METRICS
        .config_generation
        .set(i64::try_from(generation).unwrap_or(i64::MAX));
}

/// A reload (SIGHUP or `POST /reload`) was applied (`true`) or refused.
pub fn config_reload(applied: bool) {
    let result = if applied { "ok" } else { "error" };
    METRICS
        .config_reloads
        .get_or_create(&ResultLabels { result })
        .inc();
}

/// The upstream circuit breaker moved to `state`. `circuit_breaker_state` appears with the
/// first call, or at the start with [`at_zero`].
pub fn circuit_breaker_state(state: BreakerState) {
    circuit_breaker_gauge().set(state.gauge_value());
}

/// Whether the session cache's Redis level answers (`session_cache_redis_up`, 1 or 0; it
/// appears with the level's first answer or failure, or with [`at_zero`] when one is
/// configured).
pub fn redis_up(up: bool) {
    redis_gauge().set(i64::from(up));
}

fn redis_gauge() -> &'static Gauge {
    METRICS.redis_up.get_or_init(|| {
        register_late(
            "session_cache_redis_up",
            "Whether the session cache's Redis level answers (1) or not (0)",
            Gauge::default(),
        )
    })
}

/// One forward-auth decision, by [`FORWARD_AUTH_RESULTS`]. `forward_auth_decisions_total`
/// appears with the first call, or at the start with [`at_zero`].
pub fn forward_auth_decision(result: &'static str) {
    forward_auth_family()
        .get_or_create(&ResultLabels { result })
        .inc();
}

/// The forward-auth decision results, as `forward_auth_decisions_total` labels them.
pub const FORWARD_AUTH_RESULTS: [&str; 5] =
    ["allow", "redirect", "unauthenticated", "forbidden", "error"];

/// Makes every family of the service show from the start, each label at 0 (dashboards and
/// alerts need a series before its first event): call once when the service starts;
/// `forward_auth` when the decision endpoint is mounted, `redis` when the session cache has a
/// Redis level.
pub fn at_zero(forward_auth: bool, redis: bool) {
    let m = &*METRICS;
    for outcome in [
        "ok",
        "error_status",
        "unreachable",
        "broken",
        "timeout",
        "too_large",
        "tls",
        "circuit_open",
        "overloaded",
    ] {
        drop(
            m.upstream_requests
                .get_or_create(&OutcomeLabels { outcome }),
        );
    }
    for reason in ["connect", "timeout", "broken", "status"] {
        drop(m.upstream_retries.get_or_create(&ReasonLabels { reason }));
    }
    for result in ["hit", "miss", "stale", "refused"] {
        drop(m.session_cache.get_or_create(&ResultLabels { result }));
    }
    for result in ["valid", "invalid", "revoked"] {
        drop(m.token_decode.get_or_create(&ResultLabels { result }));
    }
    for result in ["ok", "error"] {
        drop(m.config_reloads.get_or_create(&ResultLabels { result }));
    }
    circuit_breaker_gauge();
    for (kind, reason) in SIGN_IN_BUDGETS {
        drop(sign_in_family().get_or_create(&SignInLabels { kind, reason }));
    }
    if redis {
        // Up until it fails: the start already refused a Redis that refused us.
        redis_gauge().set(1);
    }
    if forward_auth {
        let family = forward_auth_family();
        for result in FORWARD_AUTH_RESULTS {
            drop(family.get_or_create(&ResultLabels { result }));
        }
    }
}

/// Labels of `sign_in_refused_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    kind: &'static str,
    reason: &'static str,
}

fn sign_in_family() -> &'static Family<SignInLabels, Counter> {
    static FAMILY: OnceLock<Family<SignInLabels, Counter>> = OnceLock::new();
    FAMILY.get_or_init(|| {
        register_late(
            "sign_in_refused",
            "Sign-ins refused by sign-in protection, by kind and spent budget",
            Family::<SignInLabels, Counter>::default(),
        )
    })
}

/// The sign-in budgets by kind, for `sign_in_refused_total` at zero.
pub const SIGN_IN_BUDGETS: [(&str, &str); 5] = [
    ("credentials", "account_ip"),
    ("credentials", "ip"),
    ("credentials", "account"),
    ("email", "address"),
    ("email", "email_ip"),
];

fn circuit_breaker_gauge() -> &'static Gauge {
    METRICS.breaker_state.get_or_init(|| {
        register_late(
            "circuit_breaker_state",
            "Upstream circuit breaker: 0 closed, 1 open, 2 half-open",
            Gauge::default(),
        )
    })
}

/// One lookup in the session store (the adapter's database), by [`SESSION_STORE_RESULTS`].
/// `session_store_lookups_total` appears with the first call.
pub fn session_store_lookup(result: &'static str) {
    METRICS
        .store_lookups
        .get_or_init(|| {
            register_late(
                "session_store_lookups",
                "Session lookups in the adapter's database, by result",
                Family::<ResultLabels, Counter>::default(),
            )
        })
        .get_or_create(&ResultLabels { result })
        .inc();
}

/// The session store lookup results, as `session_store_lookups_total` labels them.
pub const SESSION_STORE_RESULTS: [&str; 4] = ["session", "none", "error", "circuit_open"];

/// The session store's circuit breaker moved to `state`
/// (`session_store_circuit_breaker_state`).
pub fn session_store_breaker_state(state: BreakerState) {
    METRICS
        .store_breaker_state
        .get_or_init(|| {
            register_late(
                "session_store_circuit_breaker_state",
                "Session store circuit breaker: 0 closed, 1 open, 2 half-open",
                Gauge::default(),
            )
        })
        .set(state.gauge_value());
}

fn forward_auth_family() -> &'static Family<ResultLabels, Counter> {
    METRICS.forward_auth.get_or_init(|| {
        register_late(
            "forward_auth_decisions",
            "Forward-auth decisions, by result",
            Family::<ResultLabels, Counter>::default(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_uses_prefixed_conventional_names() {
        request(
            Cow::Borrowed("auth/session"),
            "GET",
            200,
            Duration::from_millis(4),
        );
        upstream_request("ok", Duration::from_millis(3));
        session_cache(CacheResult::Hit);
        let text = encode();
        for name in [
            "# TYPE authjs_proxy_requests_total counter",
            "# TYPE authjs_proxy_request_duration_seconds histogram",
            "authjs_proxy_requests_total{route=\"auth/session\",method=\"GET\",status=\"200\"} 1",
            "authjs_proxy_upstream_requests_total{outcome=\"ok\"}",
            "authjs_proxy_upstream_duration_seconds_bucket",
            "authjs_proxy_session_cache_requests_total{result=\"hit\"}",
            "authjs_proxy_build_info{version=\"",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }

    #[test]
    fn late_metrics_appear_on_first_use() {
        circuit_breaker_state(BreakerState::Open);
        forward_auth_decision("allow");
        let text = encode();
        assert!(
            text.contains("authjs_proxy_circuit_breaker_state 1"),
            "{text}"
        );
        assert!(
            text.contains("authjs_proxy_forward_auth_decisions_total{result=\"allow\"} 1"),
            "{text}"
        );
    }
}
