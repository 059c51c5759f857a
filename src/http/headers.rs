//! Header hygiene for a reverse proxy (RFC 9110 §7.6.1) and `Location` rewriting.

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::RuntimeConfig;

/// Headers that describe one connection, never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` is a hop-by-hop header (including any `Proxy-*`).
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n) || n.starts_with("proxy-")
}

/// Names listed in `Connection` headers (they are hop-by-hop for this message).
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect()
}

/// Copies `src` without hop-by-hop headers, the names `Connection` lists, and `skip`.
pub fn copy_end_to_end(src: &HeaderMap, skip: &[HeaderName]) -> HeaderMap {
    let listed = connection_listed(src);
    let mut out = HeaderMap::with_capacity(src.len());
    for (name, value) in src.iter() {
        if is_hop_by_hop(name) || listed.contains(name) || skip.contains(name) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// What the proxy knows about the client side of a request.
#[derive(Debug, Clone)]
pub struct ClientSide<'a> {
    /// Peer IP address, if known.
    pub peer_ip: Option<String>,
    /// `http` or `https` as seen by this listener.
    pub scheme: &'a str,
}

/// Builds the upstream request headers from the client's.
pub fn upstream_request_headers(
    cfg: &RuntimeConfig,
    client: &HeaderMap,
    side: &ClientSide<'_>,
) -> HeaderMap {
    let xff = HeaderName::from_static("x-forwarded-for");
    let xfp = HeaderName::from_static("x-forwarded-proto");
    let xfh = HeaderName::from_static("x-forwarded-host");
    let mut out = copy_end_to_end(
        client,
        &[
            header::CONTENT_LENGTH,
            header::ACCEPT_ENCODING,
            // The proxy reads the whole body before forwarding; the expectation was met here.
            header::EXPECT,
            header::HOST,
            xff.clone(),
            xfp.clone(),
            xfh.clone(),
        ],
    );
    let client_host = client.get(header::HOST).cloned();
    // X-Forwarded-For: append the peer to what earlier proxies wrote.
    let prior: Vec<&str> = client
        .get_all(&xff)
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut chain = prior.join(", ");
    if let Some(ip) = &side.peer_ip {
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(ip);
    }
    if let Ok(v) = HeaderValue::from_str(&chain)
        && !chain.is_empty()
    {
        out.insert(xff, v);
    }
    let proto = public_proto(cfg, client, side);
    out.insert(
        xfp,
        HeaderValue::from_str(&proto).unwrap_or(HeaderValue::from_static("http")),
    );
    let fwd_host = cfg
        .trust_forwarded
        .then(|| client.get(&xfh).cloned())
        .flatten()
        .or(client_host.clone());
    if let Some(h) = fwd_host {
        out.insert(xfh, h);
    }
    if cfg.preserve_host
        && let Some(h) = client_host
    {
        out.insert(header::HOST, h);
    }
    for (name, value) in &cfg.headers {
        out.insert(name.clone(), value.clone());
    }
    out
}

/// The protocol the client used, as the public side sees it.
pub fn public_proto(cfg: &RuntimeConfig, client: &HeaderMap, side: &ClientSide<'_>) -> String {
    if cfg.trust_forwarded
        && let Some(p) = client
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|p| *p == "http" || *p == "https")
    {
        return p.to_owned();
    }
    side.scheme.to_owned()
}

/// The public origin (`proto://host`) the client addressed, when it sent a usable `Host`.
pub fn public_origin(
    cfg: &RuntimeConfig,
    client: &HeaderMap,
    side: &ClientSide<'_>,
) -> Option<String> {
    let host_header = if cfg.trust_forwarded {
        client.get("x-forwarded-host").or(client.get(header::HOST))
    } else {
        client.get(header::HOST)
    };
    let host = host_header?.to_str().ok()?.split(',').next()?.trim();
    if host.is_empty() || host.contains(['/', '\\', '@', ' ']) {
        return None;
    }
    Some(format!("{}://{host}", public_proto(cfg, client, side)))
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

/// Copies upstream response headers for the client: hop-by-hop and `Content-Length` dropped,
/// every `Set-Cookie` kept separately and in order, `Location` rewritten.
pub fn client_response_headers(
    cfg: &RuntimeConfig,
    upstream: &HeaderMap,
    public: Option<&str>,
) -> HeaderMap {
    let mut out = copy_end_to_end(upstream, &[header::CONTENT_LENGTH]);
    if let Some(loc) = upstream.get(header::LOCATION).and_then(|v| v.to_str().ok())
        && let Some(new) = rewrite_location(cfg, loc, public)
        && let Ok(v) = HeaderValue::from_str(&new)
    {
        out.insert(header::LOCATION, v);
    }
    out
}
