//! The original request a decision is about: its method and path, as the front proxy reports
//! them.
//!
//! * Envoy `ext_authz` (HTTP service) asks with the original method, at `path_prefix` + the
//!   original path: below the endpoint's path, the rest of the path is the original one.
//! * Traefik and Caddy ask with `GET` and say `X-Forwarded-Method` and `X-Forwarded-Uri`;
//!   nginx says what its configuration sets (`X-Original-Method`, `X-Original-URI`, or
//!   `X-Original-URL`). These headers count only from a trusted peer.
//!
//! The path rules are matched against is normalised the way the app behind will read it:
//! percent-escapes decoded, dot segments resolved, repeated slashes merged. A path whose
//! meaning depends on who reads it — an escaped `/`, `\`, `.` or NUL, a backslash, a control
//! character — or a header given twice is refused ([`Ambiguous`]): a rule must never match a
//! path the app reads otherwise.

use actix_web::HttpRequest;
use actix_web::http::Method;
use actix_web::http::header::HeaderMap;
use percent_encoding::percent_decode_str;

/// Longest original path followed, in bytes.
const MAX_PATH: usize = 8192;

/// The original request's method and normalised path (`None`: nobody said).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// The method the client used; `None` when the front proxy did not say (nginx asks with
    /// `GET` whatever the client used): then no method-scoped rule matches.
    pub method: Option<Method>,
    /// The path the client asked for, normalised; `None` when the front proxy did not say.
    pub path: Option<String>,
}

/// The original path or method can be read more than one way: refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ambiguous;

impl Original {
    /// The original request of the decision request `req` to the endpoint at `gate_path`;
    /// `trusted`: `req` comes from a trusted peer.
    pub fn of(req: &HttpRequest, gate_path: &str, trusted: bool) -> Result<Original, Ambiguous> {
        let headers = req.headers();
        let said = |names: &[&str]| names.iter().filter(|n| headers.contains_key(**n)).count();
        let (path_headers, method_headers) = if trusted {
            (
                said(&["x-forwarded-uri", "x-original-uri", "x-original-url"]),
                said(&["x-forwarded-method", "x-original-method"]),
            )
        } else {
            (0, 0)
        };
        // Two sources that could disagree: a client may have written one of them, and the
        // front proxy passed it on (nginx passes the client's headers to its sub-request).
        if path_headers > 1 || method_headers > 1 {
            return Err(Ambiguous);
        }
        // Envoy: the original path appended to the endpoint's, the original method as is.
        if let Some(tail) = req.path().strip_prefix(gate_path)
            && tail.starts_with('/')
        {
            // A front proxy that also says the original request in headers is not Envoy: an
            // address ending in `/` would otherwise judge every request as `/`.
            if path_headers > 0 || method_headers > 0 {
                return Err(Ambiguous);
            }
            return Ok(Original {
                method: Some(req.method().clone()),
                path: Some(normalize(tail)?),
            });
        }
        let method = match trusted
            .then(|| one_of(headers, &["x-forwarded-method", "x-original-method"]))
        {
            Some(Some(m)) => Some(Method::from_bytes(m?.trim().as_bytes()).map_err(|_| Ambiguous)?),
            _ => None,
        };
        let path = match trusted.then(|| one_of(headers, &["x-forwarded-uri", "x-original-uri"])) {
            Some(Some(uri)) => Some(normalize(uri?)?),
            _ => match trusted.then(|| one_of(headers, &["x-original-url"])) {
                Some(Some(url)) => Some(normalize(path_of_url(url?)?)?),
                _ => None,
            },
        };
        Ok(Original { method, path })
    }
}

/// The value of the first of `names` present: `Some(Err)` when given twice or not text.
fn one_of<'h>(headers: &'h HeaderMap, names: &[&str]) -> Option<Result<&'h str, Ambiguous>> {
    names.iter().find_map(|name| {
        let mut values = headers.get_all(*name);
        let first = values.next()?;
        if values.next().is_some() {
            return Some(Err(Ambiguous));
        }
        Some(first.to_str().map_err(|_| Ambiguous))
    })
}

/// The path of an absolute URL (`https://host/path?q`).
fn path_of_url(url: &str) -> Result<&str, Ambiguous> {
    let rest = url
        .trim()
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or(Ambiguous)?;
    Ok(rest.find('/').map_or("/", |i| &rest[i..]))
}

/// `raw` (a path, maybe with a query) normalised, or [`Ambiguous`].
pub fn normalize(raw: &str) -> Result<String, Ambiguous> {
    let raw = raw.trim();
    let path = raw.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') || path.len() > MAX_PATH || path.contains('\\') {
        return Err(Ambiguous);
    }
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00", "%25", "%3b"]
        .iter()
        .any(|escape| lower.contains(escape))
    {
        return Err(Ambiguous);
    }
    // A `%` that is not an escape (IIS reads `%u0061`): read differently by different servers.
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
        if !hex(i + 1) || !hex(i + 2) {
            return Err(Ambiguous);
        }
    }
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| Ambiguous)?;
    if decoded.chars().any(char::is_control) {
        return Err(Ambiguous);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        // Path parameters (`/admin;x`, `/..;/`): Java servers drop them before routing, so
        // rules match without them; one that hides a dot segment is read two ways.
        let segment = match segment.split_once(';') {
            Some((name, _)) if name == "." || name == ".." => return Err(Ambiguous),
            Some((name, _)) => name,
            None => segment,
        };
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || decoded.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_the_way_the_app_reads_them() {
        for (raw, want) in [
            ("/", "/"),
            ("/public/a.css?x=1", "/public/a.css"),
            ("/p%75blic/x", "/public/x"),
            ("/admin/../public/x", "/public/x"),
            ("//public///x", "/public/x"),
            ("/public/./x/", "/public/x/"),
            ("/../../etc", "/etc"),
            ("/caf%C3%A9", "/café"),
            ("/admin;jsessionid=x/y", "/admin/y"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn paths_two_readers_could_read_differently_are_refused() {
        for raw in [
            "/public%2F..%2Fadmin",
            "/public%2e%2e/admin",
            "/public\\..\\admin",
            "/a%5cb",
            "/a%00",
            "/a%0a",
            "/a%2541",
            "relative",
            "",
            "/%ff",
            "/public/..;/admin",
            "/a%u0061",
            "/a%",
            "/a%3bb",
        ] {
            assert_eq!(normalize(raw), Err(Ambiguous), "{raw:?}");
        }
    }

    #[test]
    fn the_path_of_a_url_is_its_path() {
        assert_eq!(path_of_url("https://a.test/x/y?z"), Ok("/x/y?z"));
        assert_eq!(path_of_url("https://a.test"), Ok("/"));
        assert_eq!(path_of_url("/x"), Err(Ambiguous));
    }
}
