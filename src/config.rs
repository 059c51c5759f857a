//! Configuration: the options a user writes ([`ProxyOptions`], [`FileConfig`]) and the validated,
//! immutable [`RuntimeConfig`] snapshot the runtime serves from.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::http::headers::Scheme;
use crate::resilience::breaker::MAX_PROBES;
use crate::resilience::limiter::MAX_LIMIT as MAX_IN_FLIGHT;
use crate::resilience::{Breaker, InFlightLimit, Resilience, RetryBudget};
use crate::session::SessionCache;
use crate::token::{JwsKeys, SaltKeys, TokenKeys};

/// Auth.js's session cookie name on plain http.
pub const SESSION_COOKIE: &str = "authjs.session-token";
/// Auth.js's session cookie name on https.
pub const SECURE_SESSION_COOKIE: &str = "__Secure-authjs.session-token";
/// Most worker threads the service starts (each holds a connection pool and a thread).
pub const MAX_WORKERS: usize = 256;
/// Environment variable prefix for overrides (`AUTHJS_PROXY__PROXY__BASE_URL`).
pub const ENV_PREFIX: &str = "AUTHJS_PROXY";

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
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
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
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
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
    /// Keep `X-Forwarded-Proto`/`-Host` sent by a trusted load balancer in front. Default false.
    pub trust_forwarded: bool,
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
    /// Circuit breaker.
    pub circuit_breaker: CircuitBreakerOptions,
    /// Limits on the upstream.
    pub upstream: UpstreamOptions,
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
            strict_https: false,
            max_body_bytes: 1024 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            retry: RetryOptions::default(),
            timeouts: TimeoutOptions::default(),
            session_cache: SessionCacheOptions::default(),
            circuit_breaker: CircuitBreakerOptions::default(),
            upstream: UpstreamOptions::default(),
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
            .field("strict_https", &self.strict_https)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .field("session_cache", &self.session_cache)
            .field("circuit_breaker", &self.circuit_breaker)
            .field("upstream", &self.upstream)
            .field("jws", &self.jws)
            .field("tls", &self.tls)
            .finish()
    }
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
            .entries(self.0.clone().map(|k| (k, "<redacted>")))
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

/// Listener settings of the binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerOptions {
    /// Address to listen on. Default `127.0.0.1:3000`.
    pub listen: String,
    /// Worker threads. Default: the number of CPUs.
    pub workers: usize,
    /// Serve https (`[server.tls]`); off when absent.
    pub tls: Option<ServerTlsOptions>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            listen: "127.0.0.1:3000".into(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            tls: None,
        }
    }
}

/// The listener's certificate (`[server.tls]`), re-read on every reload (renewals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsOptions {
    /// Certificate chain, PEM, leaf first.
    pub cert_file: PathBuf,
    /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// The admin listener (`[admin]`): `/metrics`, `/healthz`, `/readyz`, `POST /reload`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminOptions {
    /// Address of the admin listener, never the public one. Off when absent.
    pub listen: Option<String>,
    /// Bearer token `POST /reload` requires when set. Without it, `/reload` is refused
    /// unless the listener is on loopback.
    pub token: Option<String>,
    /// After SIGTERM, how long `/readyz` answers `503` while the proxy keeps serving, so load
    /// balancers stop sending traffic before the graceful shutdown starts, in milliseconds.
    /// Default 0.
    pub drain_ms: u64,
}

impl fmt::Debug for AdminOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminOptions")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("drain_ms", &self.drain_ms)
            .finish()
    }
}

impl AdminOptions {
    /// The parsed admin address (`None`: no admin listener).
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        self.listen
            .as_deref()
            .map(|l| {
                l.parse().map_err(|_| {
                    ConfigError::new("admin.listen", "expected an address like 127.0.0.1:9090")
                })
            })
            .transpose()
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (ANSI colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging (`[log]`); the level comes from `RUST_LOG` (default `info`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogOptions {
    /// `text` (default) or `json`; `--log-format` overrides it.
    pub format: LogFormat,
}

impl ServerOptions {
    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::new("server.listen", "expected an address like 127.0.0.1:3000")
        })
    }
}

/// The whole configuration file: `[server]`, `[proxy]`, `[forward_auth]`, `[admin]` and `[log]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Listener settings.
    pub server: ServerOptions,
    /// Proxy options.
    pub proxy: ProxyOptions,
    /// The forward-auth decision endpoint; off unless `enabled = true`.
    pub forward_auth: crate::gate::ForwardAuthOptions,
    /// Admin listener; off by default.
    pub admin: AdminOptions,
    /// Logging.
    pub log: LogOptions,
}

