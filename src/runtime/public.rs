//! The public side of a request as this snapshot sees it (`public_url`, trusted forwarding
//! headers, else the request itself), and the headers a request is sent upstream with.

use std::net::IpAddr;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::core::client::{ClientSide, valid_authority};
use crate::core::obs::trace::{self, is_trace_header};
use crate::core::peer::{forwarded_scheme, last_element};
use crate::hygiene::{TRUSTED_PASSTHROUGH, connection_listed, is_forwarding, is_hop_by_hop};
use crate::runtime::Snapshot;

/// Builds the upstream request headers from the client's.
///
/// Hop-by-hop headers, `Content-Length`, `Accept-Encoding`, `Expect`, `Host` and names with
/// underscores are dropped, and so are method and URL overrides, from anyone. From a peer not in
/// the trust list every forwarding header the client sent is dropped and `X-Forwarded-For` is
/// the peer alone; from a trusted peer, the peer is appended and the last
/// `X-Forwarded-Proto`/`-Host` element counts. `public_url` pins proto and host. With tracing
/// on, the client's `traceparent`/`tracestate` are dropped: each attempt sends its own.
pub fn upstream_request_headers(
    cfg: &Snapshot,
    client: &HeaderMap,
    side: &ClientSide,
) -> HeaderMap {
    let trusted = cfg.trusts(side.peer_ip);
    // Each upstream attempt carries its own trace headers; the client's never go as they came
    // (a trusted caller's trace is continued through the request's span).
    let tracing = trace::enabled();
    let mut out = HeaderMap::with_capacity(client.len() + 4);
    let listed = connection_listed(client);
    for (name, value) in client.iter() {
        let n = name.as_str();
        if is_hop_by_hop(name)
            || listed.contains(name)
            || matches!(n, "content-length" | "accept-encoding" | "expect" | "host")
            || n.contains('_')
            || is_forwarding(n)
            || (tracing && is_trace_header(name))
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if trusted {
        for name in &TRUSTED_PASSTHROUGH {
            for v in client.get_all(*name) {
                out.append(HeaderName::from_static(name), v.clone());
            }
        }
    }
    let mut chain = String::new();
    if trusted {
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
        // With tracing on, each attempt writes its own trace headers, and nothing else may.
        if tracing && is_trace_header(name) {
            continue;
        }
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
pub fn public_proto(cfg: &Snapshot, client: &HeaderMap, side: &ClientSide) -> &'static str {
    if let Some(public) = &cfg.public {
        return public.scheme.as_str();
    }
    if cfg.trusts(side.peer_ip)
        && let Some(scheme) = last_element(client, "x-forwarded-proto").and_then(forwarded_scheme)
    {
        return scheme.as_str();
    }
    side.scheme.as_str()
}

/// The host the client addressed, as the public side sees it: `public_url`'s, else a trusted
/// proxy's `X-Forwarded-Host` (last element, when valid), else the request's own.
pub fn forwarded_host(
    cfg: &Snapshot,
    client: &HeaderMap,
    side: &ClientSide,
) -> Option<HeaderValue> {
    if let Some(public) = &cfg.public {
        return HeaderValue::from_str(&public.authority).ok();
    }
    if cfg.trusts(side.peer_ip)
        && let Some(h) = last_element(client, "x-forwarded-host")
        && valid_authority(h.as_bytes())
        && let Ok(v) = HeaderValue::from_str(h)
    {
        return Some(v);
    }
    side.host.clone()
}

/// The public origin (`proto://host`) the client addressed, when known.
pub fn public_origin(cfg: &Snapshot, client: &HeaderMap, side: &ClientSide) -> Option<String> {
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

/// The client's address: from a trusted peer, the last `X-Forwarded-For` address that is not
/// itself a trusted proxy (the one the nearest trusted proxy saw; addresses a client wrote
/// before it do not count), else the peer's own.
pub fn client_ip(cfg: &Snapshot, client: &HeaderMap, side: &ClientSide) -> Option<IpAddr> {
    let peer = side.peer_ip;
    if !cfg.trusts(peer) {
        return peer;
    }
    let chain: Vec<&str> = client
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut found = peer;
    for item in chain.iter().rev() {
        let Some(ip) = forwarded_ip(item) else {
            // A malformed element: the chain can not be read past it.
            break;
        };
        found = Some(ip);
        if !cfg.trusts(Some(ip)) || cfg.trust_any_peer {
            break;
        }
    }
    found
}

/// An `X-Forwarded-For` element: an address, with a port (`192.0.2.1:443`, `[2001:db8::1]:443`)
/// or brackets as some load balancers write it.
fn forwarded_ip(item: &str) -> Option<IpAddr> {
    item.parse::<IpAddr>()
        .ok()
        .or_else(|| item.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            item.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })
}

#[cfg(test)]
mod forwarded_ip_tests {
    use super::forwarded_ip;

    #[test]
    fn forwarded_addresses_are_read_with_or_without_a_port() {
        for (item, want) in [
            ("192.0.2.1", Some("192.0.2.1")),
            ("192.0.2.1:5678", Some("192.0.2.1")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("unknown", None),
            ("", None),
        ] {
            let got = forwarded_ip(item).map(|ip| ip.to_string());
            assert_eq!(got.as_deref(), want, "{item:?}");
        }
    }
}
