//! "Who is this request?": `get_server_session` (asks the upstream, cached) and `get_token`
//! (decodes the session token locally through the `TokenActor`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, web};
use moka::Expiry;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use siphasher::sip128::{Hasher128, SipHasher13};
use std::hash::Hasher;

use crate::actors::token::Decode;
use crate::actors::upstream::{Forward, Replay, UpstreamActor};
use crate::config::{RuntimeConfig, SessionCacheOptions, SessionStrategy};
use crate::cookies::{find_session_token, is_session_cookie, request_cookies};
use crate::error::AuthError;
use crate::handle::{AuthProxy, WorkerUpstream};
use crate::http::headers::{ClientSide, upstream_request_headers};
use crate::token::Claims;

/// The signed-in user as the upstream's `session` route describes it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SessionUser {
    /// `user.id`, when the app's callbacks expose it (numbers are kept as text).
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// `user.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `user.email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `user.image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Every other field of `user`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A session as returned by Auth.js `GET /session`. No field is dropped.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Session {
    /// The user, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<SessionUser>,
    /// Expiry, ISO 8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Every other field the upstream's `session` callback added.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

impl Session {
    /// Parses a `GET /session` body: `null`, an empty object or a non-object mean no session.
    pub fn from_body(body: &[u8]) -> Option<Session> {
        let value: Value = serde_json::from_slice(body).ok()?;
        match &value {
            Value::Object(map) if !map.is_empty() => serde_json::from_value(value).ok(),
            _ => None,
        }
    }
}

/// What `get_token` returns, following the seed's semantics. `Debug` hides raw tokens.
#[derive(Clone, PartialEq)]
pub enum Token {
    /// The raw cookie (or Bearer) value, chunks reassembled.
    Raw(String),
    /// Claims decoded locally from a JWT-strategy token.
    Claims(Claims),
    /// The session, for the `database` strategy (asked from the upstream).
    Session(Session),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Raw(_) => f.write_str("Raw(<redacted>)"),
            Token::Claims(c) => f.debug_tuple("Claims").field(c).finish(),
            Token::Session(s) => f.debug_tuple("Session").field(s).finish(),
        }
    }
}

/// Caches `get_server_session` answers, keyed by a SHA-256 of the session cookie(s).
///
/// Concurrent lookups for one key share a single upstream request; errors are never cached.
#[derive(Clone)]
pub struct SessionCache {
    inner: moka::future::Cache<u128, Option<Arc<Session>>>,
    hash_keys: (u64, u64),
}

struct AnswerExpiry {
    ttl: Duration,
    negative_ttl: Duration,
}

impl Expiry<u128, Option<Arc<Session>>> for AnswerExpiry {
    fn expire_after_create(
        &self,
        _: &u128,
        value: &Option<Arc<Session>>,
        _: Instant,
    ) -> Option<Duration> {
        Some(if value.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        })
    }
}

impl SessionCache {
    /// A cache with the given settings; `None` when `ttl_ms` is 0 (disabled).
    pub fn new(opts: &SessionCacheOptions) -> Option<Self> {
        (opts.ttl_ms > 0).then(|| SessionCache {
            inner: moka::future::Cache::builder()
                .max_capacity(opts.max_entries)
                .expire_after(AnswerExpiry {
                    ttl: Duration::from_millis(opts.ttl_ms),
                    negative_ttl: Duration::from_millis(opts.negative_ttl_ms.min(opts.ttl_ms)),
                })
                .build(),
            hash_keys: {
                let mut k = [0u8; 16];
                getrandom::fill(&mut k).expect("the operating system random source is available");
                let (a, b) = k.split_at(8);
                (
                    u64::from_le_bytes(a.try_into().expect("8 bytes")),
                    u64::from_le_bytes(b.try_into().expect("8 bytes")),
                )
            },
        })
    }

    fn key(&self, cfg: &RuntimeConfig, headers: &HeaderMap) -> u128 {
        cache_key(self.hash_keys, &cfg.cookie_names, headers)
    }

    /// Drops the entry for these request headers.
    pub async fn invalidate(&self, cfg: &RuntimeConfig, headers: &HeaderMap) {
        self.inner.invalidate(&self.key(cfg, headers)).await;
    }

    /// Entries currently held (approximate).
    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("entries", &self.inner.entry_count())
            .finish()
    }
}

/// The cache key: a keyed 128-bit SipHash (a PRF: keys are random per cache, so nobody can
/// aim a collision at another user's entry) of the session cookie(s) when present, else of
/// every cookie, plus `Authorization`. One pass over the cookies.
fn cache_key(keys: (u64, u64), cookie_names: &[String], headers: &HeaderMap) -> u128 {
    let mut all = SipHasher13::new_with_keys(keys.0, keys.1);
    let mut session = SipHasher13::new_with_keys(keys.0, keys.1);
    let mut found = false;
    for (name, value) in request_cookies(headers) {
        let target = if is_session_cookie(name, cookie_names) {
            found = true;
            &mut session
        } else {
            &mut all
        };
        for part in [name.as_bytes(), b"=", value.as_bytes(), b";"] {
            target.write(part);
        }
    }
    let mut h = if found { session } else { all };
    h.write(b"\n");
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        h.write(auth.as_bytes());
    }
    h.finish128().as_u128()
}

/// Headers of the caller that matter for asking the upstream about its session.
fn session_request_headers(
    cfg: &RuntimeConfig,
    caller: &HeaderMap,
    side: &ClientSide<'_>,
) -> HeaderMap {
    let mut relevant = HeaderMap::new();
    for name in [
        header::COOKIE,
        header::AUTHORIZATION,
        header::HOST,
        header::HeaderName::from_static("x-forwarded-proto"),
        header::HeaderName::from_static("x-forwarded-host"),
    ] {
        for v in caller.get_all(&name) {
            relevant.append(name.clone(), v.clone());
        }
    }
    upstream_request_headers(cfg, &relevant, side)
}