/// A file that does not parse or deserialize, said without the values in it: the parser's
/// excerpt of the offending line is dropped, and a value quoted in the message (`invalid type:
/// string "..."`, `unknown variant `...``) is replaced by `…`. Secrets and header values live
/// in this file, and the message goes to logs and to `POST /reload` answers.
fn file_error(e: config::ConfigError) -> ConfigError {
    let text = e.to_string();
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            // The excerpt: `  |`, `9 | secret = "...`, `  |     ^`.
            let rest = line
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit());
            !rest.trim_start().starts_with('|')
        })
        .collect();
    let mut text = redact_quoted(&kept.join(" "));
    // The config crate names an unknown enum value unquoted.
    const VARIANT: &str = "does not have variant constructor ";
    if let Some(at) = text.find(VARIANT) {
        let from = at + VARIANT.len();
        let end = text[from..]
            .find(" for key ")
            .map_or(text.len(), |e| from + e);
        text.replace_range(from..end, "…");
    }
    ConfigError::new("file", text)
}

/// `text` with what is quoted in it (`"..."`, and `` `...` `` after a word that introduces a
/// value) replaced by `…`. Field names (`` `proxy.secret` ``) stay.
fn redact_quoted(text: &str) -> String {
    const VALUE_WORDS: [&str; 7] = [
        "variant",
        "integer",
        "point",
        "boolean",
        "character",
        "string",
        "value",
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['"', '`']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let quote = &from[..1];
        // The closing quote: one no backslash escapes (values are printed with `{:?}`).
        let closing = from[1..].char_indices().scan(false, |escaped, (i, c)| {
            let found = !*escaped && from[1..][i..].starts_with(quote);
            *escaped = !*escaped && c == '\\';
            Some((i, found))
        });
        let Some(end) = closing.filter(|&(_, found)| found).map(|(i, _)| i).next() else {
            // An unterminated quote: nothing after it is kept.
            out.push_str(quote);
            out.push('…');
            return out;
        };
        let is_value = quote == "\"" || VALUE_WORDS.iter().any(|w| before.trim_end().ends_with(w));
        out.push_str(quote);
        out.push_str(if is_value { "…" } else { &from[1..=end] });
        out.push_str(quote);
        rest = &from[end + 2..];
    }
    out.push_str(rest);
    out
}

impl FileConfig {
    /// Reads a TOML file, applies `AUTHJS_PROXY__SECTION__KEY` environment overrides and
    /// `AUTH_SECRET` (when no secret is set), and validates the result.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Like [`FileConfig::load`]; `allow_insecure` (`--allow-insecure`) permits
    /// `proxy.tls.insecure_skip_verify` for a non-loopback upstream.
    pub fn load_allowing_insecure(path: &Path, allow_insecure: bool) -> Result<Self, ConfigError> {
        Self::load_inner(path, std::env::vars(), allow_insecure)
    }

    /// Like [`FileConfig::load`] with an explicit environment (for tests).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::load_inner(path, env, false)
    }

    fn load_inner(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        allow_insecure: bool,
    ) -> Result<Self, ConfigError> {
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        // As @auth/core's `setEnvDefaults`: AUTH_SECRET, then AUTH_SECRET_1, _2, _3 each put in
        // front, so the list reads AUTH_SECRET_3, _2, _1, AUTH_SECRET (empty ones skipped).
        let mut env_secrets: Vec<String> = Vec::new();
        let mut take = |name: &str, front: bool| {
            if let Some(s) = env.get(name).filter(|s| !s.is_empty()) {
                if front {
                    env_secrets.insert(0, s.clone());
                } else {
                    env_secrets.push(s.clone());
                }
            }
        };
        take("AUTH_SECRET", false);
        for name in ["AUTH_SECRET_1", "AUTH_SECRET_2", "AUTH_SECRET_3"] {
            take(name, true);
        }
        let built = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(env.into_iter().collect())),
            )
            .build()
            .map_err(file_error)?;
        let given: serde_json::Value = built.clone().try_deserialize().map_err(file_error)?;
        refuse_fractions(&given, &default_shape(), "")?;
        let mut file: FileConfig = built.try_deserialize().map_err(file_error)?;
        // Auth.js reads the environment when `secret` is unset or empty (`!secret?.length`).
        let unset = match &file.proxy.secret {
            None => true,
            Some(Secret::One(s)) => s.is_empty(),
            Some(Secret::Many(v)) => v.is_empty(),
        };
        if unset && !env_secrets.is_empty() {
            file.proxy.secret = Some(match env_secrets.len() {
                1 => Secret::One(env_secrets.remove(0)),
                _ => Secret::Many(env_secrets),
            });
        }
        file.proxy.tls.allow_insecure = allow_insecure;
        file.server.listen_addr()?;
        if let Some(tls) = &file.server.tls {
            crate::tls::CertStore::load(tls)?;
        }
        if let Some(admin) = file.admin.listen_addr()?
            && admin == file.server.listen_addr()?
        {
            return Err(ConfigError::new(
                "admin.listen",
                "must differ from server.listen (the admin listener is never the public port)",
            ));
        }
        if file
            .admin
            .token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(ConfigError::new("admin.token", "must not be empty"));
        }
        if file.admin.drain_ms > MAX_DURATION_MS {
            return Err(ConfigError::new(
                "admin.drain_ms",
                format!("must be at most {MAX_DURATION_MS} (31 days)"),
            ));
        }
        if !(1..=MAX_WORKERS).contains(&file.server.workers) {
            return Err(ConfigError::new(
                "server.workers",
                format!("must be between 1 and {MAX_WORKERS}"),
            ));
        }
        let runtime = RuntimeConfig::build(&file.proxy, 0)?;
        let gate = file.forward_auth.validate()?;
        if file.forward_auth.enabled
            && crate::http::routes::suffix_below(gate.path(), &runtime.local_base_path).is_some()
        {
            return Err(ConfigError::new(
                "forward_auth.path",
                "must not be under proxy.local_base_path",
            ));
        }
        Ok(file)
    }
}

