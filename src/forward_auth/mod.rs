//! Forward-auth: one decision endpoint that nginx `auth_request`, Caddy `forward_auth`,
//! Traefik `ForwardAuth` and Envoy `ext_authz` (HTTP) call for every request they guard.
//!
//! * `200`, empty, with `X-Auth-Request-User`/`-Email`/`-Name` and the configured extra
//!   headers, when signed in and allowed;
//! * `401` `{"error":"not signed in"}` (or, in redirect mode, a browser navigation gets `302`
//!   to the sign-in page with the original URL as `callbackUrl`);
//! * `403` `{"error":"forbidden"}` when signed in but a rule fails;
//! * `503` with `Retry-After` when the identity source fails (never `200`, never `401`).
//!
//! Every answer carries `Cache-Control: no-store` and `Vary: Cookie, Authorization`.
//!
//! Parts: [`policy`] (the operator's options, validated) → [`rules`], [`decide`] and
//! [`forwarded`] (pure decisions) → [`identity`] (who the request is) → the handler here.

pub mod access;
pub mod assertion;
pub mod decide;
pub mod forwarded;
pub mod identity;
pub mod original;
pub mod policy;
pub mod refresh;
pub mod rules;
pub mod session_key;
pub mod signin;
pub mod state;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};

pub use crate::options::forward_auth::{ForwardAuthOptions, OnUnauthenticated};
pub use policy::{ForwardAuth, Policy};

use crate::core::client::{ClientSide, Scheme};
use crate::core::error::AuthError;
use crate::core::obs::metrics;
use crate::core::obs::request_id::{self, request_event};
use crate::core::obs::trace;
use crate::forward_auth::access::first_match;
use crate::forward_auth::decide::check;
use crate::forward_auth::identity::{Decoded, Source, identify};
use crate::forward_auth::original::{Ambiguous, Original};
use crate::forward_auth::rules::{Narrowing, Subject, claim_text, safe_header_value};
use crate::forward_auth::session_key::session_key;
use crate::forward_auth::state::{Gate, scheme_of};
use crate::hygiene::header_section_too_large;
use crate::options::forward_auth::{EMAIL_HEADER, NAME_HEADER, RuleAction, USER_HEADER};
use crate::runtime::Snapshot;
use crate::runtime::handle::{AuthProxy, WorkerUpstream};

/// The `route` label of every answer of the endpoint (access log, `requests_total`).
pub const ROUTE_LABEL: &str = "forward_auth";

/// Mounts the decision endpoint at `gate.path()` and below it (any method), and the sign-in
/// start endpoint at `gate.signin_path()` when on.
///
/// Use with `App::configure`, next to (and before) [`crate::web::configure`]:
/// database-strategy decisions use the worker's upstream actor that
/// [`crate::web::configure`] registers.
///
/// # Examples
/// ```no_run
/// use actix_web::{App, HttpServer};
/// use authjs_proxy::AuthProxy;
/// use authjs_proxy::forward_auth::ForwardAuthOptions;
/// # #[actix_web::main]
/// # async fn main() -> std::io::Result<()> {
/// let proxy = AuthProxy::start();
/// let gate = ForwardAuthOptions { enabled: true, ..Default::default() }
///     .validate()
///     .expect("valid forward-auth options");
/// HttpServer::new(move || {
///     App::new()
///         .configure(authjs_proxy::forward_auth::configure(proxy.clone(), gate.clone()))
///         .configure(authjs_proxy::configure(proxy.clone()))
/// })
/// .bind(("127.0.0.1", 3000))?
/// .run()
/// .await
/// # }
/// ```
pub fn configure(
    proxy: AuthProxy,
    gate: ForwardAuth,
) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
    move |cfg: &mut web::ServiceConfig| {
        let state = web::Data::new(Gate {
            proxy: proxy.clone(),
            gate: gate.clone(),
            decoded: Decoded::default(),
        });
        if let Some(jwks_path) = gate.jwks_path() {
            cfg.service(
                web::resource(jwks_path.to_owned())
                    .app_data(state.clone())
                    .route(web::get().to(jwks))
                    .route(web::head().to(jwks)),
            );
        }
        if let Some(signin_path) = gate.signin_path() {
            cfg.service(
                web::resource(signin_path.to_owned())
                    .app_data(state.clone())
                    .route(web::get().to(signin::start))
                    .route(web::head().to(signin::start)),
            );
        }
        // An exact resource (no regex on the hot path), then everything below the path for
        // Envoy's ext_authz, which appends the original path to `path_prefix`. Any method:
        // Envoy asks with the original one.
        cfg.service(
            web::resource(gate.path().to_owned())
                .app_data(state.clone())
                .default_service(web::to(verify)),
        )
        .service(
            web::scope(gate.path())
                .app_data(state)
                .default_service(web::to(verify)),
        );
    }
}

