//! [`Snapshot::build`]: options validated and turned into the snapshot the runtime serves from.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};

use crate::cache::redis::deployment_key;
use crate::cache::session::SessionCache;
use crate::core::Scheme;
use crate::core::error::ConfigError;
use crate::core::path::plain_base_path;
use crate::core::peer::parse_trust_list;
use crate::core::token::{JwsKeys, SaltKeys, TokenKeys};
use crate::hygiene::is_hop_by_hop;
use crate::options::proxy::{ProxyOptions, SessionStrategy};
use crate::options::{MAX_DURATION_MS, SECURE_SESSION_COOKIE, SESSION_COOKIE};
use crate::resilience::breaker::MAX_PROBES;
use crate::resilience::limiter::MAX_LIMIT as MAX_IN_FLIGHT;
use crate::resilience::{Breaker, InFlightLimit, Resilience, RetryBudget};
use crate::revocation::Revocation;
use crate::revocation::shared::RevocationLink;
use crate::runtime::snapshot::{PublicOrigin, Snapshot, UpstreamOrigin};
use crate::signin_guard::SignInGuard;
use crate::signin_guard::shared::GuardLink;
use crate::store::SessionStore;

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Whether an origin built by [`parse_base_url`] is on loopback.
fn origin_is_loopback(origin: &str) -> bool {
    url::Url::parse(origin)
        .ok()
        .is_some_and(|u| u.host().is_some_and(|h| is_loopback(&h)))
}

fn parse_base_url(raw: &str, strict_https: bool) -> Result<UpstreamOrigin, ConfigError> {
    const FIELD: &str = "base_url";
    if raw.trim().is_empty() {
        return Err(ConfigError::new(
            FIELD,
            "is required (e.g. https://auth.example.com)",
        ));
    }
    let url = url::Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(FIELD, format!("is not an absolute URL: {e}")))?;
    let scheme = url.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(ConfigError::new(FIELD, "must use http or https"));
    }
    let host = url
        .host()
        .ok_or_else(|| ConfigError::new(FIELD, "must include a host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(FIELD, "must not contain credentials"));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(ConfigError::new(
            FIELD,
            "must be an origin without a path; put the path in target_base_path",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(FIELD, "must not have a query or fragment"));
    }
    if scheme == "http" && !is_loopback(&host) {
        if strict_https {
            return Err(ConfigError::new(
                FIELD,
                "plain http to a non-loopback host is refused (strict_https = true)",
            ));
        }
        tracing::warn!(
            upstream = %host,
            "upstream base_url uses plain http to a non-loopback host: cookies and secrets travel unencrypted; use https"
        );
    }
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let host_header = HeaderValue::from_str(&authority)
        .map_err(|_| ConfigError::new(FIELD, "has a host that is not a valid Host header"))?;
    Ok(UpstreamOrigin {
        tls: scheme == "https",
        wire_origin: format!("http://{host}:{port}"),
        origin: format!("{scheme}://{authority}"),
        authority,
        host_header,
    })
}

fn parse_public_url(raw: &str) -> Result<PublicOrigin, ConfigError> {
    const FIELD: &str = "public_url";
    let url = url::Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(FIELD, format!("is not an absolute URL: {e}")))?;
    let scheme = match url.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(ConfigError::new(FIELD, "must use http or https")),
    };
    let host = url
        .host()
        .ok_or_else(|| ConfigError::new(FIELD, "must include a host"))?;
    if !url.username().is_empty()
        || url.password().is_some()
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(ConfigError::new(
            FIELD,
            "must be an origin only (scheme, host, port), e.g. https://app.example.com",
        ));
    }
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Ok(PublicOrigin {
        origin: format!("{}://{authority}", scheme.as_str()),
        scheme,
        authority,
    })
}

fn valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// Whether JavaScript reads `name` as an array index (`0` to `2^32 - 2`, no leading zero): an
/// object lists such keys before all others.
fn is_array_index(name: &str) -> bool {
    (name == "0" || !name.starts_with('0'))
        && name.bytes().all(|b| b.is_ascii_digit())
        && name.parse::<u64>().is_ok_and(|n| n < u64::from(u32::MAX))
}

