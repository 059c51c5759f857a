//! What the front proxy says about the original request: trusted peers (CIDRs), the original
//! URL (`X-Forwarded-Proto`/`-Host`/`-Uri` or `X-Original-URL`) and the sign-in redirect built
//! from it. Pure functions.

use actix_web::http::header::{self, HeaderMap};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use crate::core::client::{Scheme, valid_authority};
pub use crate::core::peer::{Cidr, CidrError, is_trusted};
use crate::core::peer::{forwarded_scheme, last_element};

/// Characters left as they are in a query component (RFC 3986 unreserved).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Longest original URL accepted, in bytes.
const MAX_URL: usize = 8192;

/// The scheme the front proxy says the client used (`X-Forwarded-Proto`, else the scheme of
/// `X-Original-URL`), when trusted.
pub fn forwarded_proto(headers: &HeaderMap, trusted: bool) -> Option<&'static str> {
    if !trusted {
        return None;
    }
    let proto = last_element(headers, "x-forwarded-proto").or_else(|| {
        let url = headers.get("x-original-url")?.to_str().ok()?;
        url.trim().split_once("://").map(|(scheme, _)| scheme)
    })?;
    forwarded_scheme(proto).map(Scheme::as_str)
}

/// Where the public side lives: a pinned origin (`public_url`), or the request's `Host`.
#[derive(Debug, Clone, Copy)]
pub enum PublicSide<'a> {
    /// `scheme://host[:port]` of the public site.
    Origin(&'a str),
    /// The `Host` the endpoint was asked with, and the scheme the client used.
    Host {
        /// `host[:port]`.
        host: &'a str,
        /// `http` or `https`.
        scheme: &'a str,
    },
}

impl PublicSide<'_> {
    fn url(&self) -> Option<Url> {
        let url = match self {
            PublicSide::Origin(o) => Url::parse(o).ok()?,
            PublicSide::Host { host, scheme } => {
                if host.is_empty() || host.contains(['/', '\\', '@', ' ', '?', '#']) {
                    return None;
                }
                Url::parse(&format!("{scheme}://{host}")).ok()?
            }
        };
        (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then_some(url)
    }

    /// The public origin, `scheme://host[:port]`.
    pub fn origin(&self) -> Option<String> {
        let url = self.url()?;
        Some(url.origin().ascii_serialization())
    }
}

/// The URL of the original request, as a trusted front proxy reports it: `X-Original-URL`
/// (nginx), else `X-Forwarded-Proto` + `-Host` + `-Uri` (Traefik, Caddy, Envoy).
///
/// `None` when the peer is not trusted, the headers are missing or malformed, or the URL's
/// host is not the public host: the endpoint never redirects anywhere else.
///
/// `appended`: the original path and query Envoy appended to the endpoint's path; the URL is
/// then that path on the public side.
pub fn original_url(
    headers: &HeaderMap,
    trusted: bool,
    public: PublicSide<'_>,
    appended: Option<&str>,
) -> Option<Url> {
    if !trusted {
        return None;
    }
    let raw = match (appended, headers.get("x-original-url")) {
        (Some(uri), _) => {
            if !uri.starts_with('/') || uri.starts_with("//") || uri.contains('\\') {
                return None;
            }
            format!("{}{uri}", public.origin()?)
        }
        (None, Some(v)) => v.to_str().ok()?.trim().to_owned(),
        (None, None) => {
            let proto = forwarded_proto(headers, true)?;
            let host = last_element(headers, "x-forwarded-host")?;
            let uri = headers.get("x-forwarded-uri")?.to_str().ok()?.trim();
            if !uri.starts_with('/') || uri.starts_with("//") || uri.contains('\\') {
                return None;
            }
            if host.contains(['/', '\\', '@', ' ', '?', '#']) {
                return None;
            }
            format!("{proto}://{host}{uri}")
        }
    };
    if raw.len() > MAX_URL || raw.chars().any(char::is_control) {
        return None;
    }
    let url = Url::parse(&raw).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let public = public.url()?;
    let same_host = url
        .host_str()
        .zip(public.host_str())
        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b));
    (same_host && url.port_or_known_default() == public.port_or_known_default()).then_some(url)
}

