//! Finding the session token in a request: cookies (with Auth.js chunking) or a Bearer header.

use std::borrow::Cow;

use actix_web::http::header::{self, HeaderMap};
use percent_encoding::percent_decode_str;

/// Auth.js splits cookie values above this many characters into `NAME.0`, `NAME.1`, ...
pub const CHUNK_SIZE: usize = 3936;

/// A session token found in a request.
#[derive(Clone, PartialEq, Eq)]
pub struct FoundToken {
    /// The token (chunks reassembled, percent-decoding undone).
    pub value: String,
    /// The cookie it came from (the key-derivation salt); `None` for a Bearer token.
    pub cookie_name: Option<String>,
}

impl std::fmt::Debug for FoundToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoundToken")
            .field("value", &"<redacted>")
            .field("cookie_name", &self.cookie_name)
            .finish()
    }
}

/// Every `name=value` pair of every `Cookie` header, in order.
pub fn request_cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((name.trim(), value))
        })
}

/// `Some(n)` when `cookie` is chunk `n` of `name` (`name.n`).
fn chunk_index(cookie: &str, name: &str) -> Option<u32> {
    let rest = cookie.strip_prefix(name)?.strip_prefix('.')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

fn decode_value(v: &str) -> Cow<'_, str> {
    if v.contains('%') {
        percent_decode_str(v)
            .decode_utf8()
            .unwrap_or(Cow::Borrowed(v))
    } else {
        Cow::Borrowed(v)
    }
}

/// The value of cookie `name`: chunks `name.0..name.n` reassembled in numeric order when
/// present, else the plain cookie.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut chunks: Vec<(u32, &str)> = Vec::new();
    let mut plain = None;
    for (n, v) in request_cookies(headers) {
        if n == name {
            plain.get_or_insert(v);
        } else if let Some(i) = chunk_index(n, name) {
            chunks.push((i, v));
        }
    }
    if !chunks.is_empty() {
        chunks.sort_by_key(|(i, _)| *i);
        return Some(chunks.iter().map(|(_, v)| decode_value(v)).collect());
    }
    plain
        .filter(|v| !v.is_empty())
        .map(|v| decode_value(v).into_owned())
}

/// Finds the session token: the first of `names` present as a cookie, then
/// `Authorization: Bearer <percent-encoded token>`.
pub fn find_session_token(headers: &HeaderMap, names: &[String]) -> Option<FoundToken> {
    for name in names {
        if let Some(value) = cookie_value(headers, name) {
            return Some(FoundToken {
                value,
                cookie_name: Some(name.clone()),
            });
        }
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    if scheme != "Bearer" || token.trim().is_empty() {
        return None;
    }
    Some(FoundToken {
        value: decode_value(token.trim()).into_owned(),
        cookie_name: None,
    })
}

/// Whether `cookie` is one of the session cookie `names`, plain or a chunk (`NAME.n`).
pub fn is_session_cookie(cookie: &str, names: &[String]) -> bool {
    names
        .iter()
        .any(|name| cookie == name || chunk_index(cookie, name).is_some())
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
    fn chunks_are_reassembled_in_numeric_order_with_ten_after_nine() {
        let mut parts: Vec<String> = (0..12).map(|i| format!("t.{i}=v{i}")).collect();
        parts.reverse();
        let h = with_cookie(&parts.join("; "));
        let expected: String = (0..12).map(|i| format!("v{i}")).collect();
        assert_eq!(cookie_value(&h, "t").unwrap(), expected);
    }

    #[test]
    fn plain_cookie_is_read_when_no_chunks_exist() {
        let h = with_cookie("other=1; authjs.session-token=abc");
        assert_eq!(cookie_value(&h, "authjs.session-token").unwrap(), "abc");
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
    fn plain_default_name_is_found_when_secure_is_absent() {
        let h = with_cookie("authjs.session-token=plain");
        let names = vec![
            "__Secure-authjs.session-token".to_owned(),
            "authjs.session-token".to_owned(),
        ];
        let found = find_session_token(&h, &names).unwrap();
        assert_eq!(found.cookie_name.as_deref(), Some("authjs.session-token"));
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

    #[test]
    fn cookie_wins_over_bearer() {
        let mut h = with_cookie("x=fromcookie");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer frombearer"),
        );
        assert_eq!(
            find_session_token(&h, &["x".to_owned()]).unwrap().value,
            "fromcookie"
        );
    }

    #[test]
    fn similar_names_are_not_taken_for_chunks() {
        let h = with_cookie("x.a=1; x.=2; xy.0=3");
        assert_eq!(cookie_value(&h, "x"), None);
    }

    #[test]
    fn no_token_means_none() {
        assert_eq!(
            find_session_token(&HeaderMap::new(), &["x".to_owned()]),
            None
        );
    }
}
