//! Configuration: the options a user writes ([`ProxyOptions`], [`FileConfig`]) and the validated,
//! immutable [`RuntimeConfig`] snapshot the runtime serves from.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::session::SessionCache;
use crate::token::{JwsKeys, SaltKeys, TokenKeys};

/// Auth.js's session cookie name on plain http.
pub const SESSION_COOKIE: &str = "authjs.session-token";
/// Auth.js's session cookie name on https.
pub const SECURE_SESSION_COOKIE: &str = "__Secure-authjs.session-token";
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
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_attempts: 3,
            initial_backoff_ms: 25,
            max_backoff_ms: 1000,
            jitter: true,
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
}

impl Default for TimeoutOptions {
    fn default() -> Self {
        TimeoutOptions {
            connect_ms: 2000,
            per_try_ms: 10_000,
            request_ms: 15_000,
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
}

impl Default for SessionCacheOptions {
    fn default() -> Self {
        SessionCacheOptions {
            ttl_ms: 5000,
            negative_ttl_ms: 1000,
            max_entries: 10_000,
        }
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
}

impl fmt::Debug for JwsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwsOptions")
            .field("algorithms", &self.algorithms)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
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
    /// Send the client's `Host` upstream instead of the upstream's. Default false.
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
    /// Signed-JWT decoding; off by default.
    pub jws: Option<JwsOptions>,
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
            preserve_host: false,
            trust_forwarded: false,
            strict_https: false,
            max_body_bytes: 1024 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            retry: RetryOptions::default(),
            timeouts: TimeoutOptions::default(),
            session_cache: SessionCacheOptions::default(),
            jws: None,
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
            .field("preserve_host", &self.preserve_host)
            .field("trust_forwarded", &self.trust_forwarded)
            .field("strict_https", &self.strict_https)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .field("session_cache", &self.session_cache)
            .field("jws", &self.jws)
            .finish()
    }
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
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            listen: "127.0.0.1:3000".into(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

impl ServerOptions {
    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::new("server.listen", "expected an address like 127.0.0.1:3000")
        })
    }
}

/// The whole configuration file: `[server]`, `[proxy]` and `[forward_auth]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Listener settings.
    pub server: ServerOptions,
    /// Proxy options.
    pub proxy: ProxyOptions,
    /// The forward-auth decision endpoint; off unless `enabled = true`.
    pub forward_auth: crate::gate::ForwardAuthOptions,
}

impl FileConfig {
    /// Reads a TOML file, applies `AUTHJS_PROXY__SECTION__KEY` environment overrides and
    /// `AUTH_SECRET` (when no secret is set), and validates the result.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Like [`FileConfig::load`] with an explicit environment (for tests).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        let auth_secret = env.get("AUTH_SECRET").cloned();
        let built = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(env.into_iter().collect())),
            )
            .build()
            .map_err(|e| ConfigError::new("file", e.to_string()))?;
        let mut file: FileConfig = built
            .try_deserialize()
            .map_err(|e| ConfigError::new("file", e.to_string()))?;
        if file.proxy.secret.is_none()
            && let Some(s) = auth_secret.filter(|s| !s.is_empty())
        {
            file.proxy.secret = Some(Secret::One(s));
        }
        file.server.listen_addr()?;
        if file.server.workers == 0 {
            return Err(ConfigError::new("server.workers", "must be at least 1"));
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

/// Where requests go: the parsed upstream origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host[:port]` as written in `base_url` (the `Host` header sent upstream).
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
    /// Session cookie names to look for, in order.
    pub cookie_names: Vec<String>,
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
    /// Whole-request deadline.
    pub request_timeout: Duration,
    /// The session cache of this configuration (`None` when disabled). A new configuration
    /// starts with an empty cache.
    pub session_cache: Option<SessionCache>,
    /// Derived token keys; `None` without a secret (and without JWS).
    pub keys: Option<Arc<TokenKeys>>,
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
    Ok(Upstream {
        origin: format!("{scheme}://{authority}"),
        authority,
    })
}

fn valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
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
            if crate::http::headers::is_hop_by_hop(&n) || n == actix_web::http::header::HOST {
                return Err(ConfigError::new(
                    format!("headers.{name}"),
                    "hop-by-hop headers and Host cannot be set (see preserve_host)",
                ));
            }
            headers.push((n, v));
        }
        let secrets = match &opts.secret {
            None => Vec::new(),
            Some(s) => {
                let v = s.to_vec();
                if v.is_empty() || v.iter().any(|s| s.is_empty()) {
                    return Err(ConfigError::new("secret", "must not be empty"));
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
                        .map_err(|e| ConfigError::new("jws", e.to_string()))?,
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
        if r.max_attempts == 0 {
            return Err(ConfigError::new("retry.max_attempts", "must be at least 1"));
        }
        if r.max_backoff_ms < r.initial_backoff_ms {
            return Err(ConfigError::new(
                "retry.max_backoff_ms",
                "must not be below retry.initial_backoff_ms",
            ));
        }
        let t = &opts.timeouts;
        for (field, v) in [
            ("timeouts.connect_ms", t.connect_ms),
            ("timeouts.per_try_ms", t.per_try_ms),
            ("timeouts.request_ms", t.request_ms),
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
            cookie_names,
            headers,
            preserve_host: opts.preserve_host,
            trust_forwarded: opts.trust_forwarded,
            max_body_bytes: opts.max_body_bytes,
            max_response_bytes: opts.max_response_bytes,
            retry: opts.retry.clone(),
            connect_timeout: Duration::from_millis(t.connect_ms),
            per_try_timeout: Duration::from_millis(t.per_try_ms),
            request_timeout: Duration::from_millis(t.request_ms),
            session_cache: SessionCache::new(&opts.session_cache),
            keys,
        })
    }

    /// The upstream URL for a route suffix (`session`, `callback/github`) and raw query.
    pub fn target_url(&self, suffix: &str, query: Option<&str>) -> String {
        let path = join_path(&self.target_base_path, suffix);
        match query {
            Some(q) => format!("{}{path}?{q}", self.upstream.origin),
            None => format!("{}{path}", self.upstream.origin),
        }
    }
}

#[cfg(test)]
mod tests;
