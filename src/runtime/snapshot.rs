//! The built, immutable snapshot the runtime serves from ([`Snapshot`]; once called
//! `Snapshot`): options validated, paths normalised, keys derived, caches and breakers
//! made. Replaced whole on every configure.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::cache::session::SessionCache;
use crate::core::Scheme;
use crate::core::cookies::{FoundToken, find_session_token, salts_of};
use crate::core::peer::{Cidr, is_trusted};
use crate::core::redact::redacted;
use crate::core::token::TokenKeys;
use crate::options::proxy::{RetryOptions, SessionStrategy};
use crate::resilience::Resilience;
use crate::revocation::Revocation;
use crate::signin_guard::SignInGuard;
use crate::store::SessionStore;

/// Where requests go: the parsed upstream origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamOrigin {
    /// Whether the upstream speaks TLS (`https`).
    pub tls: bool,
    /// `http://host:port` with the port always written: what awc is handed (the transport
    /// does TLS itself, see [`crate::transport`]).
    pub wire_origin: String,
    /// `host[:port]` as written in `base_url` (the `Host` header sent upstream).
    pub authority: String,
    /// [`UpstreamOrigin::authority`] as a header value, made once.
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
pub struct Snapshot {
    /// Increases with every accepted configure.
    pub generation: u64,
    /// Normalised local mount path.
    pub local_base_path: String,
    /// Normalised upstream path.
    pub target_base_path: String,
    /// Upstream origin.
    pub upstream: UpstreamOrigin,
    /// Session strategy.
    pub session_strategy: SessionStrategy,
    /// Session cookie names to look for, in order (all of them: what http requests accept).
    pub cookie_names: Vec<String>,
    /// The names that count on https: only `__Secure-` ones unless `cookie_name` is set.
    pub secure_cookie_names: Vec<String>,
    /// See [`ProxyOptions::public_url`](crate::options::ProxyOptions::public_url).
    pub public: Option<PublicOrigin>,
    /// Extra upstream headers (values never printed).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// See [`ProxyOptions::preserve_host`](crate::options::ProxyOptions::preserve_host).
    pub preserve_host: bool,
    /// The one trust list (see
    /// [`ProxyOptions::trusted_proxies`](crate::options::ProxyOptions::trusted_proxies)).
    pub trusted_proxies: Vec<Cidr>,
    /// Set by the deprecated `trust_forwarded`: every peer counts, an unknown one too.
    pub(crate) trust_any_peer: bool,
    /// See [`ProxyOptions::max_body_bytes`](crate::options::ProxyOptions::max_body_bytes).
    pub max_body_bytes: usize,
    /// See [`ProxyOptions::max_response_bytes`](crate::options::ProxyOptions::max_response_bytes).
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
    /// Database sessions read from the adapter's tables (`None`: the upstream's `session`
    /// route answers alone). A new configuration starts with a new pool and breaker.
    pub session_store: Option<Arc<SessionStore>>,
    /// Derived token keys; `None` without a secret (and without JWS).
    pub keys: Option<Arc<TokenKeys>>,
    /// Revoked JWT sessions (the list is the proxy's, kept across configurations).
    pub revocation: Revocation,
    /// Sign-in protection (the counters are the proxy's, kept across configurations).
    pub sign_in: SignInGuard,
    /// TLS client settings for the upstream, built from `proxy.tls` (see [`crate::tls`]).
    pub upstream_tls: Arc<rustls::ClientConfig>,
    /// Circuit breaker, retry budget and in-flight limit of this configuration, shared by all
    /// workers. A new configuration starts afresh.
    pub resilience: Arc<Resilience>,
    /// What a feature validated from the same file and reads with this configuration (the
    /// forward-auth rules): a request sees it and everything above from one generation, so a
    /// reload changes all of it at once or none. See [`AuthProxy::configure_with`](crate::AuthProxy::configure_with).
    pub attached: Option<Attached>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
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
            .field("secret", &redacted(&self.keys))
            .finish_non_exhaustive()
    }
}

impl Snapshot {
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

    /// Whether a request from `peer` may speak for the client (its forwarding headers count):
    /// the one trust list, for every route, the forward-auth endpoint and session lookups.
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        self.trust_any_peer || is_trusted(&self.trusted_proxies, peer)
    }

    /// The session token `headers` carry, found the way `getToken` finds it: the first session
    /// cookie that counts for the request (`secure`: it came over https), else a Bearer token.
    pub fn session_token(&self, headers: &HeaderMap, secure: bool) -> Option<SessionToken<'_>> {
        let names = self.session_cookie_names(secure);
        let found = find_session_token(headers, names)?;
        Some(SessionToken { found, names })
    }
}

/// A feature's part of a snapshot (see [`Snapshot::attached`]); the feature downcasts it.
pub type Attached = Arc<dyn std::any::Any + Send + Sync>;

/// A request's session token and the cookie names it was looked for under: one pipeline for
/// `get_token`, the extractors and forward-auth.
#[derive(Debug)]
pub struct SessionToken<'a> {
    /// The token and the cookie it came from.
    pub found: FoundToken,
    names: &'a [String],
}

impl SessionToken<'_> {
    /// The salts the token decodes with, in order (see [`salts_of`]).
    pub fn salts(&self) -> &[String] {
        salts_of(&self.found, self.names)
    }
}
