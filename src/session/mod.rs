//! "Who is this request?": `get_server_session` (asks the upstream, cached) and `get_token`
//! (decodes the session token locally through the `TokenActor`), for handlers and for
//! [`AuthProxy`] outside a handler.

use std::sync::Arc;

use actix::Addr;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, web};

pub use crate::cache::session::SessionCache;
use crate::core::Replay;
use crate::core::client::{ClientSide, Scheme};
use crate::core::error::{AuthError, UpstreamError};
use crate::core::obs::request_id::X_REQUEST_ID;
use crate::core::obs::request_id::request_event;
use crate::core::obs::trace;
pub use crate::core::session::{Session, SessionUser, Token};
use crate::options::proxy::SessionStrategy;
use crate::options::session_store::StoreMode;
use crate::runtime::Snapshot;
use crate::runtime::actors::token::{Decode, TokenActor};
use crate::runtime::actors::upstream::{Forward, Upstream};
use crate::runtime::handle::{AuthProxy, WorkerTokens, WorkerUpstream};
use crate::runtime::public::{forwarded_host, public_proto, upstream_request_headers};

/// The protocol a lookup is sent upstream with: it decides which session cookie Auth.js
/// reads (`__Secure-` on https), so each protocol (and host, see [`upstream_host`]) has its own
/// entry; an invalidation reaches them all (it is keyed by the cookies alone).
fn upstream_origin_key(cfg: &Snapshot, headers: &HeaderMap, side: &ClientSide) -> &'static [u8] {
    public_proto(cfg, headers, side).as_bytes()
}

/// The host a lookup is sent upstream with (`X-Forwarded-Host`, and `Host` with
/// `preserve_host`). An Auth.js that configures itself per host may answer one cookie
/// differently on each, so a cached answer is served only for the host it was asked for: each
/// host has its own entry (and shares lookups only with that host).
fn upstream_host(cfg: &Snapshot, headers: &HeaderMap, side: &ClientSide) -> Option<HeaderValue> {
    forwarded_host(cfg, headers, side)
}

/// What a session lookup sends upstream: only what `@auth/express`'s `getSession` sends, the
/// caller's cookies, plus the forwarding headers and the configured upstream headers. Never
/// the caller's `Authorization` or the app's other headers.
fn session_request_headers(cfg: &Snapshot, caller: &HeaderMap, side: &ClientSide) -> HeaderMap {
    let mut relevant = HeaderMap::new();
    for name in [
        header::COOKIE,
        X_REQUEST_ID,
        header::HeaderName::from_static("x-forwarded-proto"),
        header::HeaderName::from_static("x-forwarded-host"),
        header::HeaderName::from_static("x-forwarded-for"),
    ] {
        for v in caller.get_all(&name) {
            relevant.append(name.clone(), v.clone());
        }
    }
    upstream_request_headers(cfg, &relevant, side)
}

