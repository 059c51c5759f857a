//! The Auth.js routes meet revocation: a session route request presenting a revoked token is
//! answered as signed out by the proxy (Auth.js would still accept the token, and hand out a
//! fresh one), and a sign-out the upstream carried out is recorded.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};

use crate::core::cookies::{is_session_cookie, request_cookies};
use crate::runtime::Snapshot;

/// `null` (no session), with every session cookie the request carried expired the way
/// Auth.js clears them.
pub fn signed_out_session(cfg: &Snapshot, request: &HeaderMap, secure: bool) -> HttpResponse {
    let mut res = HttpResponse::build(StatusCode::OK);
    res.content_type("application/json");
    let mut res = res.body("null");
    expire_session_cookies(cfg, request, secure, res.headers_mut());
    res
}

/// Whether the cookie `name` is a session cookie (either name, or a chunk of one).
fn is_session(cfg: &Snapshot, name: &[u8]) -> bool {
    is_session_cookie(name, &cfg.cookie_names) || is_session_cookie(name, &cfg.secure_cookie_names)
}

/// Appends to `answer` a `Set-Cookie` expiring each session cookie the request carried.
pub fn expire_session_cookies(
    cfg: &Snapshot,
    request: &HeaderMap,
    secure: bool,
    answer: &mut HeaderMap,
) {
    let mut names: Vec<&[u8]> = Vec::new();
    for (name, _) in request_cookies(request) {
        if is_session(cfg, name) && !names.contains(&name) {
            names.push(name);
        }
    }
    for name in names {
        let name = String::from_utf8_lossy(name);
        let secure_attr = if secure || name.starts_with("__Secure-") {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{name}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; \
             SameSite=Lax{secure_attr}"
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            answer.append(header::SET_COOKIE, v);
        }
    }
}

/// Removes the session cookies (and a Bearer token) from a request going upstream; the other
/// cookies stay, in order.
pub fn drop_session_cookies(cfg: &Snapshot, headers: &mut HeaderMap) {
    let kept: Vec<Vec<u8>> = request_cookies(headers)
        .filter(|(name, _)| !is_session(cfg, name))
        .map(|(name, value)| [name, b"=", value].concat())
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_bytes(&kept.join(&b"; "[..]))
    {
        headers.insert(header::COOKIE, v);
    }
    headers.remove(header::AUTHORIZATION);
}

/// Whether the upstream's answer clears a session cookie (what Auth.js does on a sign-out it
/// carried out; a refused one, e.g. a bad CSRF token, clears nothing).
pub fn clears_session_cookie(cfg: &Snapshot, answer: &HeaderMap) -> bool {
    answer.get_all(header::SET_COOKIE).any(|v| {
        let v = v.as_bytes();
        let Some(eq) = v.iter().position(|&b| b == b'=') else {
            return false;
        };
        let (name, rest) = (v[..eq].trim_ascii(), &v[eq + 1..]);
        let value = rest
            .split(|&b| b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii();
        value.is_empty()
            && (is_session_cookie(name, &cfg.cookie_names)
                || is_session_cookie(name, &cfg.secure_cookie_names))
    })
}