/// The public side of a request to the endpoints: `public_url` when set, else a trusted
/// front proxy's `X-Forwarded-Host` (Traefik and Envoy ask with their own address as `Host`),
/// else the request's `Host`; `scheme` is the one the client used.
pub fn public_side<'a>(
    headers: &'a HeaderMap,
    public_url: Option<&'a str>,
    trusted: bool,
    scheme: &'a str,
) -> Option<PublicSide<'a>> {
    let forwarded = trusted
        .then(|| last_element(headers, "x-forwarded-host"))
        .flatten()
        .filter(|h| valid_authority(h.as_bytes()));
    let host = forwarded.or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()));
    match (public_url, host) {
        (Some(origin), _) => Some(PublicSide::Origin(origin)),
        (None, Some(host)) => Some(PublicSide::Host { host, scheme }),
        (None, None) => None,
    }
}

/// Whether the request is a browser navigation (`Accept` lists `text/html`).
pub fn is_navigation(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
        })
}

/// `<origin><local_base_path>/signin`, with `?callbackUrl=<original URL>` when known.
pub fn signin_location(origin: &str, local_base_path: &str, callback: Option<&Url>) -> String {
    let base = local_base_path.trim_end_matches('/');
    match callback {
        Some(url) => format!(
            "{origin}{base}/signin?callbackUrl={}",
            utf8_percent_encode(url.as_str(), COMPONENT)
        ),
        None => format!("{origin}{base}/signin"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const PUBLIC: PublicSide<'static> = PublicSide::Host {
        host: "app.test",
        scheme: "http",
    };

    #[test]
    fn cidrs_match_their_range_only() {
        let lo = cidr("127.0.0.0/8");
        assert!(lo.contains("127.1.2.3".parse().unwrap()));
        assert!(!lo.contains("128.0.0.1".parse().unwrap()));
        assert!(cidr("::1/128").contains("::1".parse().unwrap()));
        assert!(!cidr("::1/128").contains("::2".parse().unwrap()));
        assert!(cidr("0.0.0.0/0").contains("8.8.8.8".parse().unwrap()));
        assert!(cidr("10.1.2.3").contains("10.1.2.3".parse().unwrap()));
        assert!(!cidr("10.1.2.3").contains("10.1.2.4".parse().unwrap()));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_ranges() {
        assert!(cidr("127.0.0.0/8").contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!cidr("::1/128").contains("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn malformed_cidrs_are_refused() {
        for s in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "host/8",
            "10.0.0.0/-1",
        ] {
            assert!(s.parse::<Cidr>().is_err(), "{s:?}");
        }
    }

    #[test]
    fn the_scheme_comes_from_x_forwarded_proto_else_x_original_url() {
        let h = headers(&[("x-original-url", "https://app.test/a")]);
        assert_eq!(forwarded_proto(&h, true), Some("https"));
        let h = headers(&[
            ("x-forwarded-proto", "http"),
            ("x-original-url", "https://app.test/a"),
        ]);
        assert_eq!(forwarded_proto(&h, true), Some("http"));
        let h = headers(&[("x-original-url", "gopher://app.test/a")]);
        assert_eq!(forwarded_proto(&h, true), None);
        assert_eq!(forwarded_proto(&HeaderMap::new(), true), None);
    }

    #[test]
    fn the_element_the_trusted_proxy_appended_counts_not_the_clients() {
        // A front proxy that appends: the client sent `http`, the proxy saw https.
        let h = headers(&[("x-forwarded-proto", "http, https")]);
        assert_eq!(forwarded_proto(&h, true), Some("https"));
        let h = headers(&[("x-forwarded-proto", "https, http")]);
        assert_eq!(forwarded_proto(&h, true), Some("http"));
        let mut h = headers(&[("x-forwarded-proto", "https")]);
        h.append(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("http"),
        );
        assert_eq!(forwarded_proto(&h, true), Some("http"));
        let h = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.test, app.test"),
            ("x-forwarded-uri", "/a"),
        ]);
        let public = PublicSide::Host {
            host: "app.test",
            scheme: "https",
        };
        assert_eq!(
            original_url(&h, true, public, None).map(|u| u.to_string()),
            Some("https://app.test/a".to_owned())
        );
    }

    #[test]
    fn unknown_peer_is_never_trusted() {
        assert!(!is_trusted(&[cidr("0.0.0.0/0")], None));
        assert!(is_trusted(
            &[cidr("0.0.0.0/0")],
            Some("1.2.3.4".parse().unwrap())
        ));
    }

    #[test]
    fn forwarded_headers_give_the_original_url() {
        let h = headers(&[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.test"),
            ("x-forwarded-uri", "/dash?a=1&b=%2F"),
        ]);
        let url = original_url(&h, true, PUBLIC, None).unwrap();
        assert_eq!(url.as_str(), "http://app.test/dash?a=1&b=%2F");
    }

    #[test]
    fn x_original_url_is_read_first() {
        let h = headers(&[
            ("x-original-url", "http://app.test/from-nginx"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.test"),
            ("x-forwarded-uri", "/from-forwarded"),
        ]);
        assert_eq!(
            original_url(&h, true, PUBLIC, None).unwrap().path(),
            "/from-nginx"
        );
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-original-url", "http://app.test/x")]);
        assert_eq!(original_url(&h, false, PUBLIC, None), None);
        assert_eq!(
            forwarded_proto(&headers(&[("x-forwarded-proto", "https")]), false),
            None
        );
    }

    #[test]
    fn a_foreign_host_is_never_an_original_url() {
        for h in [
            headers(&[("x-original-url", "http://evil.test/x")]),
            headers(&[("x-original-url", "http://app.test.evil.test/x")]),
            headers(&[("x-original-url", "http://app.test@evil.test/x")]),
            headers(&[("x-original-url", "http://app.test:8080/x")]),
            headers(&[("x-original-url", "javascript:alert(1)")]),
            headers(&[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "evil.test"),
                ("x-forwarded-uri", "/x"),
            ]),
            headers(&[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "app.test"),
                ("x-forwarded-uri", "//evil.test/x"),
            ]),
            headers(&[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "app.test"),
                ("x-forwarded-uri", "@evil.test/x"),
            ]),
            headers(&[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "evil.test/x?"),
                ("x-forwarded-uri", "/x"),
            ]),
        ] {
            assert_eq!(original_url(&h, true, PUBLIC, None), None, "{h:?}");
        }
    }

    #[test]
    fn a_pinned_public_origin_decides_the_host() {
        let h = headers(&[("x-original-url", "https://app.example.com/a")]);
        let pinned = PublicSide::Origin("https://app.example.com");
        assert!(original_url(&h, true, pinned, None).is_some());
        let other = PublicSide::Origin("https://other.example.com");
        assert_eq!(original_url(&h, true, other, None), None);
    }

    #[test]
    fn host_comparison_ignores_case_and_default_ports() {
        let h = headers(&[("x-original-url", "http://APP.test:80/a")]);
        assert!(original_url(&h, true, PUBLIC, None).is_some());
    }

    #[test]
    fn navigation_means_accept_lists_text_html() {
        assert!(is_navigation(&headers(&[(
            "accept",
            "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
        )])));
        assert!(!is_navigation(&headers(&[("accept", "application/json")])));
        assert!(!is_navigation(&headers(&[("accept", "*/*")])));
        assert!(!is_navigation(&HeaderMap::new()));
    }

    #[test]
    fn signin_location_carries_the_encoded_original_url() {
        let url = Url::parse("http://app.test/dash?a=1&b=2").unwrap();
        assert_eq!(
            signin_location("http://app.test", "/api/auth", Some(&url)),
            "http://app.test/api/auth/signin?callbackUrl=http%3A%2F%2Fapp.test%2Fdash%3Fa%3D1%26b%3D2"
        );
        assert_eq!(
            signin_location("http://app.test", "/api/auth", None),
            "http://app.test/api/auth/signin"
        );
    }
}