async fn fetch_session(
    cfg: Arc<Snapshot>,
    upstream: Upstream,
    headers: HeaderMap,
) -> Result<Option<Arc<Session>>, AuthError> {
    let url = cfg.target_url("session", None);
    let res = upstream
        .forward(Forward {
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
    if res.status != StatusCode::OK {
        return Err(AuthError::BadSessionAnswer {
            status: res.status.as_u16(),
        });
    }
    Session::from_body(&res.body)
        .map(|s| s.map(Arc::new))
        .ok_or(AuthError::BadSessionAnswer { status: 200 })
}

/// The session token the adapter's database is asked for: the session cookie that counts for
/// the request (Auth.js's `session` route reads the cookie only, never a Bearer token).
fn store_token(cfg: &Snapshot, caller: &HeaderMap, side: &ClientSide) -> Option<String> {
    let secure = public_proto(cfg, caller, side) == "https";
    let token = cfg.session_token(caller, secure)?;
    token
        .found
        .cookie_name
        .is_some()
        .then_some(token.found.value)
}

/// Whether the upstream could not answer (so the other source may), not a wrong answer.
fn upstream_down(e: &AuthError) -> bool {
    match e {
        AuthError::Upstream(e) => !matches!(e, UpstreamError::ResponseTooLarge),
        AuthError::BadSessionAnswer { status } => *status >= 500,
        _ => false,
    }
}

/// One lookup without the cache: the upstream's `session` route, or with a session store, the
/// source its mode puts first and, when that one can not answer, the other one.
async fn fetch_any(
    cfg: Arc<Snapshot>,
    upstream: &Upstream,
    caller: &HeaderMap,
    side: &ClientSide,
) -> Result<Option<Arc<Session>>, AuthError> {
    let ask_upstream = |cfg: Arc<Snapshot>| {
        let headers = session_request_headers(&cfg, caller, side);
        fetch_session(cfg, upstream.clone(), headers)
    };
    let Some(store) = cfg.session_store.clone() else {
        return ask_upstream(cfg).await;
    };
    let Some(token) = store_token(&cfg, caller, side) else {
        // No session cookie Auth.js would read: no session, whoever is asked.
        return match store.mode() {
            StoreMode::DatabaseFirst => Ok(None),
            StoreMode::UpstreamFirst => ask_upstream(cfg).await,
        };
    };
    let from_store = async || {
        store
            .session(&token)
            .await
            .map(|s| s.map(Arc::new))
            .map_err(AuthError::from)
    };
    match store.mode() {
        StoreMode::DatabaseFirst => match from_store().await {
            Err(store_error) => ask_upstream(cfg).await.map_err(|upstream_error| {
                request_event!(tracing::Level::WARN, store = %store_error,
                    upstream = %upstream_error,
                    "neither the session store nor the auth upstream could answer");
                // The first source's trouble: stale-if-error may stand in for it.
                store_error
            }),
            found => found,
        },
        StoreMode::UpstreamFirst => match ask_upstream(cfg).await {
            Err(e) if upstream_down(&e) => from_store().await.map_err(|_| e),
            answered => answered,
        },
    }
}

/// Asks the upstream's `session` route (or the session store), through the session cache.
pub(crate) async fn server_session(
    cfg: Arc<Snapshot>,
    upstream: &Upstream,
    caller: &HeaderMap,
    side: &ClientSide,
) -> Result<Option<Session>, AuthError> {
    let mut session = identity_session(cfg, upstream, caller, side).await?;
    if let Some(s) = &mut session {
        s.take_store_user_id();
    }
    Ok(session)
}

/// [`server_session`] with the user id the session store put aside still in it (for the
/// forward-auth identity: see [`Session::take_store_user_id`]).
pub(crate) async fn identity_session(
    cfg: Arc<Snapshot>,
    upstream: &Upstream,
    caller: &HeaderMap,
    side: &ClientSide,
) -> Result<Option<Session>, AuthError> {
    let span = trace::session_lookup_span();
    tracing::Instrument::instrument(lookup(cfg, upstream, caller, side), span).await
}

/// [`identity_session`] in its trace span.
async fn lookup(
    cfg: Arc<Snapshot>,
    upstream: &Upstream,
    caller: &HeaderMap,
    side: &ClientSide,
) -> Result<Option<Session>, AuthError> {
    // A JWT session signed out through the proxy: Auth.js would still accept it.
    if cfg.presents_revoked_session(caller) {
        trace::record_current("cache", "revoked");
        return Ok(None);
    }
    // Built only when a source is asked, not on cache hits.
    let fetch = || fetch_any(cfg.clone(), upstream, caller, side);
    let key = cfg.session_cache.as_ref().and_then(|cache| {
        let origin = upstream_origin_key(&cfg, caller, side);
        cache
            .key(&cfg.cookie_names, caller, origin)
            .map(|key| (cache, key))
    });
    let Some((cache, key)) = key else {
        trace::record_current("cache", "off");
        return Ok(fetch().await?.map(|s| (*s).clone()));
    };
    let host = upstream_host(&cfg, caller, side);
    cache.answer(key, host, fetch).await
}

impl SessionCache {
    /// Drops the entry for these request headers, including lookups still in flight.
    pub async fn invalidate(&self, cfg: &Snapshot, headers: &HeaderMap, side: &ClientSide) {
        let origin = upstream_origin_key(cfg, headers, side);
        if let Some(key) = self.key(&cfg.cookie_names, headers, origin) {
            self.invalidate_key(key).await;
        }
    }
}

/// The actors of the thread a lookup runs on.
pub(crate) struct Workers {
    pub(crate) upstream: Upstream,
    pub(crate) tokens: Addr<TokenActor>,
}

/// Implements `get_token` for a header map.
pub(crate) async fn token(
    proxy: &AuthProxy,
    workers: &Workers,
    caller: &HeaderMap,
    side: &ClientSide,
    raw: bool,
) -> Result<Option<Token>, AuthError> {
    let cfg = proxy.config().ok_or(AuthError::Unconfigured)?;
    if cfg.session_strategy == SessionStrategy::Database && !raw {
        return Ok(server_session(cfg, &workers.upstream, caller, side)
            .await?
            .map(Token::Session));
    }
    let secure = public_proto(&cfg, caller, side) == "https";
    let Some(token) = cfg.session_token(caller, secure) else {
        return Ok(None);
    };
    if raw {
        if cfg.presents_revoked_session(caller) {
            return Ok(None);
        }
        return Ok(Some(Token::Raw(token.found.value)));
    }
    let keys = cfg.keys.clone().ok_or(AuthError::NoSecret)?;
    let salts = token.salts().to_vec();
    // Kept only when something is revoked: the decode takes the token.
    let kept = (!cfg.revocation.list.is_empty()).then(|| token.found.value.clone());
    let claims = workers
        .tokens
        .send(Decode {
            keys,
            salts,
            token: token.found.value,
        })
        .await
        .map_err(|_| AuthError::ActorGone)?;
    let claims = claims.filter(|c| kept.as_ref().is_none_or(|t| !cfg.revocation.refuses(c, t)));
    Ok(claims.map(Token::Claims))
}

/// The proxy and this worker's actors, from the app the request runs in.
fn mounted(req: &HttpRequest) -> Result<(AuthProxy, Workers), AuthError> {
    let proxy = req
        .app_data::<web::Data<AuthProxy>>()
        .ok_or(AuthError::NotMounted)?;
    let upstream = req
        .app_data::<web::Data<WorkerUpstream>>()
        .map(|w| w.0.clone())
        .unwrap_or_else(|| proxy.fallback_upstream());
    let tokens = req
        .app_data::<web::Data<WorkerTokens>>()
        .map(|w| w.0.clone())
        .unwrap_or_else(|| proxy.tokens());
    Ok((proxy.get_ref().clone(), Workers { upstream, tokens }))
}

/// Asks the upstream `GET <target_base_path>/session` with the caller's cookies.
///
/// * `Ok(Some(session))`: the upstream answered 200 with a session object;
/// * `Ok(None)`: the upstream answered 200 with `null` or an empty object (signed out);
/// * `Err(_)`: the runtime is unconfigured or not mounted, the `Host` is invalid, the upstream
///   could not be reached after the retry policy (`AuthError::Upstream`), or it gave anything
///   but a 200 with a JSON object or `null` (`AuthError::BadSessionAnswer`). Errors are
///   never cached and never mean "signed out".
///
/// Answers are cached per session cookie for `session_cache.ttl_ms`.
pub async fn get_server_session(req: &HttpRequest) -> Result<Option<Session>, AuthError> {
    let (proxy, workers) = mounted(req)?;
    let cfg = proxy.config().ok_or(AuthError::Unconfigured)?;
    let side = ClientSide::of(req)?;
    server_session(cfg, &workers.upstream, req.headers(), &side).await
}

/// The session token of `req`, with the seed's semantics:
///
/// * `jwt` strategy: `raw` → the cookie value (chunks reassembled, else the Bearer token);
///   otherwise the claims decoded locally (`Ok(None)` for a missing, malformed, tampered,
///   expired or foreign token; `Err(AuthError::NoSecret)` when no secret is configured);
/// * `database` strategy: `raw` → the cookie value; otherwise the session from the upstream.
pub async fn get_token(req: &HttpRequest, raw: bool) -> Result<Option<Token>, AuthError> {
    let (proxy, workers) = mounted(req)?;
    let side = ClientSide::of(req)?;
    token(&proxy, &workers, req.headers(), &side, raw).await
}

impl AuthProxy {
    /// [`crate::get_server_session`] for a header map (outside a request handler), received
    /// over `scheme`: on https only the `__Secure-` session cookie counts.
    pub async fn get_server_session(
        &self,
        headers: &HeaderMap,
        scheme: Scheme,
    ) -> Result<Option<Session>, AuthError> {
        let cfg = self.config().ok_or(AuthError::Unconfigured)?;
        let side = ClientSide::from_headers(headers, scheme)?;
        server_session(cfg, &self.fallback_upstream(), headers, &side).await
    }

    /// [`crate::get_token`] for a header map (outside a request handler), received over
    /// `scheme`.
    pub async fn get_token(
        &self,
        headers: &HeaderMap,
        scheme: Scheme,
        raw: bool,
    ) -> Result<Option<Token>, AuthError> {
        let side = ClientSide::from_headers(headers, scheme)?;
        let workers = Workers {
            upstream: self.fallback_upstream(),
            tokens: self.tokens(),
        };
        token(self, &workers, headers, &side, raw).await
    }
}
