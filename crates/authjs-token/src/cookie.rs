//! Finding the session token in a request, byte for byte as `@auth/core` does: its cookie
//! parser, its `SessionStore` chunk reassembly, then `Authorization: Bearer`.
//!
//! Everything takes raw header bytes (any framework's header values, `&[u8]`), so a header
//! that is not UTF-8 is read like any other and nothing is lost on the way.
//!
//! ```
//! use authjs_token::cookie;
//! let header = b"authjs.session-token.1=world; theme=dark; authjs.session-token.0=hello-";
//! assert_eq!(
//!     cookie::cookie_value([&header[..]], "authjs.session-token").as_deref(),
//!     Some("hello-world")
//! );
//! ```

use std::borrow::Cow;
use std::fmt;

use percent_encoding::percent_decode_str;

/// Auth.js splits cookie values above this many characters into `NAME.0`, `NAME.1`, ...
///
/// ```
/// assert_eq!(authjs_token::cookie::CHUNK_SIZE, 3936);
/// ```
pub const CHUNK_SIZE: usize = 3936;
/// Auth.js's session cookie name on plain http.
///
/// ```
/// assert_eq!(authjs_token::cookie::SESSION_COOKIE, "authjs.session-token");
/// ```
pub const SESSION_COOKIE: &str = "authjs.session-token";
/// Auth.js's session cookie name on https (`useSecureCookies`).
///
/// ```
/// assert!(authjs_token::cookie::SECURE_SESSION_COOKIE.starts_with("__Secure-"));
/// ```
pub const SECURE_SESSION_COOKIE: &str = "__Secure-authjs.session-token";

/// The default session cookie names that count for a request, in lookup order: on https only
/// `__Secure-authjs.session-token` (a plain-named cookie planted by a sibling subdomain is
/// ignored, as Auth.js ignores it); on http both, the `__Secure-` one first (a service behind
/// a TLS-terminating proxy sees http).
///
/// ```
/// use authjs_token::cookie::session_cookie_names;
/// assert_eq!(session_cookie_names(true), ["__Secure-authjs.session-token"]);
/// assert_eq!(session_cookie_names(false).len(), 2);
/// ```
pub fn session_cookie_names(secure: bool) -> &'static [&'static str] {
    if secure {
        &[SECURE_SESSION_COOKIE]
    } else {
        &[SECURE_SESSION_COOKIE, SESSION_COOKIE]
    }
}

/// A session token found in a request. `Debug` hides the token.
///
/// ```
/// let found = authjs_token::cookie::find_session_token(
///     [&b"authjs.session-token=eyJhbGciOi"[..]],
///     None,
///     &["authjs.session-token"],
/// )
/// .unwrap();
/// assert_eq!(found.value, "eyJhbGciOi");
/// assert!(!format!("{found:?}").contains("eyJhbGciOi"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct FoundToken {
    /// The token (chunks reassembled, percent-decoding undone).
    pub value: String,
    /// The cookie it came from (the key-derivation salt); `None` for a Bearer token.
    pub cookie_name: Option<String>,
}

impl fmt::Debug for FoundToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FoundToken")
            .field("value", &"<redacted>")
            .field("cookie_name", &self.cookie_name)
            .finish()
    }
}

/// Every `name=value` pair of one `Cookie` header, in order, as raw bytes. Names and values
/// are trimmed of spaces and tabs; pairs without `=` are skipped; quotes are kept. This is how
/// `@auth/core`'s cookie parser splits a header (several headers are joined with `; `, so
/// reading them one after the other is the same).
///
/// ```
/// let pairs: Vec<_> = authjs_token::cookie::pairs(b"a=1; b = \"2\" ;junk").collect();
/// assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (&b"b"[..], &b"\"2\""[..])]);
/// ```
pub fn pairs(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    header.split(|b| *b == b';').filter_map(|pair| {
        let eq = pair.iter().position(|b| *b == b'=')?;
        Some((trim(&pair[..eq]), trim(&pair[eq + 1..])))
    })
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The cookies as `@auth/core` sees them: the first value of each name wins.
fn first_values<'h>(headers: impl IntoIterator<Item = &'h [u8]>) -> Vec<(&'h [u8], &'h [u8])> {
    let mut seen: Vec<(&[u8], &[u8])> = Vec::new();
    for (name, value) in headers.into_iter().flat_map(pairs) {
        if !seen.iter().any(|(n, _)| *n == name) {
            seen.push((name, value));
        }
    }
    seen
}

/// Bytes as Node reads a header: each byte one latin-1 character.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// `decodeURIComponent` with the cookie parser's fallback: the raw text when it fails.
fn decode_value(v: &str) -> Cow<'_, str> {
    if v.contains('%') {
        decode_uri_component(v).map_or(Cow::Borrowed(v), Cow::Owned)
    } else {
        Cow::Borrowed(v)
    }
}

