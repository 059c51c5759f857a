//! `[proxy]`: the options of the runtime, mirroring `configureAuthProxyRuntime`'s, plus
//! tunables. Plain data: the built snapshot is [`crate::runtime::Snapshot`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::core::redact::{Redacted, redacted};
use crate::options::session_store::SessionStoreOptions;
use crate::options::sign_in::SignInProtectionOptions;

/// How the upstream Auth.js keeps sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStrategy {
    /// Session in an encrypted cookie (JWE); can be decoded locally with the secret.
    Jwt,
    /// Opaque session id in the cookie; only the upstream can resolve it.
    Database,
}

/// One secret or a list (rotation, newest first).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Secret {
    /// A single secret.
    One(String),
    /// Several secrets, newest first.
    Many(Vec<String>),
}

impl Secret {
    /// The secrets, newest first.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Secret::One(s) => vec![s.clone()],
            Secret::Many(v) => v.clone(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} secret(s) redacted>", self.to_vec().len())
    }
}

/// Retry policy for upstream requests (exponential backoff with jitter, via `backon`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryOptions {
    /// Attempts in total, the first included. Default 3; 1 disables retries.
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds. Default 25.
    pub initial_backoff_ms: u64,
    /// Upper bound of one delay (also caps `Retry-After`), in milliseconds. Default 1000.
    pub max_backoff_ms: u64,
    /// Randomise delays to avoid synchronised retries. Default true.
    pub jitter: bool,
    /// Retry budget: retries may add at most this percentage of the requests of the last
    /// 10 seconds (Finagle/Linkerd). Past it, the first failure is returned. Default 20.
    pub budget_percent: u32,
    /// Retries always allowed on top of `budget_percent`, per second (averaged over 10 s), so
    /// a quiet service can still retry. Default 10.
    pub min_per_second: u32,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_attempts: 3,
            initial_backoff_ms: 25,
            max_backoff_ms: 1000,
            jitter: true,
            budget_percent: 20,
            min_per_second: 10,
        }
    }
}

/// Timeouts for upstream requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutOptions {
    /// TCP (and TLS) connect timeout, in milliseconds. Default 2000.
    pub connect_ms: u64,
    /// Timeout of one attempt until the response head arrives, in milliseconds. Default 10000.
    pub per_try_ms: u64,
    /// Deadline for the whole request, retries and backoff included, in milliseconds.
    /// Default 15000.
    pub request_ms: u64,
    /// Longest time to read a client's request body, in milliseconds; slower clients get
    /// `408` and their connection is freed (nginx's `client_body_timeout`). Default 60000.
    pub client_body_ms: u64,
    /// How long an idle pooled upstream connection may be reused, in milliseconds. Default
    /// 4000: below Node's 5 s keep-alive timeout, so a request never lands on a connection
    /// the upstream is closing.
    pub pool_idle_ms: u64,
}

impl Default for TimeoutOptions {
    fn default() -> Self {
        TimeoutOptions {
            connect_ms: 2000,
            per_try_ms: 10_000,
            request_ms: 15_000,
            client_body_ms: 60_000,
            pool_idle_ms: 4000,
        }
    }
}

/// Session cache for `get_server_session`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionCacheOptions {
    /// How long a session answer is reused, in milliseconds. Default 5000; 0 disables the cache.
    pub ttl_ms: u64,
    /// How long a "no session" answer is reused, in milliseconds. Default 1000.
    pub negative_ttl_ms: u64,
    /// Most entries kept. Default 10000.
    pub max_entries: u64,
    /// A Redis level shared by replicas, under the local cache; off when absent.
    pub redis: Option<RedisOptions>,
    /// Stale-if-error: when the upstream can not answer (circuit open, overloaded, timeout,
    /// connection failure, 5xx), answer from the last good answer for the same cookie if it
    /// is at most this old, in milliseconds. A sign-out or other invalidation removes it.
    /// Default 60000; 0 disables.
    pub stale_if_error_ms: u64,
}

impl Default for SessionCacheOptions {
    fn default() -> Self {
        SessionCacheOptions {
            ttl_ms: 5000,
            negative_ttl_ms: 1000,
            max_entries: 10_000,
            redis: None,
            stale_if_error_ms: 60_000,
        }
    }
}

/// The shared Redis level of the session cache (`[proxy.session_cache.redis]`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port/db` or `rediss://...` (TLS). Required.
    pub url: String,
    /// Prefix of every key and of the invalidation channel. Default `authjs-proxy:`.
    pub key_prefix: String,
    /// Key material for entry ids; default: derived from the newest `secret`.
    pub key: Option<String>,
    /// Timeout of one Redis command, in milliseconds; past it the local cache and the
    /// upstream answer. Default 50.
    pub timeout_ms: u64,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: String::new(),
            key_prefix: "authjs-proxy:".into(),
            key: None,
            timeout_ms: 50,
        }
    }
}

