//! The Auth.js routes meet sign-in protection: which requests are sign-in attempts (read from
//! the body exactly as Auth.js reads it), the refusal in the form the caller expects, and what
//! Auth.js answered.

use std::net::IpAddr;

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use unicode_normalization::UnicodeNormalization;

use crate::core::client::ClientSide;
use crate::core::cookies::is_session_cookie;
use crate::runtime::Snapshot;
use crate::runtime::public::{client_ip, public_origin};
use crate::signin_guard::{Refusal, Reservation};

/// The error code of the refusal, where Auth.js puts its own (`?error=`).
pub const ERROR_CODE: &str = "RateLimited";

/// A sign-in attempt under way: its reserved budgets, settled once Auth.js has answered.
#[derive(Debug)]
pub enum Attempt {
    /// Not a sign-in the guard counts.
    None,
    /// `POST callback/<credentials provider>`.
    Credentials(Reservation),
    /// `POST signin/<provider>` with an address to send a link to.
    Email(Reservation),
}

/// The body's fields as Auth.js reads them (`getBody`): JSON when the type mentions
/// `application/json`, else a urlencoded form when it mentions that (a repeated field: the
/// last one, as `Object.fromEntries` keeps), else nothing.
fn fields(headers: &HeaderMap, body: &Bytes) -> Vec<(String, String)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |k: String, v: String| match out.iter_mut().find(|(name, _)| *name == k) {
        Some(slot) => slot.1 = v,
        None => out.push((k, v)),
    };
    if content_type.contains("application/json") {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
            for (k, v) in map {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                set(k, text);
            }
        }
    } else if content_type.contains("application/x-www-form-urlencoded") {
        for (k, v) in url::form_urlencoded::parse(body) {
            set(k.into_owned(), v.into_owned());
        }
    }
    out
}

/// An address as Auth.js's `defaultNormalizer` makes it (NFKC, lower case, trimmed, the
/// domain cut at a comma); `None` where it refuses one.
pub fn normalize_email(raw: &str) -> Option<String> {
    let s: String = raw.nfkc().collect::<String>().to_lowercase();
    let s = s.trim();
    if s.contains('"') || s.split('@').count() != 2 {
        return None;
    }
    let (local, domain) = s.split_once('@')?;
    let domain = domain.split(',').next().unwrap_or("");
    (!local.is_empty() && !domain.is_empty()).then(|| format!("{local}@{domain}"))
}