impl Snapshot {
    /// Validates options and builds a snapshot. The error names the field at fault.
    pub fn build(opts: &ProxyOptions, generation: u64) -> Result<Self, ConfigError> {
        let local_base_path = plain_base_path("local_base_path", &opts.local_base_path)?;
        let target_base_path = match &opts.target_base_path {
            Some(p) => plain_base_path("target_base_path", p)?,
            None => local_base_path.clone(),
        };
        let upstream = parse_base_url(&opts.base_url, opts.strict_https)?;
        let upstream_tls =
            crate::tls::upstream_client_config(&opts.tls, origin_is_loopback(&upstream.origin))?;
        let public = opts
            .public_url
            .as_deref()
            .map(parse_public_url)
            .transpose()?;
        let session_strategy = opts.session_strategy.ok_or_else(|| {
            ConfigError::new("session_strategy", "is required: \"jwt\" or \"database\"")
        })?;
        let cookie_names = match &opts.cookie_name {
            Some(name) if !valid_cookie_name(name) => {
                return Err(ConfigError::new(
                    "cookie_name",
                    "is not a valid cookie name",
                ));
            }
            Some(name) if is_array_index(name) => {
                return Err(ConfigError::new(
                    "cookie_name",
                    "must not be a number: Auth.js keeps cookies in a JavaScript object, which \
                     lists such names first, and would put the session's chunks together out of \
                     order",
                ));
            }
            Some(name) => vec![name.clone()],
            None => vec![SECURE_SESSION_COOKIE.to_owned(), SESSION_COOKIE.to_owned()],
        };
        let mut headers = Vec::with_capacity(opts.headers.len());
        for (name, value) in &opts.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::new(format!("headers.{name}"), "is not a valid header name")
            })?;
            let v = HeaderValue::from_str(value).map_err(|_| {
                ConfigError::new(
                    format!("headers.{name}"),
                    "value is not a valid header value",
                )
            })?;
            if is_hop_by_hop(&n) || matches!(n.as_str(), "host" | "content-length" | "expect") {
                return Err(ConfigError::new(
                    format!("headers.{name}"),
                    "hop-by-hop headers, Host, Content-Length and Expect are the proxy's own \
                     (see preserve_host and public_url)",
                ));
            }
            headers.push((n, v));
        }
        let secrets = match &opts.secret {
            None => Vec::new(),
            Some(s) => {
                let v = s.to_vec();
                if v.is_empty() || v.iter().any(|s| s.trim().is_empty()) {
                    return Err(ConfigError::new(
                        "secret",
                        "must not be empty or only white space",
                    ));
                }
                v
            }
        };
        let jws = match &opts.jws {
            None => None,
            Some(j) => {
                let key = j
                    .key
                    .clone()
                    .or_else(|| secrets.first().cloned())
                    .ok_or_else(|| {
                        ConfigError::new(
                            "jws.key",
                            "is required (or set secret for HS* algorithms)",
                        )
                    })?;
                Some(
                    JwsKeys::new(&j.algorithms, &key)
                        .map_err(|e| ConfigError::new("jws", e.to_string()))?
                        .with_audience(&j.audience)
                        .with_issuer(&j.issuer),
                )
            }
        };
        let keys = (!secrets.is_empty() || jws.is_some()).then(|| {
            Arc::new(TokenKeys {
                salts: cookie_names
                    .iter()
                    .map(|salt| SaltKeys::derive(&secrets, salt))
                    .collect(),
                jws,
            })
        });
        let r = &opts.retry;
        let t = &opts.timeouts;
        let c = &opts.session_cache;
        for (field, v) in [
            ("retry.initial_backoff_ms", r.initial_backoff_ms),
            ("retry.max_backoff_ms", r.max_backoff_ms),
            ("timeouts.connect_ms", t.connect_ms),
            ("timeouts.per_try_ms", t.per_try_ms),
            ("timeouts.request_ms", t.request_ms),
            ("timeouts.pool_idle_ms", t.pool_idle_ms),
            ("timeouts.client_body_ms", t.client_body_ms),
            ("session_cache.ttl_ms", c.ttl_ms),
            ("session_cache.negative_ttl_ms", c.negative_ttl_ms),
            ("session_cache.stale_if_error_ms", c.stale_if_error_ms),
            (
                "session_cache.redis.timeout_ms",
                c.redis.as_ref().map_or(0, |r| r.timeout_ms),
            ),
            ("circuit_breaker.open_ms", opts.circuit_breaker.open_ms),
        ] {
            if v > MAX_DURATION_MS {
                return Err(ConfigError::new(
                    field,
                    format!("must be at most {MAX_DURATION_MS} (31 days)"),
                ));
            }
        }
        if r.max_attempts == 0 {
            return Err(ConfigError::new("retry.max_attempts", "must be at least 1"));
        }
        if r.max_backoff_ms < r.initial_backoff_ms {
            return Err(ConfigError::new(
                "retry.max_backoff_ms",
                "must not be below retry.initial_backoff_ms",
            ));
        }
        for (field, v) in [
            ("timeouts.connect_ms", t.connect_ms),
            ("timeouts.per_try_ms", t.per_try_ms),
            ("timeouts.request_ms", t.request_ms),
            ("timeouts.pool_idle_ms", t.pool_idle_ms),
            ("timeouts.client_body_ms", t.client_body_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::new(field, "must be above 0"));
            }
        }
        if opts.max_body_bytes == 0 {
            return Err(ConfigError::new("max_body_bytes", "must be above 0"));
        }
        if opts.max_response_bytes == 0 {
            return Err(ConfigError::new("max_response_bytes", "must be above 0"));
        }
        let b = &opts.circuit_breaker;
        if b.consecutive_failures > 0 && b.open_ms == 0 {
            return Err(ConfigError::new(
                "circuit_breaker.open_ms",
                "must be above 0 (set circuit_breaker.consecutive_failures = 0 to disable the breaker)",
            ));
        }
        if !(1..=MAX_PROBES).contains(&b.half_open_probes) {
            return Err(ConfigError::new(
                "circuit_breaker.half_open_probes",
                format!("must be between 1 and {MAX_PROBES}"),
            ));
        }
        if r.budget_percent > 1000 {
            return Err(ConfigError::new(
                "retry.budget_percent",
                "must be between 0 and 1000",
            ));
        }
        if opts.upstream.max_in_flight > MAX_IN_FLIGHT {
            return Err(ConfigError::new(
                "upstream.max_in_flight",
                format!("must be at most {MAX_IN_FLIGHT} (0 disables the limit)"),
            ));
        }
        if opts.session_cache.max_entries == 0 && opts.session_cache.ttl_ms > 0 {
            return Err(ConfigError::new(
                "session_cache.max_entries",
                "must be above 0 (set session_cache.ttl_ms = 0 to disable the cache)",
            ));
        }
        let session_store = SessionStore::new(
            &opts.session_store,
            (
                b.consecutive_failures,
                Duration::from_millis(b.open_ms),
                b.half_open_probes,
            ),
        )?;
        if session_store.is_some() && session_strategy != SessionStrategy::Database {
            return Err(ConfigError::new(
                "session_store.postgres",
                "reads database sessions: it needs session_strategy = \"database\"",
            ));
        }
        let trusted_proxies = if opts.trust_forwarded {
            tracing::warn!(
                "proxy.trust_forwarded is deprecated and trusts every peer's forwarding headers: \
                 set server.trusted_proxies (ProxyOptions::trusted_proxies) to the front proxies' \
                 addresses instead"
            );
            parse_trust_list("trust_forwarded", &["0.0.0.0/0".into(), "::/0".into()])?
        } else {
            parse_trust_list("trusted_proxies", &opts.trusted_proxies)?
        };
        Ok(Snapshot {
            generation,
            local_base_path,
            target_base_path,
            upstream,
            session_strategy,
            secure_cookie_names: match &opts.cookie_name {
                Some(name) => vec![name.clone()],
                None => vec![SECURE_SESSION_COOKIE.to_owned()],
            },
            cookie_names,
            public,
            headers,
            preserve_host: opts.preserve_host,
            trusted_proxies,
            trust_any_peer: opts.trust_forwarded,
            attached: None,
            max_body_bytes: opts.max_body_bytes,
            max_response_bytes: opts.max_response_bytes,
            retry: opts.retry.clone(),
            connect_timeout: Duration::from_millis(t.connect_ms),
            per_try_timeout: Duration::from_millis(t.per_try_ms),
            pool_idle_timeout: Duration::from_millis(t.pool_idle_ms),
            client_body_timeout: Duration::from_millis(t.client_body_ms),
            request_timeout: Duration::from_millis(t.request_ms),
            session_cache: SessionCache::new(
                &opts.session_cache,
                Duration::from_millis(t.request_ms),
                secrets.first().map(String::as_str),
            )?,
            session_store,
            revocation: revocation(opts, secrets.first().map(String::as_str))?,
            sign_in: sign_in_guard(opts, secrets.first().map(String::as_str))?,
            keys,
            upstream_tls,
            resilience: Arc::new(Resilience::new(
                Breaker::new(
                    b.consecutive_failures,
                    Duration::from_millis(b.open_ms),
                    b.half_open_probes,
                ),
                RetryBudget::new(r.budget_percent, r.min_per_second),
                InFlightLimit::new(opts.upstream.max_in_flight),
            )),
        })
    }
}

