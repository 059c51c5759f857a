//! `Location` rewriting (nginx `proxy_redirect default`) and the upstream's answer headers as
//! the client gets them.

use actix_web::http::header::{self, HeaderMap, HeaderValue};

use crate::hygiene::retain_end_to_end;
use crate::proxy::routes::classify;
use crate::runtime::Snapshot;

/// Moves a path under `target_base_path` to the same place under `local_base_path`.
fn rebase_path(cfg: &Snapshot, path_and_rest: &str) -> Option<String> {
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
    if !route_path.is_empty() && classify(route_path).is_err() {
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
pub fn rewrite_location(cfg: &Snapshot, location: &str, public: Option<&str>) -> Option<String> {
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
    cfg: &Snapshot,
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
