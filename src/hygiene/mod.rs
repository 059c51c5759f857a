//! Header hygiene for a reverse proxy (RFC 9110 §7.6.1): hop-by-hop headers, the names
//! `Connection` lists, the forwarding headers only a trusted peer may set, and `Cache-Control`
//! on answers that carry a session ([`cache_control`]).

pub mod cache_control;

use actix_web::http::header::{self, HeaderMap, HeaderName};

/// Headers that describe one connection, never forwarded.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `name` is a hop-by-hop header (including any `Proxy-*`).
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    // The same names as `HOP_BY_HOP`, as a match (a test keeps the two in step).
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    ) || name.as_str().starts_with("proxy-")
}

/// Names listed in `Connection` headers: they are hop-by-hop for this message. Tokens that
/// name a header dropped anyway (`keep-alive`, `upgrade`, ...) are left out, so the usual
/// `Connection: keep-alive` costs no allocation.
pub fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && !HOP_BY_HOP
                    .iter()
                    .any(|h| t.eq_ignore_ascii_case(h.as_str()))
        })
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect()
}

/// Removes from `headers` the hop-by-hop headers, the names `Connection` lists, and `skip`,
/// in place: every other header stays as it was, repeated ones in their order.
pub fn retain_end_to_end(headers: &mut HeaderMap, skip: &[HeaderName]) {
    let listed = connection_listed(headers);
    // One pass finds the names to remove (a few at most: `Connection`, `Content-Length`),
    // without allocating; a message with more is swept again.
    loop {
        let mut found: [Option<HeaderName>; 8] = Default::default();
        let mut n = 0;
        for name in headers.keys() {
            if is_hop_by_hop(name) || skip.contains(name) || listed.contains(name) {
                found[n] = Some(name.clone());
                n += 1;
                if n == found.len() {
                    break;
                }
            }
        }
        for name in found.into_iter().flatten() {
            headers.remove(name);
        }
        if n < 8 {
            return;
        }
    }
}

/// The forwarding headers the proxy writes itself for every request sent upstream.
pub const PROXY_WRITTEN: [&str; 3] = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];

/// The forwarding headers a trusted peer's request passes on as they came.
pub const TRUSTED_PASSTHROUGH: [&str; 7] = [
    "forwarded",
    "x-real-ip",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-original-url",
];

/// Method and URL overrides: never forwarded, from anyone.
pub const NEVER_FORWARDED: [&str; 5] = [
    "x-rewrite-url",
    "x-original-method",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Whether `name` is a header about the original request that a client never sets for
/// itself: [`PROXY_WRITTEN`], [`TRUSTED_PASSTHROUGH`] (passed on only from a trusted peer) or
/// [`NEVER_FORWARDED`]. The client's copy is dropped.
pub fn is_forwarding(name: &str) -> bool {
    PROXY_WRITTEN.contains(&name)
        || TRUSTED_PASSTHROUGH.contains(&name)
        || NEVER_FORWARDED.contains(&name)
}

/// Node's default limit on a request's header section (`--max-http-header-size`, 16 KiB):
/// what Auth.js on Node answers `431` to. The proxy refuses the same requests itself, so it
/// never admits one that Auth.js would refuse (and a database-session lookup never turns it
/// into an identity failure).
pub const MAX_HEADER_SECTION: usize = 16 * 1024;

/// The size of a header section as it travels: `name: value\r\n` per field.
pub fn header_section_len(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// Whether a request's header section is over [`MAX_HEADER_SECTION`].
pub fn header_section_too_large(headers: &HeaderMap) -> bool {
    header_section_len(headers) > MAX_HEADER_SECTION
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn every_hop_by_hop_name_is_recognised() {
        for name in &HOP_BY_HOP {
            assert!(is_hop_by_hop(name), "{name}");
        }
        assert!(is_hop_by_hop(&HeaderName::from_static("proxy-anything")));
        assert!(!is_hop_by_hop(&header::SET_COOKIE));
        assert!(!is_hop_by_hop(&header::CONTENT_TYPE));
    }

    #[test]
    fn retain_end_to_end_drops_connection_headers_and_keeps_the_rest_in_order() {
        let mut h = map(&[
            ("connection", "keep-alive, x-listed"),
            ("keep-alive", "timeout=5"),
            ("x-listed", "1"),
            ("proxy-other", "1"),
            ("transfer-encoding", "chunked"),
            ("content-length", "2"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("content-type", "application/json"),
        ]);
        retain_end_to_end(&mut h, &[header::CONTENT_LENGTH]);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "set-cookie"]);
        let cookies: Vec<&[u8]> = h
            .get_all(header::SET_COOKIE)
            .map(HeaderValue::as_bytes)
            .collect();
        assert_eq!(cookies, [b"a=1".as_slice(), b"b=2".as_slice()]);
    }

    #[test]
    fn retain_end_to_end_removes_more_than_one_sweep_holds() {
        let mut h = map(&[
            ("connection", "x-a, x-b, x-c, x-d"),
            ("x-a", "1"),
            ("x-b", "1"),
            ("x-c", "1"),
            ("x-d", "1"),
            ("keep-alive", "1"),
            ("te", "trailers"),
            ("trailer", "x"),
            ("upgrade", "h2c"),
            ("proxy-one", "1"),
            ("proxy-two", "1"),
            ("content-type", "text/plain"),
        ]);
        retain_end_to_end(&mut h, &[]);
        assert_eq!(
            h.keys().map(HeaderName::as_str).collect::<Vec<_>>(),
            ["content-type"]
        );
    }

    #[test]
    fn the_usual_connection_header_lists_nothing_to_remove() {
        let h = map(&[("connection", "keep-alive, Upgrade")]);
        assert!(connection_listed(&h).is_empty());
    }

    #[test]
    fn a_header_named_by_connection_close_is_removed() {
        // RFC 9110 §7.6.1: every field a `Connection` option names goes, `close` too.
        let mut h = map(&[("connection", "close"), ("close", "1"), ("a", "b")]);
        retain_end_to_end(&mut h, &[]);
        assert_eq!(h.keys().map(HeaderName::as_str).collect::<Vec<_>>(), ["a"]);
    }
}
