//! Finding the session token in a request: cookies (with Auth.js chunking) or a Bearer header.
//!
//! Thin `HeaderMap` adapters over [`authjs_token::cookie`], which reads raw header bytes
//! exactly as `@auth/core` does.

use actix_web::http::header::{self, HeaderMap};
use authjs_token::cookie;

pub use authjs_token::cookie::{CHUNK_SIZE, FoundToken, is_plain_cookie_value};

fn cookie_headers(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers.get_all(header::COOKIE).map(|v| v.as_bytes())
}

/// Every `name=value` pair of every `Cookie` header, in order, as raw bytes (see
/// [`cookie::pairs`]): a header that is not UTF-8 is read like any other.
pub fn request_cookies(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    cookie_headers(headers).flat_map(cookie::pairs)
}

/// The value Auth.js's `SessionStore` reads for the cookie `name`, chunks reassembled (see
/// [`cookie::cookie_value`]). `None` when there is none.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie::cookie_value(cookie_headers(headers), name)
}

/// Finds the session token: the first of `names` present as a cookie, then
/// `Authorization: Bearer <percent-encoded token>` (see [`cookie::find_session_token`]).
pub fn find_session_token(headers: &HeaderMap, names: &[String]) -> Option<FoundToken> {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    cookie::find_session_token(cookie_headers(headers), authorization, names)
}

/// The salts `found` is decoded with, in order: the name of its cookie, or for a Bearer token
/// the session cookie `names` that count for the request (`getToken` decodes a Bearer token
/// with its cookie name as salt, so on https only the `__Secure-` one).
pub fn salts_of<'a>(found: &'a FoundToken, names: &'a [String]) -> &'a [String] {
    found
        .cookie_name
        .as_ref()
        .map_or(names, std::slice::from_ref)
}

/// Whether `cookie` counts for one of the session cookie `names` as Auth.js reads them: the
/// name itself, a chunk (`NAME.n`), or anything else starting with it.
pub fn is_session_cookie(cookie: &[u8], names: &[String]) -> bool {
    cookie::is_session_cookie(cookie, names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn with_cookie(c: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
        h
    }

    #[test]
    fn secure_name_is_preferred_over_plain_name() {
        let h = with_cookie("authjs.session-token=plain; __Secure-authjs.session-token=secure");
        let names = vec![
            "__Secure-authjs.session-token".to_owned(),
            "authjs.session-token".to_owned(),
        ];
        let found = find_session_token(&h, &names).unwrap();
        assert_eq!(found.value, "secure");
        assert_eq!(
            found.cookie_name.as_deref(),
            Some("__Secure-authjs.session-token")
        );
    }

    #[test]
    fn bearer_token_is_percent_decoded_when_no_cookie_exists() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer a%2Eb"),
        );
        let found = find_session_token(&h, &["x".to_owned()]).unwrap();
        assert_eq!(found.value, "a.b");
        assert_eq!(found.cookie_name, None);
    }

    /// `Authorization` (and `Cookie`) lines as a Node app's `getToken` read them (the crate's
    /// conformance vectors, made by `tests/e2e/authjs/make-bearer-fixtures.mjs`), repeated
    /// lines included.
    #[test]
    fn authorization_headers_yield_the_token_a_node_authjs_app_reads() {
        let all: serde_json::Value = serde_json::from_str(include_str!(
            "../../crates/authjs-token/tests/vectors/authjs-bearer.json"
        ))
        .unwrap();
        // One byte per character (obs-text above 0x7F).
        let value = |v: &serde_json::Value| {
            let bytes: Vec<u8> = v.as_str().unwrap().chars().map(|c| c as u8).collect();
            HeaderValue::from_bytes(&bytes).unwrap()
        };
        for case in all["cases"].as_array().unwrap() {
            let secure = case["secure"].as_bool().unwrap();
            let names: Vec<String> = cookie::session_cookie_names(secure)
                .iter()
                .map(|n| n.to_string())
                .collect();
            let mut h = HeaderMap::new();
            for c in case["cookies"].as_array().unwrap() {
                h.append(header::COOKIE, value(c));
            }
            for v in case["values"].as_array().unwrap() {
                h.append(header::AUTHORIZATION, value(v));
            }
            let found = find_session_token(&h, &names).map(|f| f.value);
            // A known divergence: the token read instead (the case's note says why).
            let expect = case.get("ours").unwrap_or(&case["expect"])["raw"]
                .as_str()
                .map(str::to_owned);
            assert_eq!(found, expect, "{}", case["name"]);
        }
    }

    #[test]
    fn a_header_with_non_utf8_bytes_is_still_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_bytes(b"pref=caf\xc3\xa9; authjs.session-token=tok").unwrap(),
        );
        assert_eq!(
            cookie_value(&h, "authjs.session-token").as_deref(),
            Some("tok")
        );
    }

    #[test]
    fn several_cookie_headers_are_read_in_order() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("authjs.session-token.1=B"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("authjs.session-token.0=A"),
        );
        assert_eq!(
            cookie_value(&h, "authjs.session-token").as_deref(),
            Some("AB")
        );
        assert_eq!(request_cookies(&h).count(), 3);
    }

    #[test]
    fn no_token_means_none() {
        assert_eq!(
            find_session_token(&HeaderMap::new(), &["x".to_owned()]),
            None
        );
    }
}
