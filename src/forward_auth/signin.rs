//! The sign-in start endpoint, for front proxies that can not pass a `302` on: nginx
//! `auth_request` turns any answer but 2xx, 401 and 403 into a 500. The decision answers `401`
//! and nginx sends the browser here (`error_page 401 = @signin` with a redirect to
//! `<signin_path>?rd=$scheme://$host$request_uri`), the oauth2-proxy pattern:
//!
//! `GET <signin_path>?rd=<URL>` → `302` to Auth.js's sign-in page, with `callbackUrl` = that URL
//! when it is on the public origin (a path, or an absolute URL with the public scheme, host
//! and port); any other `rd` is dropped, never followed.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use url::Url;

use crate::core::obs::request_id;
use crate::core::response::json_error;
use crate::forward_auth::forwarded::{public_side, signin_location};
use crate::forward_auth::state::{Gate, scheme_of};

/// Longest `rd` followed, in bytes.
const MAX_RD: usize = 8192;

/// The route label of the endpoint (access log, `requests_total`).
pub const ROUTE_LABEL: &str = "forward_auth_signin";

/// `GET|HEAD <signin_path>?rd=<URL>`.
pub(crate) async fn start(req: HttpRequest, state: web::Data<Gate>) -> HttpResponse {
    request_id::note_route(&req, ROUTE_LABEL);
    let Some(cfg) = state.proxy.config() else {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "not configured yet");
    };
    let trusted = cfg.trusts(req.peer_addr().map(|a| a.ip()));
    let scheme = scheme_of(&cfg, &req, trusted);
    let public_url = cfg.public.as_ref().map(|p| p.origin.as_str());
    let Some(origin) =
        public_side(req.headers(), public_url, trusted, scheme).and_then(|p| p.origin())
    else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "no public host to send the browser to",
        );
    };
    let rd = rd_of(req.query_string());
    let callback = rd.as_deref().and_then(|rd| on_origin(rd, &origin));
    let location = signin_location(&origin, &cfg.local_base_path, callback.as_ref());
    let Ok(location) = HeaderValue::from_str(&location) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid sign-in location");
    };
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish()
}

/// The `rd` parameter. nginx can not escape a URL into a query, so `rd` may come unescaped as
/// the last parameter (`rd=https://app/x?a=1&b=2`): everything after the first `rd=` is taken
/// as it is when it holds `://`, else percent-decoded.
fn rd_of(query: &str) -> Option<String> {
    let start = if query.starts_with("rd=") {
        3
    } else {
        query.find("&rd=")? + 4
    };
    let raw = &query[start..];
    if raw.contains("://") {
        return Some(raw.to_owned());
    }
    let value = raw.split('&').next().unwrap_or("");
    url::form_urlencoded::parse(format!("rd={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// `rd` as a URL on `origin`: a path (`/x?y`), or an absolute URL of that very origin.
fn on_origin(rd: &str, origin: &str) -> Option<Url> {
    if rd.len() > MAX_RD || rd.chars().any(char::is_control) || rd.contains('\\') {
        return None;
    }
    let base = Url::parse(origin).ok()?;
    let url = if rd.starts_with('/') && !rd.starts_with("//") {
        base.join(rd).ok()?
    } else {
        Url::parse(rd).ok()?
    };
    let plain = url.username().is_empty() && url.password().is_none();
    (plain && url.origin() == base.origin()).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_or_a_url_on_the_public_origin_is_kept() {
        let o = "https://app.test";
        assert_eq!(
            on_origin("/dash?x=1", o).map(String::from).as_deref(),
            Some("https://app.test/dash?x=1")
        );
        assert_eq!(
            on_origin("https://app.test/a", o)
                .map(String::from)
                .as_deref(),
            Some("https://app.test/a")
        );
    }

    #[test]
    fn rd_reads_escaped_or_as_nginx_writes_it() {
        assert_eq!(
            rd_of("rd=https%3A%2F%2Fa.test%2Fx%3Fy%3D1").as_deref(),
            Some("https://a.test/x?y=1")
        );
        assert_eq!(
            rd_of("rd=https://a.test/x?y=1&z=2").as_deref(),
            Some("https://a.test/x?y=1&z=2")
        );
        assert_eq!(rd_of("v=1&rd=%2Fdash&w=2").as_deref(), Some("/dash"));
        assert_eq!(rd_of("rd=/dash").as_deref(), Some("/dash"));
        assert_eq!(rd_of("x=1"), None);
        assert_eq!(rd_of("xrd=1"), None);
    }

    #[test]
    fn anything_else_is_dropped() {
        let o = "https://app.test";
        for rd in [
            "https://evil.test/",
            "//evil.test/x",
            "/\\evil.test",
            "http://app.test/a",
            "https://app.test:8443/a",
            "https://user@app.test/a",
            "javascript:alert(1)",
            "dash",
            "",
        ] {
            assert_eq!(on_origin(rd, o), None, "{rd:?}");
        }
    }
}
