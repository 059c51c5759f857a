//! The Auth.js routes meet sign-in protection: which requests are sign-in attempts (read from
//! the form Auth.js posts), the refusal in the form the caller expects, and what Auth.js
//! answered (a credentials failure is `error=CredentialsSignin` in its redirect or JSON).

use std::net::IpAddr;

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;

use crate::core::client::ClientSide;
use crate::core::cookies::is_session_cookie;
use crate::runtime::Snapshot;
use crate::runtime::public::{client_ip, public_origin};
use crate::signin_guard::Refusal;

/// The error code of the refusal, where Auth.js puts its own (`?error=`).
pub const ERROR_CODE: &str = "RateLimited";

/// A sign-in attempt under way.
#[derive(Debug)]
pub enum Attempt {
    /// Not a sign-in the guard counts.
    None,
    /// `POST callback/credentials`, for this account (when the form names one).
    Credentials {
        /// The account, as typed.
        account: Option<String>,
        /// The client's address.
        ip: Option<IpAddr>,
    },
    /// `POST signin/{provider}` with an address to send a link to.
    Email,
}

/// The form fields of a body Auth.js's forms post (urlencoded) or a client posts (JSON).
fn fields(headers: &HeaderMap, body: &Bytes) -> Vec<(String, String)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        return match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                .collect(),
            _ => Vec::new(),
        };
    }
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Checks a request before it is forwarded: `Err` is the refusal to answer with (nothing is
/// sent upstream then); `Ok` what to count once Auth.js has answered.
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
    let ip = client_ip(cfg, headers, side);
    if provider("callback/") == Some("credentials") {
        let fields = fields(headers, body);
        let account = guard.options.account_fields.iter().find_map(|name| {
            fields
                .iter()
                .find(|(k, v)| k == name && !v.trim().is_empty())
                .map(|(_, v)| v.clone())
        });
        return match guard.check_credentials(account.as_deref(), ip).await {
            Ok(()) => Ok(Attempt::Credentials { account, ip }),
            Err(r) => Err(refused(cfg, headers, side, &r)),
        };
    }
    if let Some(p) = provider("signin/")
        && p != "credentials"
    {
        let fields = fields(headers, body);
        if let Some((_, address)) = fields
            .iter()
            .find(|(k, v)| k == "email" && !v.trim().is_empty())
        {
            return match guard.email_attempt(address, ip).await {
                Ok(()) => Ok(Attempt::Email),
                Err(r) => Err(refused(cfg, headers, side, &r)),
            };
        }
    }
    Ok(Attempt::None)
}

/// Counts what Auth.js answered a credentials sign-in.
pub async fn after(cfg: &Snapshot, attempt: Attempt, answer: &HeaderMap, body: &Bytes) {
    let Attempt::Credentials { account, ip } = attempt else {
        return;
    };
    if failed(answer, body) {
        cfg.sign_in.credentials_failed(account.as_deref(), ip).await;
    } else if signed_in(cfg, answer) {
        cfg.sign_in
            .credentials_succeeded(account.as_deref(), ip)
            .await;
    }
}

/// Auth.js refused the credentials: `error=CredentialsSignin` in its redirect, or in the
/// `{url}` it answers a `signIn()` call with.
fn failed(answer: &HeaderMap, body: &Bytes) -> bool {
    const MARK: &str = "error=CredentialsSignin";
    let in_location = answer
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l.contains(MARK));
    let in_json = || {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("url")?.as_str().map(|u| u.contains(MARK)))
            .unwrap_or(false)
    };
    in_location || in_json()
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
    let wants_json_url = headers
        .get("x-auth-return-redirect")
        .is_some_and(|v| v.as_bytes() == b"1");
    let form_post = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
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