/// JavaScript's `parseInt(s)` (radix 10, or 16 after `0x`); `None` for NaN.
fn parse_int(s: &str) -> Option<f64> {
    let s = s.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, s) = match s.get(..2) {
        Some("0x" | "0X") => (16, &s[2..]),
        _ => (10, s),
    };
    let digits: Vec<u32> = s.chars().map_while(|c| c.to_digit(radix)).collect();
    if digits.is_empty() {
        return None;
    }
    let n = digits
        .iter()
        .fold(0f64, |acc, d| acc * f64::from(radix) + f64::from(*d));
    Some(if neg { -n } else { n })
}

/// Sorts like V8's `Array.prototype.sort` for short arrays (TimSort: the leading run, then
/// binary insertion), with a comparator whose NaN counts as 0. Auth.js orders session chunks
/// with `parseInt(name.split(".").pop())`, which is NaN for the plain cookie: only this
/// exact algorithm gives the order (and so the token) Auth.js would read.
fn v8_sort<T>(items: &mut [T], cmp: impl Fn(&T, &T) -> f64) {
    let order = |a: &T, b: &T| {
        let o = cmp(a, b);
        if o.is_nan() { 0.0 } else { o }
    };
    let n = items.len();
    if n < 2 {
        return;
    }
    let descending = order(&items[1], &items[0]) < 0.0;
    let mut run = 2;
    while run < n {
        let o = order(&items[run], &items[run - 1]);
        if (descending && o >= 0.0) || (!descending && o < 0.0) {
            break;
        }
        run += 1;
    }
    if descending {
        items[..run].reverse();
    }
    for start in run..n {
        let (mut left, mut right) = (0, start);
        while left < right {
            let mid = left + (right - left) / 2;
            if order(&items[start], &items[mid]) < 0.0 {
                right = mid;
            } else {
                left = mid + 1;
            }
        }
        items[left..=start].rotate_right(1);
    }
}

fn chunk_order(name: &str) -> f64 {
    let last = name.rsplit('.').next().unwrap_or("");
    parse_int(if last.is_empty() { "0" } else { last }).unwrap_or(f64::NAN)
}

/// The value Auth.js's `SessionStore` reads for the cookie `name` from the request's `Cookie`
/// headers (in order): every cookie whose name starts with `name` and has a non-empty value
/// (the first of duplicate names), ordered by the number after the last `.`, concatenated,
/// each value percent-decoded (kept as is when that fails). `None` when there is none.
///
/// Header bytes are read as Node reads them (latin-1), so a non-UTF-8 header is no error.
///
/// ```
/// let headers = [&b"t.1=B"[..], &b"t.0=A; other=x"[..]];
/// assert_eq!(authjs_token::cookie::cookie_value(headers, "t").as_deref(), Some("AB"));
/// ```
pub fn cookie_value<'h>(headers: impl IntoIterator<Item = &'h [u8]>, name: &str) -> Option<String> {
    value_of(&first_values(headers), name)
}