/// The default configuration as JSON: which settings are whole numbers.
fn default_shape() -> serde_json::Value {
    serde_json::to_value(FileConfig::default()).unwrap_or_default()
}

/// The config crate truncates `max_body_bytes = 1.5` to 1 without a word: refuse a fraction
/// wherever the setting is a whole number, naming it.
fn refuse_fractions(
    given: &serde_json::Value,
    shape: &serde_json::Value,
    path: &str,
) -> Result<(), ConfigError> {
    let (Some(given), Some(shape)) = (given.as_object(), shape.as_object()) else {
        return Ok(());
    };
    for (key, value) in given {
        let field = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match shape.get(key) {
            Some(s)
                if (s.is_u64() || s.is_i64())
                    && value.as_f64().is_some_and(|f| f.fract() != 0.0 || f < 0.0) =>
            {
                return Err(ConfigError::new(field, "must be a whole number"));
            }
            Some(s) if s.is_u64() || s.is_i64() => {}
            Some(s) => refuse_fractions(value, s, &field)?,
            None => {}
        }
    }
    Ok(())
}

/// Where requests go: the parsed upstream origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Whether the upstream speaks TLS (`https`).
    pub tls: bool,
    /// `http://host:port` with the port always written: what awc is handed (the transport
    /// does TLS itself, see [`crate::transport`]).
    pub wire_origin: String,
    /// `host[:port]` as written in `base_url` (the `Host` header sent upstream).
    pub authority: String,
    /// [`Upstream::authority`] as a header value, made once.
    pub host_header: HeaderValue,
    /// `scheme://authority`.
    pub origin: String,
}

/// The public origin from `public_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOrigin {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// `host[:port]`.
    pub authority: String,
    /// `scheme://authority`.
    pub origin: String,
}

/// Validated, immutable configuration snapshot. Replaced whole on every configure.
pub struct RuntimeConfig {
    /// Increases with every accepted configure.
    pub generation: u64,
    /// Normalised local mount path.
    pub local_base_path: String,
    /// Normalised upstream path.
    pub target_base_path: String,
    /// Upstream origin.
    pub upstream: Upstream,
    /// Session strategy.
    pub session_strategy: SessionStrategy,
    /// Session cookie names to look for, in order (all of them: what http requests accept).
    pub cookie_names: Vec<String>,
    /// The names that count on https: only `__Secure-` ones unless `cookie_name` is set.
    pub secure_cookie_names: Vec<String>,
    /// See [`ProxyOptions::public_url`].
    pub public: Option<PublicOrigin>,
    /// Extra upstream headers (values never printed).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// See [`ProxyOptions::preserve_host`].
    pub preserve_host: bool,
    /// See [`ProxyOptions::trust_forwarded`].
    pub trust_forwarded: bool,
    /// See [`ProxyOptions::max_body_bytes`].
    pub max_body_bytes: usize,
    /// See [`ProxyOptions::max_response_bytes`].
    pub max_response_bytes: usize,
    /// Retry policy.
    pub retry: RetryOptions,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Per-attempt timeout.
    pub per_try_timeout: Duration,
    /// Longest time to read a request body.
    pub client_body_timeout: Duration,
    /// Longest idle time of a pooled upstream connection.
    pub pool_idle_timeout: Duration,
    /// Whole-request deadline.
    pub request_timeout: Duration,
    /// The session cache of this configuration (`None` when disabled). A new configuration
    /// starts with an empty cache.
    pub session_cache: Option<SessionCache>,
    /// Derived token keys; `None` without a secret (and without JWS).
    pub keys: Option<Arc<TokenKeys>>,
    /// TLS client settings for the upstream, built from `proxy.tls` (see [`crate::tls`]).
    pub upstream_tls: Arc<rustls::ClientConfig>,
    /// Circuit breaker, retry budget and in-flight limit of this configuration, shared by all
    /// workers. A new configuration starts afresh.
    pub resilience: Arc<Resilience>,
}

