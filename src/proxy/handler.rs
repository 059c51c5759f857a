//! The forwarding handler behind every Auth.js route.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{ConnectionType, Method, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::core::client::ClientSide;
use crate::core::error::AuthError;
use crate::core::obs::request_id;
use crate::core::obs::request_id::request_event;
use crate::core::response::json_error;
use crate::hygiene::cache_control::keep_private;
use crate::hygiene::header_section_too_large;
use crate::proxy::location::client_response_headers;
use crate::proxy::revoked::{
    clears_session_cookie, drop_session_cookies, expire_session_cookies, signed_out_session,
};
use crate::proxy::routes::{Action, RouteError, auth_route_template, classify, suffix_below};
use crate::proxy::sign_in;
use crate::runtime::actors::upstream::Forward;
use crate::runtime::handle::{AuthProxy, WorkerUpstream};
use crate::runtime::public::{public_origin, public_proto, upstream_request_headers};

/// Forwards one Auth.js request upstream and relays the answer.
pub async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    proxy: web::Data<AuthProxy>,
    upstream: web::Data<WorkerUpstream>,
) -> HttpResponse {
    let Some(cfg) = proxy.config() else {
        return AuthError::Unconfigured.error_response();
    };
    if header_section_too_large(req.headers()) {
        return json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request header fields too large",
        );
    }
    let path = req.uri().path();
    let Some(suffix) = suffix_below(path, &cfg.local_base_path) else {
        return json_error(StatusCode::NOT_FOUND, "not found");
    };
    let route = match classify(suffix) {
        Ok(route) => route,
        Err(RouteError::BadPath) => {
            return json_error(StatusCode::BAD_REQUEST, "invalid auth route path");
        }
        Err(RouteError::NotFound) => {
            return json_error(StatusCode::NOT_FOUND, "unknown auth route");
        }
    };
    request_id::note_route(&req, auth_route_template(route.action, suffix));
    let side = match ClientSide::of(&req) {
        Ok(side) => side,
        Err(e) => return AuthError::from(e).error_response(),
    };
    let method = req.method().clone();
    if !route.allows(&method) {
        let mut res = json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        res.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static(route.allow_header()),
        );
        return res;
    }
    let secure = public_proto(&cfg, req.headers(), &side) == "https";
    // Auth.js would still accept a revoked token: the session route would hand out a fresh one
    // for it, a sign-in callback would link an account to its user. The session route answers
    // "signed out" here; every other route is forwarded without the session cookies.
    let revoked = cfg.presents_revoked_session(req.headers());
    if revoked && route.action == Action::Session {
        let mut res = signed_out_session(&cfg, req.headers(), secure);
        keep_private(res.headers_mut(), true);
        return res;
    }
    let body = if method == Method::GET || method == Method::HEAD {
        Bytes::new()
    } else {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > cfg.max_body_bytes) {
            return too_large();
        }
        let read = payload.to_bytes_limited(cfg.max_body_bytes);
        match actix_rt::time::timeout(cfg.client_body_timeout, read).await {
            Err(_) => {
                // nginx's client_body_timeout: answer and free the connection.
                let mut res = json_error(StatusCode::REQUEST_TIMEOUT, "request body timed out");
                res.head_mut().set_connection_type(ConnectionType::Close);
                return res;
            }
            Ok(Err(_)) => return too_large(),
            Ok(Ok(Err(_))) => {
                return json_error(StatusCode::BAD_REQUEST, "could not read request body");
            }
            Ok(Ok(Ok(b))) => b,
        }
    };
    let attempt = match sign_in::before(&cfg, suffix, &method, req.headers(), &side, &body).await {
        Ok(attempt) => attempt,
        Err(refusal) => return refusal,
    };
    let mut headers = upstream_request_headers(&cfg, req.headers(), &side);
    if revoked {
        drop_session_cookies(&cfg, &mut headers);
    }
    let upstream_method = if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    };
    let url = cfg.target_url(suffix, req.uri().query());
    let result = upstream
        .0
        .forward(Forward {
            config: cfg.clone(),
            method: upstream_method,
            url,
            headers,
            body,
            replay: route.replay(&method),
        })
        .await;
    // Whatever came back: a sign-out whose answer was lost may still have reached the
    // upstream, and stale-if-error must not bring that session back.
    if route.changes_session(&method)
        && let Some(cache) = &cfg.session_cache
    {
        cache.invalidate(&cfg, req.headers(), &side).await;
    }
    let answer = match &result {
        Ok(Ok(res)) => Some(sign_in::Answer {
            status: res.status,
            headers: &res.headers,
            body: &res.body,
        }),
        _ => None,
    };
    sign_in::after(&cfg, attempt, answer).await;
    let res = match result {
        Ok(Ok(res)) => res,
        Ok(Err(e)) if e.is_rejection() => {
            // Circuit open or shed: logged once when the state changes, not per request.
            request_event!(tracing::Level::DEBUG, method = %method, route = ?route.action, error = %e, "auth route refused");
            return e.error_response();
        }
        Ok(Err(e)) => {
            request_id::note_attempts(&req, e.attempts());
            request_event!(tracing::Level::WARN, method = %method, route = ?route.action, attempts = e.attempts(), error = %e, "auth route failed");
            return e.error_response();
        }
        Err(_) => return AuthError::ActorGone.error_response(),
    };
    if route.action == Action::Signout
        && method == Method::POST
        && clears_session_cookie(&cfg, &res.headers)
    {
        cfg.record_sign_out(req.headers(), secure).await;
    }
    request_id::note_attempts(&req, res.attempts);
    request_event!(tracing::Level::DEBUG, method = %method, route = ?route.action, status = res.status.as_u16(), attempts = res.attempts, "auth route forwarded");
    // Only a `Location` needs the public origin.
    let public = res
        .headers
        .contains_key(header::LOCATION)
        .then(|| public_origin(&cfg, req.headers(), &side))
        .flatten();
    let mut out = HttpResponse::with_body(res.status, res.body).map_into_boxed_body();
    *out.headers_mut() = client_response_headers(&cfg, res.headers, public.as_deref());
    if revoked {
        expire_session_cookies(&cfg, req.headers(), secure, out.headers_mut());
    }
    keep_private(out.headers_mut(), route.action == Action::Session);
    out
}

fn too_large() -> HttpResponse {
    json_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
}