/// Why a request got its answer (for the decision log; never a cookie, token or value).
fn log_decision(status: StatusCode, reason: &str, source: Option<Source>) {
    let result = match status.as_u16() {
        200 => "allow",
        302 => "redirect",
        401 => "unauthenticated",
        403 => "forbidden",
        _ => "error",
    };
    metrics::forward_auth_decision(result);
    trace::record_current("result", result);
    if let Some(source) = source {
        trace::record_current("source", source.as_str());
    }
    request_event!(
        tracing::Level::DEBUG,
        status = status.as_u16(),
        reason,
        source = source.map(Source::as_str),
        "forward-auth decision"
    );
}

fn answer(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((
            header::VARY,
            HeaderValue::from_static("Cookie, Authorization"),
        ));
    b
}

fn json_answer(status: StatusCode, msg: &str) -> HttpResponse {
    answer(status).json(serde_json::json!({ "error": msg }))
}

fn unavailable(policy: &Policy) -> HttpResponse {
    let mut res = json_answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "identity source unavailable",
    );
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(policy.retry_after_secs),
    );
    res
}

/// `<path>` and below it, any method: the decision, in its trace span.
async fn verify(req: HttpRequest, state: web::Data<Gate>) -> HttpResponse {
    tracing::Instrument::instrument(decision(req, state), trace::forward_auth_span()).await
}