impl fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeConfig")
            .field("generation", &self.generation)
            .field("local_base_path", &self.local_base_path)
            .field("target_base_path", &self.target_base_path)
            .field("upstream", &self.upstream)
            .field("session_strategy", &self.session_strategy)
            .field("cookie_names", &self.cookie_names)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("preserve_host", &self.preserve_host)
            .field("secret", &self.keys.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Normalises a base path: leading `/` added, trailing `/` removed (except for `/`).
///
/// # Examples
/// ```
/// use authjs_proxy::config::normalize_path;
/// assert_eq!(normalize_path("api/auth/"), "/api/auth");
/// assert_eq!(normalize_path("/"), "/");
/// ```
pub fn normalize_path(p: &str) -> String {
    let trimmed = p.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    if trimmed.starts_with('/') {
        trimmed.into()
    } else {
        format!("/{trimmed}")
    }
}

/// Joins a normalised base path and a suffix with exactly one `/`.
pub fn join_path(base: &str, suffix: &str) -> String {
    let suffix = suffix.trim_start_matches('/');
    if base == "/" {
        format!("/{suffix}")
    } else if suffix.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{suffix}")
    }
}

fn validate_base_path(field: &'static str, p: &str) -> Result<String, ConfigError> {
    let n = normalize_path(p);
    let bad = n.split('/').any(|s| s == "." || s == "..")
        || n.contains("//")
        || n.chars()
            .any(|c| c == '\\' || c == '?' || c == '#' || c == '%' || c.is_control() || c == ' ');
    if bad {
        return Err(ConfigError::new(
            field,
            "must be a plain path (no `.`/`..` segments, `//`, `\\`, `%`, `?`, `#` or spaces)",
        ));
    }
    Ok(n)
}

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

fn parse_base_url(raw: &str, strict_https: bool) -> Result<Upstream, ConfigError> {
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
    Ok(Upstream {
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

/// The longest duration any `*_ms` option may be: 31 days. Longer ones are mistakes (and
/// past about a thousand years, clocks and caches can not represent them).
pub const MAX_DURATION_MS: u64 = 31 * 24 * 60 * 60 * 1000;

/// Whether JavaScript reads `name` as an array index (`0` to `2^32 - 2`, no leading zero): an
/// object lists such keys before all others.
fn is_array_index(name: &str) -> bool {
    (name == "0" || !name.starts_with('0'))
        && name.bytes().all(|b| b.is_ascii_digit())
        && name.parse::<u64>().is_ok_and(|n| n < u64::from(u32::MAX))
}

impl RuntimeConfig {
    /// Validates options and builds a snapshot. The error names the field at fault.
    pub fn build(opts: &ProxyOptions, generation: u64) -> Result<Self, ConfigError> {
        let local_base_path = validate_base_path("local_base_path", &opts.local_base_path)?;
        let target_base_path = match &opts.target_base_path {
            Some(p) => validate_base_path("target_base_path", p)?,
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
            if crate::http::headers::is_hop_by_hop(&n)
                || matches!(n.as_str(), "host" | "content-length" | "expect")
            {
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
        Ok(RuntimeConfig {
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
            trust_forwarded: opts.trust_forwarded,
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

    /// The session cookie names that count for a request: on https only the `__Secure-`
    /// one (a plain-named cookie planted by a sibling subdomain is ignored, as Auth.js does).
    pub fn session_cookie_names(&self, secure: bool) -> &[String] {
        if secure {
            &self.secure_cookie_names
        } else {
            &self.cookie_names
        }
    }

    /// The upstream URL for a route suffix (`session`, `callback/github`) and raw query.
    pub fn target_url(&self, suffix: &str, query: Option<&str>) -> String {
        // Pushed piece by piece: this runs for every forwarded request.
        let suffix = suffix.trim_start_matches('/');
        let base = self.target_base_path.as_str();
        let mut url = String::with_capacity(
            self.upstream.wire_origin.len()
                + base.len()
                + suffix.len()
                + query.map_or(0, |q| q.len() + 1)
                + 1,
        );
        url.push_str(&self.upstream.wire_origin);
        if base != "/" {
            url.push_str(base);
        }
        if base == "/" || !suffix.is_empty() {
            url.push('/');
            url.push_str(suffix);
        }
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }
}

#[cfg(test)]
mod tests;
