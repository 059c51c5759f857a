//! The client side of a request: how it reached this listener ([`Scheme`]), the peer, and the
//! authority it addressed ([`ClientSide`]), settled once per request.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap, HeaderValue};

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

/// How requests reach the handlers of a listener built by [`crate::listener`]: read by
/// [`listener_scheme`] (actix-web's `AppConfig::secure` is only set by `HttpServer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerScheme(pub Scheme);

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
/// ([`ListenerScheme`]); in an embedding app, actix-web's
/// `HttpServer` does (`bind_rustls_*` marks its connections secure).
pub fn listener_scheme(req: &HttpRequest) -> Scheme {
    match req.app_data::<ListenerScheme>() {
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