fn value_of(cookies: &[(&[u8], &[u8])], name: &str) -> Option<String> {
    let mut parts: Vec<(String, String)> = cookies
        .iter()
        .filter(|(n, v)| n.starts_with(name.as_bytes()) && !v.is_empty())
        .map(|(n, v)| {
            let value = latin1(v);
            let value = decode_value(&value).into_owned();
            (latin1(n), value)
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    v8_sort(&mut parts, |a, b| chunk_order(&a.0) - chunk_order(&b.0));
    Some(parts.into_iter().map(|(_, v)| v).collect())
}

/// The token `@auth/core`'s `getToken` reads from an `Authorization` header value (of a
/// request with several, the first: Node's `http` server drops the others): white space around the value is dropped, the value
/// is split at single spaces, the first piece must be `Bearer` (that case) and the second is
/// the token, undone with JavaScript's `decodeURIComponent`. `None` when there is no such
/// piece, it is empty, its percent-encoding is malformed or not UTF-8, or it has bytes outside
/// visible ASCII and tab (no such token decodes). (Where `getToken` reads `Bearer` alone as
/// the token `"undefined"`, which no decoder accepts, this finds none.)
///
/// ```
/// use authjs_token::cookie::bearer_token;
/// assert_eq!(bearer_token(b"Bearer a%2Eb").as_deref(), Some("a.b"));
/// assert_eq!(bearer_token(b"Bearer tok extra").as_deref(), Some("tok"));
/// assert_eq!(bearer_token(b"Bearer  tok"), None);
/// assert_eq!(bearer_token(b"Bearer tok%zz"), None);
/// assert_eq!(bearer_token(b"Basic abc"), None);
/// ```
pub fn bearer_token(authorization: &[u8]) -> Option<String> {
    // fetch's `Headers` strips HTTP white space (tab, LF, CR, space) around a value.
    let http_space = |b: &u8| matches!(b, b'\t' | b'\n' | b'\r' | b' ');
    let start = authorization.iter().position(|b| !http_space(b))?;
    let end = authorization.iter().rposition(|b| !http_space(b))?;
    let value = authorization[start..=end].strip_prefix(b"Bearer ")?;
    let token = value.split(|&b| b == b' ').next()?;
    // A token with other bytes can not decode (what follows it does not matter).
    if token.is_empty()
        || !token
            .iter()
            .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return None;
    }
    decode_uri_component(std::str::from_utf8(token).ok()?)
}

/// JavaScript's `decodeURIComponent`: `None` where it throws (a `%` not followed by two hex
/// digits, or escapes that are not UTF-8).
fn decode_uri_component(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let malformed = b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

/// Finds the session token: the first of `names` present as a cookie in `cookie_headers`,
/// then the `authorization` header value (Bearer).
///
/// ```
/// use authjs_token::cookie::{find_session_token, session_cookie_names};
/// let found = find_session_token(
///     [&b"authjs.session-token=plain; __Secure-authjs.session-token=secure"[..]],
///     None,
///     session_cookie_names(false),
/// )
/// .unwrap();
/// assert_eq!(found.value, "secure");
/// assert_eq!(found.cookie_name.as_deref(), Some("__Secure-authjs.session-token"));
///
/// let bearer = find_session_token([], Some(b"Bearer tok"), session_cookie_names(true)).unwrap();
/// assert_eq!((bearer.value.as_str(), bearer.cookie_name), ("tok", None));
/// ```
pub fn find_session_token<'h, N: AsRef<str>>(
    cookie_headers: impl IntoIterator<Item = &'h [u8]>,
    authorization: Option<&[u8]>,
    names: &[N],
) -> Option<FoundToken> {
    let cookies = first_values(cookie_headers);
    for name in names {
        let name = name.as_ref();
        if let Some(value) = value_of(&cookies, name) {
            return Some(FoundToken {
                value,
                cookie_name: Some(name.to_owned()),
            });
        }
    }
    Some(FoundToken {
        value: bearer_token(authorization?)?,
        cookie_name: None,
    })
}

/// Whether `cookie` (a name) counts for one of the session cookie `names` as Auth.js reads
/// them: the name itself, a chunk (`NAME.n`), or anything else starting with it.
///
/// ```
/// use authjs_token::cookie::is_session_cookie;
/// assert!(is_session_cookie(b"authjs.session-token.3", &["authjs.session-token"]));
/// assert!(!is_session_cookie(b"theme", &["authjs.session-token"]));
/// ```
pub fn is_session_cookie<N: AsRef<str>>(cookie: &[u8], names: &[N]) -> bool {
    names
        .iter()
        .any(|name| cookie.starts_with(name.as_ref().as_bytes()))
}

/// Whether a session cookie value is made of cookie-octets only (RFC 6265 §4.1.1). Auth.js
/// tokens always are.
///
/// ```
/// use authjs_token::cookie::is_plain_cookie_value;
/// assert!(is_plain_cookie_value(b"eyJhbGciOiJkaXIi"));
/// assert!(!is_plain_cookie_value(b"a b"));
/// ```
pub fn is_plain_cookie_value(value: &[u8]) -> bool {
    value.iter().all(|&b| {
        b == 0x21
            || (0x23..=0x2B).contains(&b)
            || (0x2D..=0x3A).contains(&b)
            || (0x3C..=0x5B).contains(&b)
            || (0x5D..=0x7E).contains(&b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(c: &str) -> Vec<Vec<u8>> {
        vec![c.as_bytes().to_vec()]
    }

    #[test]
    fn a_value_decodeuricomponent_refuses_is_kept_whole_as_the_cookie_parser_keeps_it() {
        // `decodeURIComponent("a%zz%41")` throws, so Node's cookie parser keeps the raw text;
        // a lenient decoder would give `a%zzA`.
        let h = with_cookie("authjs.session-token=a%zz%41");
        assert_eq!(
            cookie_value(&h, "authjs.session-token").as_deref(),
            Some("a%zz%41")
        );
        let h = with_cookie("authjs.session-token=a%2");
        assert_eq!(
            cookie_value(&h, "authjs.session-token").as_deref(),
            Some("a%2")
        );
        let h = with_cookie("authjs.session-token=a%41b");
        assert_eq!(
            cookie_value(&h, "authjs.session-token").as_deref(),
            Some("aAb")
        );
    }

    fn headers(h: &[Vec<u8>]) -> impl Iterator<Item = &[u8]> {
        h.iter().map(Vec::as_slice)
    }

    fn cookie_value(h: &[Vec<u8>], name: &str) -> Option<String> {
        super::cookie_value(headers(h), name)
    }

    fn find_session_token(h: &[Vec<u8>], names: &[String]) -> Option<FoundToken> {
        super::find_session_token(headers(h), None, names)
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
        let found = super::find_session_token([], Some(b"Bearer a%2Eb"), &["x"]).unwrap();
        assert_eq!(found.value, "a.b");
        assert_eq!(found.cookie_name, None);
    }

    #[test]
    fn cookie_wins_over_bearer() {
        let h = with_cookie("x=fromcookie");
        assert_eq!(
            super::find_session_token(headers(&h), Some(b"Bearer frombearer"), &["x"])
                .unwrap()
                .value,
            "fromcookie"
        );
    }

    #[test]
    fn bearer_that_is_not_visible_ascii_is_ignored() {
        assert_eq!(bearer_token(b"Bearer caf\xc3\xa9"), None);
        assert_eq!(bearer_token(b"Bearer  "), None);
        assert_eq!(bearer_token(b"bearer tok"), None);
    }

    /// Expected values computed by `@auth/core` 0.41's own `SessionStore` over its vendored
    /// cookie parser, for the same headers.
    fn reads_like_authjs(header: &str, expected: &str) {
        assert_eq!(
            cookie_value(&with_cookie(header), "authjs.session-token").as_deref(),
            Some(expected),
            "{header}"
        );
    }

    #[test]
    fn plain_cookie_beside_chunks_is_joined_in_the_order_authjs_sorts_it() {
        reads_like_authjs(
            "authjs.session-token=P; authjs.session-token.0=A; authjs.session-token.1=B",
            "PAB",
        );
        reads_like_authjs(
            "authjs.session-token.1=B; authjs.session-token=P; authjs.session-token.0=A",
            "BPA",
        );
        reads_like_authjs(
            "authjs.session-token.1=B; authjs.session-token.0=A; authjs.session-token=P",
            "ABP",
        );
    }

    #[test]
    fn first_of_duplicate_chunk_names_wins() {
        reads_like_authjs(
            "authjs.session-token.0=A; authjs.session-token.0=Z; authjs.session-token.1=B",
            "AB",
        );
    }

    #[test]
    fn quotes_around_a_value_are_kept() {
        reads_like_authjs("authjs.session-token=\"quoted\"", "\"quoted\"");
    }

    #[test]
    fn every_cookie_starting_with_the_name_counts_as_authjs_reads_it() {
        reads_like_authjs("authjs.session-tokenX=Q; authjs.session-token=P", "QP");
    }

    #[test]
    fn empty_values_do_not_count() {
        reads_like_authjs("authjs.session-token=; authjs.session-token.0=A", "A");
        assert_eq!(
            cookie_value(
                &with_cookie("authjs.session-token="),
                "authjs.session-token"
            ),
            None
        );
    }

    #[test]
    fn double_digit_chunks_sort_numerically() {
        reads_like_authjs(
            "authjs.session-token.10=K; authjs.session-token.9=J; authjs.session-token.2=C; authjs.session-token.0=A; authjs.session-token.1=B",
            "ABCJK",
        );
    }

    #[test]
    fn values_are_percent_decoded() {
        reads_like_authjs("authjs.session-token=a%2Eb", "a.b");
    }

    #[test]
    fn a_header_with_non_utf8_bytes_is_still_read() {
        let h = vec![b"pref=caf\xc3\xa9\xff; authjs.session-token=tok".to_vec()];
        assert_eq!(
            cookie_value(&h, "authjs.session-token").as_deref(),
            Some("tok")
        );
    }

    #[test]
    fn a_value_with_non_utf8_bytes_is_read_as_latin1_without_loss() {
        let h = vec![b"t=\xe9\xff".to_vec()];
        let v = cookie_value(&h, "t").unwrap();
        let back: Vec<u8> = v.chars().map(|c| c as u8).collect();
        assert_eq!(back, b"\xe9\xff");
    }

    #[test]
    fn several_cookie_headers_are_read_in_order() {
        let h = vec![
            b"a=1".to_vec(),
            b"authjs.session-token.1=B".to_vec(),
            b"authjs.session-token.0=A".to_vec(),
        ];
        assert_eq!(
            cookie_value(&h, "authjs.session-token").as_deref(),
            Some("AB")
        );
    }

    #[test]
    fn js_parse_int_reads_leading_digits_and_hex() {
        assert_eq!(parse_int("12abc"), Some(12.0));
        assert_eq!(parse_int("0x1f"), Some(31.0));
        assert_eq!(parse_int("session-token"), None);
        assert_eq!(parse_int("-3"), Some(-3.0));
    }

    #[test]
    fn no_token_means_none() {
        assert_eq!(find_session_token(&[], &["x".to_owned()]), None);
    }
}
