//! Header hygiene for a reverse proxy (RFC 9110 §7.6.1) and `Location` rewriting.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::RuntimeConfig;

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
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
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

/// `http` or `https`: how a request reached this listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The request's authority is not a valid `host[:port]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid Host header")]
pub struct BadHost;

/// What the proxy knows about the client side of a request, settled once per request.
#[derive(Debug, Clone)]
pub struct ClientSide {
    /// Peer IP address, if known.
    pub peer_ip: Option<IpAddr>,
    /// How the request reached this listener.
    pub scheme: Scheme,
    /// The authority the client addressed: the request target's for an absolute-form target
    /// (RFC 9112 §3.2.2), else `Host`. Validated.
    pub host: Option<HeaderValue>,
}

/// How `req` reached this service: the service's own listener says so in the app data
/// ([`ListenerScheme`](crate::listener::ListenerScheme)); in an embedding app, actix-web's
/// `HttpServer` does (`bind_rustls_*` marks its connections secure).
pub fn listener_scheme(req: &HttpRequest) -> Scheme {
    match req.app_data::<crate::listener::ListenerScheme>() {
        Some(marked) => marked.0,
        None if req.app_config().secure() => Scheme::Https,
        None => Scheme::Http,
    }
}

impl ClientSide {
    /// The client side of an actix request.
    pub fn of(req: &HttpRequest) -> Result<Self, BadHost> {
        let host = match req.uri().authority() {
            Some(a) => Some(HeaderValue::from_str(a.as_str()).map_err(|_| BadHost)?),
            None => req.headers().get(header::HOST).cloned(),
        };
        Self::checked(req.peer_addr().map(|a| a.ip()), listener_scheme(req), host)
    }

    /// The client side of a bare header map (outside a request handler).
    pub fn from_headers(headers: &HeaderMap, scheme: Scheme) -> Result<Self, BadHost> {
        Self::checked(None, scheme, headers.get(header::HOST).cloned())
    }

    fn checked(
        peer_ip: Option<IpAddr>,
        scheme: Scheme,
        host: Option<HeaderValue>,
    ) -> Result<Self, BadHost> {
        if host
            .as_ref()
            .is_some_and(|h| !valid_authority(h.as_bytes()))
        {
            return Err(BadHost);
        }
        Ok(ClientSide {
            peer_ip,
            scheme,
            host,
        })
    }
}

/// Whether `v` is `host[:port]` (RFC 3986 reg-name, IPv4, or bracketed IPv6; no userinfo).
pub fn valid_authority(v: &[u8]) -> bool {
    let (host, port) = if v.first() == Some(&b'[') {
        let Some(end) = v.iter().position(|b| *b == b']') else {
            return false;
        };
        let inner = &v[1..end];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|b| b.is_ascii_hexdigit() || b":.".contains(b))
        {
            return false;
        }
        (&v[..=end], &v[end + 1..])
    } else {
        match v.iter().position(|b| *b == b':') {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, &v[v.len()..]),
        }
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    let host_ok = !host.is_empty()
        && (host[0] == b'['
            || host
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(b)));
    port_ok && host_ok
}

/// Request headers a client may only set through a trusted proxy (`trust_forwarded`).
const FORWARDING: [&str; 10] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "x-real-ip",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
];

