//! The Auth.js route map and the checks that keep requests inside `target_base_path`.

use actix_web::http::Method;
use percent_encoding::percent_decode_str;

use crate::core::Replay;
pub use crate::core::path::suffix_below;

/// Auth.js actions, as mounted under the base path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `providers`
    Providers,
    /// `session` (GET reads, POST updates)
    Session,
    /// `csrf`
    Csrf,
    /// `signin` and `signin/{provider}`
    Signin,
    /// `signout`
    Signout,
    /// `callback/{provider}`
    Callback,
    /// `verify-request`
    VerifyRequest,
    /// `error`
    Error,
    /// `webauthn-options/{provider}`
    WebauthnOptions,
}

/// A recognised route: the action and the methods it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The Auth.js action.
    pub action: Action,
    /// Whether POST is accepted (GET always is).
    pub post: bool,
    /// Whether HEAD is answered (like GET, body dropped): only where a GET has no side
    /// effect. Link scanners send HEAD to e-mailed magic links; on `callback/*` and
    /// `signin/{provider}` it gets `405` and never reaches the upstream.
    pub head: bool,
}

impl Route {
    /// Whether `method` is accepted here.
    pub fn allows(&self, method: &Method) -> bool {
        *method == Method::GET
            || (self.head && *method == Method::HEAD)
            || (self.post && *method == Method::POST)
    }

    /// The `Allow` header value.
    pub fn allow_header(&self) -> &'static str {
        match (self.head, self.post) {
            (true, true) => "GET, HEAD, POST",
            (true, false) => "GET, HEAD",
            (false, true) => "GET, POST",
            (false, false) => "GET",
        }
    }

    /// Whether a request may be sent again after it may have reached the upstream: only safe
    /// methods on routes that consume nothing (`callback/*` spends one-time codes and links).
    pub fn replay(&self, method: &Method) -> Replay {
        let safe = *method == Method::GET || *method == Method::HEAD;
        if safe && self.action != Action::Callback {
            Replay::Safe
        } else {
            Replay::NothingSent
        }
    }

    /// Whether a request on this route may change the session behind a cookie (sign-in
    /// callback, sign-out, session update), so cached answers for it must be dropped.
    pub fn changes_session(&self, method: &Method) -> bool {
        match self.action {
            Action::Callback => true,
            Action::Signout | Action::Session => *method == Method::POST,
            _ => false,
        }
    }
}

/// Why a suffix was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// Traversal, authority or encoding tricks: `400`.
    BadPath,
    /// Not an Auth.js route: `404`.
    NotFound,
}

/// Classifies a raw (still percent-encoded) path suffix below the base path.
///
/// Refuses dot-segments (also encoded), empty segments (`//`), backslashes, `@`, encoded
/// slashes and control characters, so nothing can leave `target_base_path` or change the host.
/// The action segment is matched as sent (`%73ession` is not `session`): what is classified is
/// what is forwarded.
///
/// # Examples
/// ```
/// use authjs_proxy::http::routes::{classify, Action, RouteError};
/// assert_eq!(classify("callback/github").unwrap().action, Action::Callback);
/// assert_eq!(classify("callback/%2e%2e"), Err(RouteError::BadPath));
/// assert_eq!(classify("admin"), Err(RouteError::NotFound));
/// ```
pub fn classify(raw_suffix: &str) -> Result<Route, RouteError> {
    // A suffix of letters, digits, `-` and single inner slashes (`session`,
    // `callback/github`) has nothing to decode and nothing the checks below refuse.
    if !plain_segments(raw_suffix) {
        refuse_odd_paths(raw_suffix)?;
    }
    route_of(raw_suffix)
}

/// Letters, digits and `-` in segments joined by single slashes, with no empty segment.
fn plain_segments(raw: &str) -> bool {
    !raw.is_empty()
        && raw.split('/').all(|seg| {
            !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Refuses encoded slashes, empty, dot and backslash segments, `@` and control characters.
fn refuse_odd_paths(raw_suffix: &str) -> Result<(), RouteError> {
    let decoded = percent_decode_str(raw_suffix)
        .decode_utf8()
        .map_err(|_| RouteError::BadPath)?;
    let encoded_slash = decoded.matches('/').count() != raw_suffix.matches('/').count();
    if encoded_slash
        || decoded.contains("//")
        || decoded.starts_with('/')
        || decoded
            .chars()
            .any(|c| c == '\\' || c == '@' || c.is_control())
        || decoded.split('/').any(|s| s == "." || s == "..")
    {
        return Err(RouteError::BadPath);
    }
    Ok(())
}

/// The route a checked suffix names.
fn route_of(raw_suffix: &str) -> Result<Route, RouteError> {
    let mut parts = raw_suffix.split('/');
    let segments = (parts.next(), parts.next(), parts.next());
    let route = |action, post, head| Ok(Route { action, post, head });
    match segments {
        (Some("providers"), None, _) => route(Action::Providers, false, true),
        (Some("session"), None, _) => route(Action::Session, true, true),
        (Some("csrf"), None, _) => route(Action::Csrf, false, true),
        (Some("signin"), None, _) => route(Action::Signin, true, true),
        (Some("signin"), Some(p), None) if !p.is_empty() => route(Action::Signin, true, false),
        (Some("signout"), None, _) => route(Action::Signout, true, true),
        (Some("callback"), Some(p), None) if !p.is_empty() => route(Action::Callback, true, false),
        (Some("verify-request"), None, _) => route(Action::VerifyRequest, false, true),
        (Some("error"), None, _) => route(Action::Error, false, true),
        (Some("webauthn-options"), Some(p), None) if !p.is_empty() => {
            route(Action::WebauthnOptions, false, true)
        }
        _ => Err(RouteError::NotFound),
    }
}

/// The route template of an Auth.js route suffix (`callback/github` → `auth/callback/{provider}`).
pub fn auth_route_template(action: Action, suffix: &str) -> &'static str {
    let provider = suffix.contains('/');
    match action {
        Action::Providers => "auth/providers",
        Action::Session => "auth/session",
        Action::Csrf => "auth/csrf",
        Action::Signin if provider => "auth/signin/{provider}",
        Action::Signin => "auth/signin",
        Action::Signout => "auth/signout",
        Action::Callback => "auth/callback/{provider}",
        Action::VerifyRequest => "auth/verify-request",
        Action::Error => "auth/error",
        Action::WebauthnOptions => "auth/webauthn-options/{provider}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_routes_are_labelled_by_template() {
        assert_eq!(
            auth_route_template(Action::Callback, "callback/github"),
            "auth/callback/{provider}"
        );
        assert_eq!(auth_route_template(Action::Signin, "signin"), "auth/signin");
        assert_eq!(
            auth_route_template(Action::Signin, "signin/github"),
            "auth/signin/{provider}"
        );
    }
    use proptest::prelude::*;

    proptest! {
        /// The fast path skips only what the full checks would let through.
        #[test]
        fn plain_suffixes_pass_the_full_checks(raw in "[a-zA-Z0-9/%.@_~-]{0,24}") {
            if plain_segments(&raw) {
                prop_assert_eq!(refuse_odd_paths(&raw), Ok(()));
            }
        }
    }

    #[test]
    fn trailing_and_doubled_slashes_are_not_plain() {
        for raw in [
            "",
            "session/",
            "/session",
            "callback//github",
            "callback/%2e",
        ] {
            assert!(!plain_segments(raw), "{raw}");
        }
        assert!(plain_segments("callback/github-enterprise"));
    }
}