/// Why an answer is not cached: an error, or an upstream 5xx (reported as no session).
#[derive(Debug, Clone)]
enum Uncached {
    Failed(AuthError),
    ServerError,
}

impl From<AuthError> for Uncached {
    fn from(e: AuthError) -> Self {
        Uncached::Failed(e)
    }
}

async fn fetch_session(
    cfg: Arc<RuntimeConfig>,
    upstream: Addr<UpstreamActor>,
    headers: HeaderMap,
) -> Result<Option<Arc<Session>>, Uncached> {
    let url = cfg.target_url("session", None);
    let res = upstream
        .send(Forward {
            config: cfg,
            method: Method::GET,
            url,
            headers,
            body: Bytes::new(),
            replay: Replay::Safe,
        })
        .await
        .map_err(|_| AuthError::ActorGone)?
        .map_err(AuthError::from)?;
    if res.status.is_server_error() {
        return Err(Uncached::ServerError);
    }
    if !res.status.is_success() {
        return Ok(None);
    }
    Ok(Session::from_body(&res.body).map(Arc::new))
}

/// Asks the upstream's `session` route, through the session cache.
pub(crate) async fn server_session(
    cfg: Arc<RuntimeConfig>,
    upstream: &Addr<UpstreamActor>,
    caller: &HeaderMap,
    side: &ClientSide<'_>,
) -> Result<Option<Session>, AuthError> {
    // Built only when the upstream is asked, not on cache hits.
    let fetch = {
        let cfg = cfg.clone();
        async move {
            let headers = session_request_headers(&cfg, caller, side);
            fetch_session(cfg, upstream.clone(), headers).await
        }
    };
    let answer = match &cfg.session_cache {
        None => fetch.await,
        Some(cache) => cache
            .inner
            .try_get_with(cache.key(&cfg, caller), fetch)
            .await
            .map_err(|e| (*e).clone()),
    };
    match answer {
        Ok(session) => Ok(session.map(|s| (*s).clone())),
        Err(Uncached::ServerError) => Ok(None),
        Err(Uncached::Failed(e)) => Err(e),
    }
}

/// Implements `get_token` for a header map.
pub(crate) async fn token(
    proxy: &AuthProxy,
    upstream: &Addr<UpstreamActor>,
    caller: &HeaderMap,
    side: &ClientSide<'_>,
    raw: bool,
) -> Result<Option<Token>, AuthError> {
    let cfg = proxy.config().ok_or(AuthError::Unconfigured)?;
    if cfg.session_strategy == SessionStrategy::Database && !raw {
        return Ok(server_session(cfg, upstream, caller, side)
            .await?
            .map(Token::Session));
    }
    let Some(found) = find_session_token(caller, &cfg.cookie_names) else {
        return Ok(None);
    };
    if raw {
        return Ok(Some(Token::Raw(found.value)));
    }
    let keys = cfg.keys.clone().ok_or(AuthError::NoSecret)?;
    let claims = proxy
        .tokens()
        .send(Decode {
            keys,
            token: found.value,
            salt: found.cookie_name,
        })
        .await
        .map_err(|_| AuthError::ActorGone)?;
    Ok(claims.map(Token::Claims))
}

/// The proxy and this worker's upstream actor, from the app the request runs in.
fn mounted(req: &HttpRequest) -> Result<(AuthProxy, Addr<UpstreamActor>), AuthError> {
    let proxy = req
        .app_data::<web::Data<AuthProxy>>()
        .ok_or(AuthError::NotMounted)?;
    let upstream = req
        .app_data::<web::Data<WorkerUpstream>>()
        .map(|w| w.0.clone())
        .unwrap_or_else(|| proxy.fallback_upstream());
    Ok((proxy.get_ref().clone(), upstream))
}

/// The client side of `req` as the proxy sees it.
pub(crate) fn client_side(req: &HttpRequest) -> ClientSide<'static> {
    ClientSide {
        peer_ip: req.peer_addr().map(|a| a.ip().to_string()),
        scheme: if req.app_config().secure() {
            "https"
        } else {
            "http"
        },
    }
}

/// Asks the upstream `GET <target_base_path>/session` with the caller's cookies.
///
/// * `Ok(Some(session))`: the upstream answered 200 with a session object;
/// * `Ok(None)`: the upstream answered `null`, an empty object, or a non-2xx status;
/// * `Err(_)`: the runtime is unconfigured or not mounted, or the upstream could not be reached
///   after the retry policy (`AuthError::Upstream`). Errors are never cached.
///
/// Answers are cached per session cookie for `session_cache.ttl_ms`.
pub async fn get_server_session(req: &HttpRequest) -> Result<Option<Session>, AuthError> {
    let (proxy, upstream) = mounted(req)?;
    let cfg = proxy.config().ok_or(AuthError::Unconfigured)?;
    server_session(cfg, &upstream, req.headers(), &client_side(req)).await
}

/// The session token of `req`, with the seed's semantics:
///
/// * `jwt` strategy: `raw` → the cookie value (chunks reassembled, else the Bearer token);
///   otherwise the claims decoded locally (`Ok(None)` for a missing, malformed, tampered,
///   expired or foreign token; `Err(AuthError::NoSecret)` when no secret is configured);
/// * `database` strategy: `raw` → the cookie value; otherwise the session from the upstream.
pub async fn get_token(req: &HttpRequest, raw: bool) -> Result<Option<Token>, AuthError> {
    let (proxy, upstream) = mounted(req)?;
    token(&proxy, &upstream, req.headers(), &client_side(req), raw).await
}
