//! What the admin routes share: their state, and who may act on them (`admin.token`, the
//! loopback rule, the cross-site refusal).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::app::admin::health::Health;
use crate::app::admin::reload::Reloader;
use crate::core::redact::redacted;
use crate::core::response::json_error;
use crate::runtime::handle::AuthProxy;

/// What the admin routes work with.
#[derive(Clone)]
pub struct AdminState {
    /// The running proxy.
    pub proxy: AuthProxy,
    /// Readiness inputs.
    pub health: Health,
    /// Reloads the configuration file.
    pub reloader: Arc<Reloader>,
    /// `admin.token`: required as `Authorization: Bearer <token>` by `POST /reload`.
    pub token: Option<String>,
    /// Whether the admin listener is bound to loopback (reload without token allowed).
    pub loopback: bool,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("token", &redacted(&self.token))
            .field("loopback", &self.loopback)
            .finish_non_exhaustive()
    }
}

/// Compares without an early exit on the first differing byte.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(req: &HttpRequest) -> Option<&[u8]> {
    let v = req.headers().get(header::AUTHORIZATION)?.as_bytes();
    let scheme = v.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| v[7..].trim_ascii())
}

/// Whether a browser says the request comes from another origin: `Sec-Fetch-Site` other than
/// `same-origin`/`none`, or an `Origin` that is not this listener's own (`http://<Host>`).
/// Requests without either (curl, scripts) are not a browser's.
fn cross_site(req: &HttpRequest) -> bool {
    let headers = req.headers();
    let site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| !matches!(v.as_bytes(), b"same-origin" | b"none"));
    let origin = headers.get(header::ORIGIN).is_some_and(|origin| {
        let host = headers.get(header::HOST).map(header::HeaderValue::as_bytes);
        origin.as_bytes().strip_prefix(b"http://") != host
    });
    site || origin
}

/// Whether the request names a host other than loopback (`Host`): a page that rebound its own
/// name to 127.0.0.1 (DNS rebinding) still sends its own name. No `Host` (HTTP/1.0 tools) is
/// not a browser's.
fn foreign_host(req: &HttpRequest) -> bool {
    let Some(host) = req.headers().get(header::HOST) else {
        return false;
    };
    let Ok(host) = host.to_str() else { return true };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

/// The answer refusing an admin action (`what`, for the message) to `req`, if it is refused:
/// `admin.token` is required as a Bearer token when set; without one, only a loopback
/// listener acts, only for a loopback `Host`, and never for a cross-site browser request.
pub fn refused(req: &HttpRequest, state: &AdminState, what: &str) -> Option<HttpResponse> {
    // A token added, changed or removed by a reload counts from then on.
    let token = state
        .reloader
        .reloaded_admin_token()
        .unwrap_or_else(|| state.token.clone());
    match &token {
        Some(token) if !bearer(req).is_some_and(|given| same_secret(given, token.as_bytes())) => {
            let mut res = json_error(StatusCode::UNAUTHORIZED, "admin token required");
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"authjs-proxy admin\""),
            );
            Some(res)
        }
        None if !state.loopback => Some(json_error(
            StatusCode::FORBIDDEN,
            &format!("{what} over a non-loopback admin listener needs admin.token"),
        )),
        // Without a token, the loopback listener's only guard against a web page posting to
        // it is the browser's word on where the request comes from.
        None if foreign_host(req) => Some(json_error(
            StatusCode::FORBIDDEN,
            &format!(
                "{what} for a non-loopback Host refused (set admin.token to act from elsewhere)"
            ),
        )),
        None if cross_site(req) => Some(json_error(
            StatusCode::FORBIDDEN,
            &format!("cross-site {what} refused (set admin.token to act from elsewhere)"),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_at_home() {
        use actix_web::test::TestRequest;
        for (host, foreign) in [
            ("127.0.0.1:9090", false),
            ("localhost:9090", false),
            ("LOCALHOST", false),
            ("[::1]:9090", false),
            ("127.1.2.3", false),
            ("evil.example:9090", true),
            ("10.0.0.1:9090", true),
            ("[::ffff:10.0.0.1]:1", true),
        ] {
            let req = TestRequest::default()
                .insert_header((header::HOST, host))
                .to_http_request();
            assert_eq!(foreign_host(&req), foreign, "{host}");
        }
        assert!(!foreign_host(&TestRequest::default().to_http_request()));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