/// Revocation of JWT sessions (`[proxy.revocation]`): a token that signed out through the
/// proxy is refused until it expires, on every replica sharing the Redis level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevocationOptions {
    /// Deny-list the session token of each sign-out, and honour "sign out everywhere".
    /// Default true.
    pub enabled: bool,
    /// What a sign-out revokes: `token` (the token it presented, default) or `subject`
    /// (every token of that user issued before it, including copies Auth.js rolled since).
    pub on_sign_out: OnSignOut,
    /// Auth.js's `session.maxAge`, in seconds (default 2592000, 30 days): the longest a token
    /// lives, so how long a "sign out everywhere" and the revocation of a token the proxy can
    /// not read (no secret) are kept.
    pub session_max_age_s: u64,
}

impl Default for RevocationOptions {
    fn default() -> Self {
        RevocationOptions {
            enabled: true,
            on_sign_out: OnSignOut::Token,
            session_max_age_s: 30 * 24 * 3600,
        }
    }
}

/// What a sign-out through the proxy revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnSignOut {
    /// The session token the sign-out presented.
    Token,
    /// Every token of its subject issued before the sign-out.
    Subject,
}

/// Circuit breaker for the upstream, shared by all worker threads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBreakerOptions {
    /// Failed exchanges in a row (connect failures, timeouts, broken connections,
    /// 502/503/504; not 4xx) that open the circuit. Default 5; 0 disables the breaker.
    pub consecutive_failures: u32,
    /// How long an open circuit fails requests fast (503 + `Retry-After`) before probing,
    /// in milliseconds. Default 5000.
    pub open_ms: u64,
    /// Requests let through once `open_ms` has passed (one attempt each); when all succeed
    /// the circuit closes, one failure opens it again. Default 3.
    pub half_open_probes: u32,
}

impl Default for CircuitBreakerOptions {
    fn default() -> Self {
        CircuitBreakerOptions {
            consecutive_failures: 5,
            open_ms: 5000,
            half_open_probes: 3,
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = match url::Url::parse(&self.url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("redacted"));
                u.to_string()
            }
            Ok(u) => u.to_string(),
            Err(_) => "<invalid>".into(),
        };
        f.debug_struct("RedisOptions")
            .field("url", &url)
            .field("key_prefix", &self.key_prefix)
            .field("key", &redacted(&self.key))
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Limits on the upstream as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamOptions {
    /// Most requests at the upstream at once, per instance (all workers together). Past it a
    /// request waits briefly for a slot, then gets 503 + `Retry-After`. Default 256; 0
    /// disables the limit.
    pub max_in_flight: usize,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions { max_in_flight: 256 }
    }
}

/// Signed-JWT (JWS) decoding, for deployments that replaced Auth.js's token encoder.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwsOptions {
    /// Accepted algorithms, one family only (e.g. `["HS256"]`, `["RS256", "PS256"]`).
    pub algorithms: Vec<String>,
    /// HMAC secret (HS*) or PEM public key (others). Defaults to the first `secret` for HS*.
    pub key: Option<String>,
    /// Accepted audiences, as jose's `audience` option: when set, a token needs an `aud` that
    /// is one of them (or an array holding one). Empty (the default): `aud` is not checked.
    #[serde(default)]
    pub audience: Vec<String>,
    /// Accepted issuers, as jose's `issuer` option: when set, a token needs an `iss` equal to
    /// one of them. Empty (the default): `iss` is not checked.
    #[serde(default)]
    pub issuer: Vec<String>,
}