/// The decision [`verify`] answers.
async fn decision(req: HttpRequest, state: web::Data<Gate>) -> HttpResponse {
    // Every decision, at the path or below it, is one route for the access log and metrics.
    request_id::note_route(&req, ROUTE_LABEL);
    let Some(cfg) = state.proxy.config() else {
        log_decision(StatusCode::SERVICE_UNAVAILABLE, "unconfigured", None);
        return unavailable(&state.gate.policy());
    };
    // The rules of the same snapshot as the secrets, when the service attached them (a reload
    // then changes both at once); else the endpoint's own.
    let policy = ForwardAuth::attached_to(&cfg).unwrap_or_else(|| state.gate.policy());
    let policy = &*policy;
    if header_section_too_large(req.headers()) {
        // What Auth.js answers such a request: never an identity-source failure.
        log_decision(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers too large",
            None,
        );
        return json_answer(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request header fields too large",
        );
    }
    let gate_path = state.gate.path();
    let trusted = cfg.trusts(req.peer_addr().map(|a| a.ip()));
    let original = match Original::of(&req, gate_path, trusted) {
        Ok(original) => original,
        Err(Ambiguous) => {
            log_decision(StatusCode::BAD_REQUEST, "ambiguous original path", None);
            return json_answer(StatusCode::BAD_REQUEST, "ambiguous original path");
        }
    };
    // Browsers send preflights without cookies: let them through when asked to.
    if policy.allow_cors_preflight
        && original.method == Some(Method::OPTIONS)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        log_decision(StatusCode::OK, "cors preflight", None);
        return answer(StatusCode::OK).finish();
    }
    let rule = first_match(&policy.rules, &original);
    match rule.map(|r| r.action) {
        Some(RuleAction::Allow) => {
            log_decision(StatusCode::OK, "rule allows", None);
            return answer(StatusCode::OK).finish();
        }
        Some(RuleAction::Deny) => {
            log_decision(StatusCode::FORBIDDEN, "rule denies", None);
            return json_answer(StatusCode::FORBIDDEN, "forbidden");
        }
        Some(RuleAction::Authenticate) | None => {}
    }
    let requirements = rule
        .and_then(|r| r.requirements.as_ref())
        .unwrap_or(&policy.requirements);
    let api = rule.is_some_and(|r| r.api);
    // Below the path (Envoy) the query is the original request's; at the path it narrows.
    let below = req.path() != gate_path;
    let query = if below { "" } else { req.query_string() };
    // Envoy: the original path and query, appended to the endpoint's path.
    let appended = below.then(|| {
        let tail = &req.path()[gate_path.len()..];
        match req.query_string() {
            "" => tail.to_owned(),
            q => format!("{tail}?{q}"),
        }
    });
    let narrowing = match Narrowing::parse(query) {
        Ok(n) => n,
        Err(e) => {
            request_event!(tracing::Level::WARN, error = %e, "forward-auth narrowing refused; check the front proxy's sub-request URL");
            log_decision(StatusCode::BAD_REQUEST, "malformed narrowing", None);
            return json_answer(StatusCode::BAD_REQUEST, "invalid forward-auth rules");
        }
    };
    let scheme = scheme_of(&cfg, &req, trusted);
    let upstream = match req.app_data::<web::Data<WorkerUpstream>>() {
        Some(w) => w.0.clone(),
        None => state.proxy.fallback_upstream(),
    };
    let who = identify(&cfg, &upstream, &req, scheme == "https", &state.decoded).await;
    let (subject, source) = match who {
        Ok(Some(found)) => found,
        Ok(None) => {
            return unauthenticated(
                &req,
                policy,
                api,
                appended.as_deref(),
                &cfg,
                trusted,
                scheme,
            );
        }
        Err(e) => {
            match &e {
                // An answer that is no session answer is a configuration mistake more often
                // than not: say so where operators look.
                AuthError::BadSessionAnswer { status } => request_event!(tracing::Level::WARN,
                    status,
                    session_route = %cfg.target_url("session", None),
                    "forward-auth: the upstream's session route gave no session answer; check \
                     proxy.base_url and target_base_path (Auth.js answers GET <target_base_path>/session)"
                ),
                // The upstream actor already warns about the failed request itself.
                _ => {
                    request_event!(tracing::Level::DEBUG, error = %e, "forward-auth identity source failed")
                }
            }
            log_decision(
                StatusCode::SERVICE_UNAVAILABLE,
                "identity source failed",
                None,
            );
            return unavailable(policy);
        }
    };
    if let Err(denial) = check(policy, requirements, &narrowing, &subject) {
        log_decision(StatusCode::FORBIDDEN, &denial.to_string(), Some(source));
        return json_answer(StatusCode::FORBIDDEN, "forbidden");
    }
    log_decision(StatusCode::OK, "allowed", Some(source));
    let mut res = allowed(policy, &subject);
    if source == Source::Token && policy.refresher.due(&subject) {
        let mut side = match ClientSide::of(&req) {
            Ok(side) => side,
            Err(_) => return res,
        };
        if scheme == "https" {
            side.scheme = Scheme::Https;
        }
        let key = session_key(req.headers(), &[scheme.as_bytes()]);
        for cookie in policy
            .refresher
            .cookies(&cfg, &upstream, req.headers(), &side, key)
            .await
            .iter()
        {
            res.headers_mut().append(header::SET_COOKIE, cookie.clone());
        }
    }
    if let Some(assertion) = &policy.assertion {
        let public_url = cfg.public.as_ref().map(|p| p.origin.as_str());
        let origin = forwarded::public_side(req.headers(), public_url, trusted, scheme)
            .and_then(|p| p.origin());
        // What the assertion says: the session, the scheme, the issuer, and the claims.
        let claims = subject.to_bytes();
        let session = session_key(
            req.headers(),
            &[
                scheme.as_bytes(),
                origin.as_deref().unwrap_or("").as_bytes(),
                &claims,
            ],
        );
        match assertion.for_subject(&subject, session, origin.as_deref()) {
            Some(jwt) => {
                if let Ok(v) = HeaderValue::from_str(&jwt) {
                    res.headers_mut().insert(assertion.header.clone(), v);
                }
            }
            None => request_event!(
                tracing::Level::WARN,
                "identity assertion could not be signed"
            ),
        }
    }
    res
}