/// The last element of a comma-separated header: what the nearest (trusted) proxy appended.
fn last_element(client: &HeaderMap, name: &str) -> Option<String> {
    let last = client.get_all(name).last()?.to_str().ok()?;
    let v = last.rsplit(',').next()?.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// Builds the upstream request headers from the client's.
///
/// Hop-by-hop headers, `Content-Length`, `Accept-Encoding`, `Expect`, `Host` and names with
/// underscores are dropped. Without `trust_forwarded`, every forwarding header the client sent
/// is dropped and `X-Forwarded-For` is the peer alone; with it, the peer is appended and the
/// last `X-Forwarded-Proto`/`-Host` element counts. `public_url` pins proto and host.
pub fn upstream_request_headers(
    cfg: &RuntimeConfig,
    client: &HeaderMap,
    side: &ClientSide,
) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len() + 4);
    let listed = connection_listed(client);
    for (name, value) in client.iter() {
        let n = name.as_str();
        if is_hop_by_hop(name)
            || listed.contains(name)
            || matches!(n, "content-length" | "accept-encoding" | "expect" | "host")
            || n.contains('_')
            || FORWARDING.contains(&n)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if cfg.trust_forwarded {
        for name in &FORWARDING[3..] {
            for v in client.get_all(*name) {
                out.append(HeaderName::from_static(name), v.clone());
            }
        }
    }
    let mut chain = String::new();
    if cfg.trust_forwarded {
        let prior: Vec<&str> = client
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        chain = prior.join(", ");
    }
    let xff = HeaderName::from_static("x-forwarded-for");
    match (&side.peer_ip, chain.is_empty()) {
        (Some(ip), true) => {
            out.insert(xff, peer_header(*ip));
        }
        (peer, _) => {
            if let Some(ip) = peer {
                if !chain.is_empty() {
                    chain.push_str(", ");
                }
                chain.push_str(&ip.to_string());
            }
            if !chain.is_empty()
                && let Ok(v) = HeaderValue::from_str(&chain)
            {
                out.insert(xff, v);
            }
        }
    }
    out.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(public_proto(cfg, client, side)),
    );
    if let Some(h) = forwarded_host(cfg, client, side) {
        out.insert(HeaderName::from_static("x-forwarded-host"), h.clone());
        if cfg.preserve_host {
            out.insert(header::HOST, h);
        }
    }
    if !out.contains_key(header::HOST) {
        // Made once per configuration; awc would otherwise format it for every request.
        out.insert(header::HOST, cfg.upstream.host_header.clone());
    }
    for (name, value) in &cfg.headers {
        out.insert(name.clone(), value.clone());
    }
    out
}

thread_local! {
    /// The last peer address written as a header value on this thread: a kept-alive client
    /// sends many requests, and formatting its address each time shows in profiles.
    static LAST_PEER: std::cell::RefCell<Option<(IpAddr, HeaderValue)>> =
        const { std::cell::RefCell::new(None) };
}

/// `ip` as a header value.
fn peer_header(ip: IpAddr) -> HeaderValue {
    LAST_PEER.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((seen, value)) = &*last
            && *seen == ip
        {
            return value.clone();
        }
        match HeaderValue::from_str(&ip.to_string()) {
            Ok(value) => {
                *last = Some((ip, value.clone()));
                value
            }
            Err(_) => HeaderValue::from_static("unknown"),
        }
    })
}

/// The protocol the client used, as the public side sees it: `public_url`'s, else a trusted
/// proxy's `X-Forwarded-Proto` (last element), else this listener's.
pub fn public_proto(cfg: &RuntimeConfig, client: &HeaderMap, side: &ClientSide) -> &'static str {
    if let Some(public) = &cfg.public {
        return public.scheme.as_str();
    }
    if cfg.trust_forwarded {
        match last_element(client, "x-forwarded-proto").as_deref() {
            Some("https") => return "https",
            Some("http") => return "http",
            _ => {}
        }
    }
    side.scheme.as_str()
}

/// The host the client addressed, as the public side sees it: `public_url`'s, else a trusted
/// proxy's `X-Forwarded-Host` (last element, when valid), else the request's own.
pub fn forwarded_host(
    cfg: &RuntimeConfig,
    client: &HeaderMap,
    side: &ClientSide,
) -> Option<HeaderValue> {
    if let Some(public) = &cfg.public {
        return HeaderValue::from_str(&public.authority).ok();
    }
    if cfg.trust_forwarded
        && let Some(h) = last_element(client, "x-forwarded-host")
        && valid_authority(h.as_bytes())
        && let Ok(v) = HeaderValue::from_str(&h)
    {
        return Some(v);
    }
    side.host.clone()
}

