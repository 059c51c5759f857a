//! Keeps one user's session out of shared caches.
//!
//! Auth.js marks its `csrf` and `session` answers `Cache-Control: private, no-cache,
//! no-store`; every auth-route response that sets a cookie or carries a session leaves the
//! proxy with at least `private` and `no-store`.

use actix_web::http::header::{self, HeaderMap, HeaderValue};

/// What is added when the upstream's `Cache-Control` lacks `private` or `no-store`.
pub const PRIVATE_NO_STORE: &str = "private, no-store";

/// Ensures `Cache-Control` has `private` and `no-store` when `headers` set a cookie or the
/// body `carries_session`; an upstream value that already has both stays as it is.
///
/// # Examples
/// ```
/// use actix_web::http::header::{HeaderMap, HeaderValue, CACHE_CONTROL, SET_COOKIE};
/// use authjs_proxy::http::cache_control::keep_private;
/// let mut h = HeaderMap::new();
/// h.insert(SET_COOKIE, HeaderValue::from_static("a=b"));
/// h.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
/// keep_private(&mut h, false);
/// assert_eq!(h.get(CACHE_CONTROL).unwrap(), "private, no-store");
/// ```
pub fn keep_private(headers: &mut HeaderMap, carries_session: bool) {
    if !carries_session && !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let (mut private, mut no_store) = (false, false);
    for directive in headers
        .get_all(header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let name = directive.split('=').next().unwrap_or_default().trim();
        private |= name.eq_ignore_ascii_case("private");
        no_store |= name.eq_ignore_ascii_case("no-store");
    }
    if !(private && no_store) {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(PRIVATE_NO_STORE),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(cache_control: Option<&'static str>, cookie: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(cc) = cache_control {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
        }
        if cookie {
            h.insert(header::SET_COOKIE, HeaderValue::from_static("x=y"));
        }
        h
    }

    #[test]
    fn authjs_own_value_is_kept() {
        let mut h = with(Some("private, no-cache, no-store"), true);
        keep_private(&mut h, true);
        assert_eq!(
            h.get(header::CACHE_CONTROL).unwrap(),
            "private, no-cache, no-store"
        );
    }

    #[test]
    fn a_session_without_cache_control_gets_one() {
        let mut h = with(None, false);
        keep_private(&mut h, true);
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), PRIVATE_NO_STORE);
    }

    #[test]
    fn answers_without_cookie_or_session_are_left_alone() {
        let mut h = with(Some("public, max-age=300"), false);
        keep_private(&mut h, false);
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "public, max-age=300");
    }
}