/// Sign-in protection as `opts` configure it, over counters of its own (the runtime puts the
/// proxy's in place); counted in Redis when the session cache has a Redis level.
fn sign_in_guard(opts: &ProxyOptions, secret: Option<&str>) -> Result<SignInGuard, ConfigError> {
    let o = &opts.sign_in_protection;
    o.check()?;
    let shared = match &opts.session_cache.redis {
        Some(redis) if o.enabled => Some(Arc::new(GuardLink::new(
            redis,
            deployment_key(redis, secret)?,
        )?)),
        _ => None,
    };
    Ok(SignInGuard::new(o.clone(), Arc::default(), shared))
}

/// Revocation as `opts` configure it, over a list of its own (the runtime puts the proxy's
/// list in place); shared through the session cache's Redis level when there is one.
fn revocation(opts: &ProxyOptions, secret: Option<&str>) -> Result<Revocation, ConfigError> {
    let r = &opts.revocation;
    if r.session_max_age_s == 0 {
        return Err(ConfigError::new(
            "revocation.session_max_age_s",
            "must be above 0 (Auth.js's session.maxAge, in seconds)",
        ));
    }
    let redis = opts.session_cache.redis.as_ref();
    let material = match redis {
        Some(redis) => Some(deployment_key(redis, secret)?),
        None => secret,
    };
    let shared = match redis {
        Some(redis) if r.enabled => {
            Some(Arc::new(RevocationLink::new(redis, r.session_max_age_s)?))
        }
        _ => None,
    };
    Ok(Revocation::new(Arc::default(), material, r.clone(), shared))
}

#[cfg(test)]
mod tests;