/// An account as typed, so that case, spacing and compatibility forms are one account.
fn normalize_account(raw: &str) -> Option<String> {
    if raw.contains('@') {
        return normalize_email(raw);
    }
    let s: String = raw.nfkc().collect::<String>().to_lowercase();
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Checks a request before it is forwarded: `Err` is the refusal to answer with (nothing is
/// sent upstream then); `Ok` what to settle once Auth.js has answered.
pub async fn before(
    cfg: &Snapshot,
    suffix: &str,
    method: &Method,
    headers: &HeaderMap,
    side: &ClientSide,
    body: &Bytes,
) -> Result<Attempt, HttpResponse> {
    let guard = &cfg.sign_in;
    if !guard.options.enabled || *method != Method::POST {
        return Ok(Attempt::None);
    }
    let provider = |prefix: &str| suffix.strip_prefix(prefix).filter(|p| !p.contains('/'));
    let is_credentials = |p: &str| guard.options.credentials_providers.iter().any(|c| c == p);
    let ip: Option<IpAddr> = client_ip(cfg, headers, side);
    if let Some(p) = provider("callback/")
        && is_credentials(p)
    {
        let fields = fields(headers, body);
        let mut accounts: Vec<String> = Vec::new();
        for name in &guard.options.account_fields {
            if let Some((_, v)) = fields.iter().find(|(k, _)| k == name)
                && let Some(a) = normalize_account(v)
                && !accounts.contains(&a)
            {
                accounts.push(a);
            }
        }
        return match guard.reserve_credentials(&accounts, ip).await {
            Ok(r) => Ok(Attempt::Credentials(r)),
            Err(r) => Err(refused(cfg, headers, side, &r)),
        };
    }
    if let Some(p) = provider("signin/")
        && !is_credentials(p)
    {
        let fields = fields(headers, body);
        let address = fields
            .iter()
            .find(|(k, _)| k == "email")
            .and_then(|(_, v)| normalize_email(v));
        if let Some(address) = address {
            return match guard.reserve_email(&address, ip).await {
                Ok(r) => Ok(Attempt::Email(r)),
                Err(r) => Err(refused(cfg, headers, side, &r)),
            };
        }
    }
    Ok(Attempt::None)
}

/// What the upstream answered, for [`after`]: `None` when it could not be asked.
pub struct Answer<'a> {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body.
    pub body: &'a Bytes,
}

/// Settles `attempt` by what Auth.js answered.
pub async fn after(cfg: &Snapshot, attempt: Attempt, answer: Option<Answer<'_>>) {
    let guard = &cfg.sign_in;
    match attempt {
        Attempt::None => {}
        Attempt::Credentials(r) => match answer {
            Some(a) if signed_in(cfg, a.headers) => guard.credentials_succeeded(r).await,
            Some(a) if auth_js_verdict(&a) => guard.credentials_failed(r).await,
            _ => guard.not_counted(r).await,
        },
        Attempt::Email(r) => match answer {
            Some(a) if sent(&a) => {}
            _ => guard.not_counted(r).await,
        },
    }
}

/// Where Auth.js sends the browser: its redirect, or the `{url}` of a `signIn()` call.
fn destination(a: &Answer<'_>) -> Option<String> {
    if a.status.is_redirection() {
        return a
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }
    if a.status == StatusCode::OK {
        let v: serde_json::Value = serde_json::from_slice(a.body).ok()?;
        return v.get("url")?.as_str().map(str::to_owned);
    }
    None
}

/// Auth.js answered the sign-in itself (a redirect or a `{url}`): without a session cookie,
/// that is a refusal of the credentials, whatever its error code.
fn auth_js_verdict(a: &Answer<'_>) -> bool {
    destination(a).is_some()
}

/// Auth.js sent the mail: it sends the browser to its `verify-request` page.
fn sent(a: &Answer<'_>) -> bool {
    destination(a).is_some_and(|url| {
        let path = url.split(['?', '#']).next().unwrap_or("");
        path.ends_with("/verify-request")
    })
}

/// Auth.js set a session cookie: the sign-in succeeded.
fn signed_in(cfg: &Snapshot, answer: &HeaderMap) -> bool {
    answer.get_all(header::SET_COOKIE).any(|v| {
        let v = v.as_bytes();
        let Some(eq) = v.iter().position(|&b| b == b'=') else {
            return false;
        };
        let name = v[..eq].trim_ascii();
        let value_present = v[eq + 1..].first().is_some_and(|&b| b != b';');
        value_present
            && (is_session_cookie(name, &cfg.cookie_names)
                || is_session_cookie(name, &cfg.secure_cookie_names))
    })
}

/// The refusal, in the form the caller expects: a `signIn()` call (`X-Auth-Return-Redirect`)
/// gets the JSON `{url}` Auth.js gives for an error, a browser form post the redirect to the
/// sign-in page with the error, anything else `429`. Every form says when to come back.
fn refused(cfg: &Snapshot, headers: &HeaderMap, side: &ClientSide, r: &Refusal) -> HttpResponse {
    let retry = r.retry_after.as_secs().max(1);
    let base = cfg.local_base_path.trim_end_matches('/');
    let origin = public_origin(cfg, headers, side).unwrap_or_default();
    let url = format!("{origin}{base}/signin?error={ERROR_CODE}");
    let wants_json_url = headers.contains_key("x-auth-return-redirect");
    let form_post = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("application/x-www-form-urlencoded"));
    let browser = headers
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|a| a.contains("text/html"));
    let mut res = if wants_json_url {
        HttpResponse::Ok().json(serde_json::json!({ "url": url }))
    } else if form_post && browser {
        let mut res = HttpResponse::Found().finish();
        if let Ok(v) = HeaderValue::from_str(&url) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        res
    } else {
        HttpResponse::build(StatusCode::TOO_MANY_REQUESTS).json(serde_json::json!({
            "error": "too many sign-in attempts",
            "reason": r.reason.as_str(),
        }))
    };
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise_as_auth_js_normalises_them() {
        for (raw, want) in [
            ("Victim@Example.com ", Some("victim@example.com")),
            ("victim@example.com,1", Some("victim@example.com")),
            ("ｖｉｃｔｉｍ＠example.com", Some("victim@example.com")),
            ("a@b@c", None),
            ("\"x\"@y", None),
            ("nobody", None),
        ] {
            assert_eq!(normalize_email(raw).as_deref(), want, "{raw:?}");
        }
    }

    fn form(ct: &str, body: &str) -> Vec<(String, String)> {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        fields(&h, &Bytes::from(body.to_owned()))
    }

    #[test]
    fn fields_are_read_as_auth_js_reads_them() {
        let last = form(
            "application/x-www-form-urlencoded",
            "email=a%40x&email=victim%40x",
        );
        assert_eq!(last, vec![("email".to_owned(), "victim@x".to_owned())]);
        let json = form("text/plain;x=application/json", r#"{"email":"j@x"}"#);
        assert_eq!(json, vec![("email".to_owned(), "j@x".to_owned())]);
        assert!(form("multipart/form-data", "email=a").is_empty());
    }
}