impl fmt::Debug for JwsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwsOptions")
            .field("algorithms", &self.algorithms)
            .field("key", &redacted(&self.key))
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// The options of the runtime, mirroring `configureAuthProxyRuntime`'s, plus tunables.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyOptions {
    /// Where the auth routes are mounted locally. Default `/api/auth`.
    pub local_base_path: String,
    /// Path of the auth routes on the upstream. Default: `local_base_path`.
    pub target_base_path: Option<String>,
    /// Upstream origin, `http(s)://host[:port]`. Required.
    pub base_url: String,
    /// `jwt` or `database`, as on the upstream. Required.
    pub session_strategy: Option<SessionStrategy>,
    /// Session cookie name. Default: accept `__Secure-authjs.session-token` and
    /// `authjs.session-token`.
    pub cookie_name: Option<String>,
    /// Secret(s) for local token decoding, newest first.
    pub secret: Option<Secret>,
    /// Extra headers sent upstream; they override same-named client headers.
    pub headers: BTreeMap<String, String>,
    /// The origin clients use (`https://app.example.com`). When set, the `Host` (with
    /// `preserve_host`), `X-Forwarded-Host` and `X-Forwarded-Proto` sent upstream come from
    /// it, never from the client, and it is the origin of rewritten `Location`s.
    pub public_url: Option<String>,
    /// Send the client's `Host` upstream instead of the upstream's (`public_url`'s host when
    /// set). Default false.
    pub preserve_host: bool,
    /// Deprecated (one release): trusts every peer's forwarding headers. Use
    /// [`trusted_proxies`](Self::trusted_proxies) (`[server] trusted_proxies` in the file).
    pub trust_forwarded: bool,
    /// The peers (CIDRs or addresses) whose `X-Forwarded-For`/`-Proto`/`-Host`/`-Uri`/
    /// `-Method` and `X-Original-URL` count, for every route, the forward-auth endpoint and
    /// session lookups; from any other peer they are replaced or dropped. Default loopback
    /// (`127.0.0.0/8`, `::1/128`). In the file: `[server] trusted_proxies`.
    #[serde(skip)]
    pub trusted_proxies: Vec<String>,
    /// Refuse plain `http://` upstreams that are not on loopback. Default false (warn only).
    pub strict_https: bool,
    /// Largest request body forwarded, in bytes; larger ones get 413. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Largest upstream response body accepted, in bytes. Default 8 MiB.
    pub max_response_bytes: usize,
    /// Retry policy.
    pub retry: RetryOptions,
    /// Timeouts.
    pub timeouts: TimeoutOptions,
    /// Session cache.
    pub session_cache: SessionCacheOptions,
    /// Database sessions read from the adapter's tables (`[proxy.session_store]`); off by
    /// default.
    pub session_store: SessionStoreOptions,
    /// Circuit breaker.
    pub circuit_breaker: CircuitBreakerOptions,
    /// Limits on the upstream.
    pub upstream: UpstreamOptions,
    /// Revocation of JWT sessions at sign-out.
    pub revocation: RevocationOptions,
    /// Brute-force and e-mail flooding protection of sign-ins. In the file:
    /// `[sign_in_protection]`.
    #[serde(skip)]
    pub sign_in_protection: SignInProtectionOptions,
    /// Signed-JWT decoding; off by default.
    pub jws: Option<JwsOptions>,
    /// TLS to the upstream (`[proxy.tls]`): extra roots, client certificate.
    pub tls: UpstreamTlsOptions,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            local_base_path: "/api/auth".into(),
            target_base_path: None,
            base_url: String::new(),
            session_strategy: None,
            cookie_name: None,
            secret: None,
            headers: BTreeMap::new(),
            public_url: None,
            preserve_host: false,
            trust_forwarded: false,
            trusted_proxies: default_trusted_proxies(),
            strict_https: false,
            max_body_bytes: 1024 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            retry: RetryOptions::default(),
            timeouts: TimeoutOptions::default(),
            session_cache: SessionCacheOptions::default(),
            session_store: SessionStoreOptions::default(),
            circuit_breaker: CircuitBreakerOptions::default(),
            upstream: UpstreamOptions::default(),
            revocation: RevocationOptions::default(),
            sign_in_protection: SignInProtectionOptions::default(),
            jws: None,
            tls: UpstreamTlsOptions::default(),
        }
    }
}

impl fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyOptions")
            .field("local_base_path", &self.local_base_path)
            .field("target_base_path", &self.target_base_path)
            .field("base_url", &self.base_url)
            .field("session_strategy", &self.session_strategy)
            .field("cookie_name", &self.cookie_name)
            .field("secret", &self.secret)
            .field("headers", &RedactedHeaders(self.headers.keys()))
            .field("public_url", &self.public_url)
            .field("preserve_host", &self.preserve_host)
            .field("trust_forwarded", &self.trust_forwarded)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("strict_https", &self.strict_https)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .field("session_cache", &self.session_cache)
            .field("session_store", &self.session_store)
            .field("circuit_breaker", &self.circuit_breaker)
            .field("upstream", &self.upstream)
            .field("revocation", &self.revocation)
            .field("sign_in_protection", &self.sign_in_protection)
            .field("jws", &self.jws)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The default trusted peers: loopback only.
pub fn default_trusted_proxies() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}

/// TLS to the upstream (`[proxy.tls]`). Certificates and keys are PEM files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamTlsOptions {
    /// Extra trusted roots (PEM, one or more certificates), added to the public web roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM) presented to the upstream (mTLS); needs
    /// `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of `client_cert_file`.
    pub client_key_file: Option<PathBuf>,
    /// Accept any upstream certificate. Refused unless the upstream is on loopback or the
    /// binary runs with `--allow-insecure`; logged loudly. Default false.
    pub insecure_skip_verify: bool,
    /// Set by `--allow-insecure` (never read from the file): permits `insecure_skip_verify`
    /// for a non-loopback upstream.
    #[serde(skip)]
    pub allow_insecure: bool,
}

struct RedactedHeaders<I>(I);

impl<'a, I: Iterator<Item = &'a String> + Clone> fmt::Debug for RedactedHeaders<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.clone().map(|k| (k, Redacted(k))))
            .finish()
    }
}

impl ProxyOptions {
    /// Options for an upstream at `base_url` with the given strategy; everything else default.
    ///
    /// # Examples
    /// ```
    /// use authjs_proxy::config::{ProxyOptions, SessionStrategy};
    /// let opts = ProxyOptions::new("http://127.0.0.1:4000", SessionStrategy::Jwt);
    /// assert_eq!(opts.local_base_path, "/api/auth");
    /// ```
    pub fn new(base_url: impl Into<String>, strategy: SessionStrategy) -> Self {
        ProxyOptions {
            base_url: base_url.into(),
            session_strategy: Some(strategy),
            ..ProxyOptions::default()
        }
    }
}