/// `GET <jwks_path>`: the assertion's public keys (`{"keys": []}` when none is configured).
async fn jwks(req: HttpRequest, state: web::Data<Gate>) -> HttpResponse {
    request_id::note_route(&req, "forward_auth_jwks");
    let cfg = state.proxy.config();
    let policy = cfg
        .as_ref()
        .and_then(|cfg| ForwardAuth::attached_to(cfg))
        .unwrap_or_else(|| state.gate.policy());
    let body = match &policy.assertion {
        Some(a) => a.jwks.to_string(),
        None => r#"{"keys":[]}"#.to_owned(),
    };
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ))
        .body(body)
}

/// `200` with the identity headers whose values are safe to emit.
fn allowed(policy: &Policy, subject: &Subject) -> HttpResponse {
    let mut res = answer(StatusCode::OK).finish();
    let h = res.headers_mut();
    let fixed = [
        (USER_HEADER, subject.user_id()),
        (EMAIL_HEADER, subject.email()),
        (NAME_HEADER, subject.name()),
    ];
    for (name, text) in fixed {
        let Some(text) = text else { continue };
        match safe_header_value(&text) {
            Some(v) => {
                h.insert(header::HeaderName::from_static(name), v);
            }
            None => request_event!(
                tracing::Level::WARN,
                header = name,
                "identity header dropped: unsafe value"
            ),
        }
    }
    for (name, path) in &policy.headers {
        let Some(text) = subject.get(path).and_then(claim_text) else {
            continue;
        };
        match safe_header_value(&text) {
            Some(v) => {
                h.insert(name.clone(), v);
            }
            None => request_event!(tracing::Level::WARN,
                header = name.as_str(),
                claim = %path,
                "identity header dropped: unsafe value"
            ),
        }
    }
    res
}

/// `401`, or in redirect mode a `302` to the sign-in page for a browser navigation.
fn unauthenticated(
    req: &HttpRequest,
    policy: &Policy,
    api: bool,
    appended: Option<&str>,
    cfg: &Snapshot,
    trusted: bool,
    scheme: &str,
) -> HttpResponse {
    let headers = req.headers();
    let (local_base_path, public_url) = (
        cfg.local_base_path.as_str(),
        cfg.public.as_ref().map(|p| p.origin.as_str()),
    );
    if policy.on_unauthenticated == OnUnauthenticated::Redirect
        && !api
        && forwarded::is_navigation(headers)
    {
        let public = forwarded::public_side(headers, public_url, trusted, scheme);
        if let Some(public) = public
            && let Some(origin) = public.origin()
        {
            let callback = forwarded::original_url(headers, trusted, public, appended);
            let location = forwarded::signin_location(&origin, local_base_path, callback.as_ref());
            if let Ok(v) = HeaderValue::from_str(&location) {
                let reason = if callback.is_some() {
                    "no session; redirect with callback"
                } else {
                    "no session; redirect without callback"
                };
                log_decision(StatusCode::FOUND, reason, None);
                return answer(StatusCode::FOUND)
                    .insert_header((header::LOCATION, v))
                    .finish();
            }
        }
    }
    log_decision(StatusCode::UNAUTHORIZED, "no valid session", None);
    json_answer(StatusCode::UNAUTHORIZED, "not signed in")
}