/// The public origin (`proto://host`) the client addressed, when known.
pub fn public_origin(cfg: &RuntimeConfig, client: &HeaderMap, side: &ClientSide) -> Option<String> {
    if let Some(public) = &cfg.public {
        return Some(public.origin.clone());
    }
    let host = forwarded_host(cfg, client, side)?;
    Some(format!(
        "{}://{}",
        public_proto(cfg, client, side),
        host.to_str().ok()?
    ))
}

/// Moves a path under `target_base_path` to the same place under `local_base_path`.
fn rebase_path(cfg: &RuntimeConfig, path_and_rest: &str) -> Option<String> {
    if cfg.local_base_path == cfg.target_base_path {
        return None;
    }
    let target = &cfg.target_base_path;
    let rest = if target == "/" {
        path_and_rest.strip_prefix('/')?
    } else {
        let r = path_and_rest.strip_prefix(target.as_str())?;
        if r.is_empty() || r.starts_with(['?', '#']) {
            r
        } else {
            r.strip_prefix('/')?
        }
    };
    let route_path = rest.split(['?', '#']).next().unwrap_or_default();
    if !route_path.is_empty() && crate::http::routes::classify(route_path).is_err() {
        // An app page (`/dashboard`), not an Auth.js route: it stays where it is.
        return None;
    }
    let local = &cfg.local_base_path;
    Some(if rest.is_empty() || rest.starts_with(['?', '#']) {
        format!("{local}{rest}")
    } else if local == "/" {
        format!("/{rest}")
    } else {
        format!("{local}/{rest}")
    })
}

/// Rewrites an upstream `Location` the way a reverse proxy does (nginx `proxy_redirect default`):
/// the upstream origin becomes the public origin; paths under `target_base_path` move under
/// `local_base_path`. Returns `None` when the location stays as it is.
pub fn rewrite_location(
    cfg: &RuntimeConfig,
    location: &str,
    public: Option<&str>,
) -> Option<String> {
    let upstream = &cfg.upstream.origin;
    let (origin, path) = if let Some(rest) = strip_origin(location, upstream) {
        (public.unwrap_or(upstream.as_str()), rest)
    } else if let Some(rest) = public.and_then(|p| strip_origin(location, p)) {
        (public.unwrap_or_default(), rest)
    } else if location.starts_with('/') && !location.starts_with("//") {
        ("", location)
    } else {
        return None;
    };
    let path = rebase_path(cfg, path).unwrap_or_else(|| path.to_owned());
    let rewritten = format!("{origin}{path}");
    (rewritten != location).then_some(rewritten)
}

/// `Some(rest)` when `url` is on `origin` (case-insensitive scheme/host), with `rest` its
/// path, query and fragment (`/` when empty).
fn strip_origin<'a>(url: &'a str, origin: &str) -> Option<&'a str> {
    let head = url.get(..origin.len())?;
    if !head.eq_ignore_ascii_case(origin) {
        return None;
    }
    let rest = &url[origin.len()..];
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with(['/', '?', '#']) {
        Some(rest)
    } else {
        None
    }
}

/// The upstream response headers as the client gets them: hop-by-hop and `Content-Length`
/// dropped, every `Set-Cookie` kept separately and in order, `Location` rewritten.
pub fn client_response_headers(
    cfg: &RuntimeConfig,
    mut headers: HeaderMap,
    public: Option<&str>,
) -> HeaderMap {
    retain_end_to_end(&mut headers, &[header::CONTENT_LENGTH]);
    if let Some(loc) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
        && let Some(new) = rewrite_location(cfg, loc, public)
        && let Ok(v) = HeaderValue::from_str(&new)
    {
        headers.insert(header::LOCATION, v);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

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
