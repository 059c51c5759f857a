//! "Who is this request?" for the gate, in one place: which session cookie counts, and whether
//! it is decoded here or asked of the upstream.
//!
//! * JWT strategy with a secret: the cookie (chunks reassembled, Bearer fallback) is decoded on
//!   this worker thread with the snapshot's derived keys — no mailbox hop, no upstream request.
//! * Otherwise: the upstream's `session` route through the session cache (single-flight).

use std::borrow::Cow;
use std::sync::Arc;

use actix::Addr;
use actix_web::HttpRequest;

use crate::actors::token::decode_session_token;
use crate::actors::upstream::UpstreamActor;
use crate::config::{RuntimeConfig, SessionStrategy};
use crate::cookies::find_session_token;
use crate::error::AuthError;
use crate::gate::rules::Subject;
use crate::session::{client_side, server_session};

/// Where an identity came from (for the decision log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The session token, decoded locally.
    Token,
    /// The upstream's `session` route (possibly cached).
    Session,
}

impl Source {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Token => "token",
            Source::Session => "session",
        }
    }
}

/// The identity source decides with the session token alone (no upstream request).
pub fn decides_locally(cfg: &RuntimeConfig) -> bool {
    cfg.session_strategy == SessionStrategy::Jwt && cfg.keys.is_some()
}

/// On https, only `__Secure-`/`__Host-` session cookies count (a custom name without a prefix
/// is kept).
// Lead's cookie rework: `find_session_token` takes `secure` itself; then this goes away.
fn cookie_names(names: &[String], secure: bool) -> Cow<'_, [String]> {
    let prefixed = |n: &String| n.starts_with("__Secure-") || n.starts_with("__Host-");
    if !secure || names.iter().all(prefixed) || !names.iter().any(prefixed) {
        return Cow::Borrowed(names);
    }
    Cow::Owned(names.iter().filter(|n| prefixed(n)).cloned().collect())
}

/// Who `req` belongs to: `Ok(None)` for no valid session (missing, malformed, tampered,
/// expired, foreign), `Err` when the identity source could not answer (upstream down).
///
/// `secure` is whether the client used https (the listener's TLS, or a trusted front proxy's
/// `X-Forwarded-Proto`).
pub(crate) async fn identify(
    cfg: &Arc<RuntimeConfig>,
    upstream: &Addr<UpstreamActor>,
    req: &HttpRequest,
    secure: bool,
) -> Result<Option<(Subject, Source)>, AuthError> {
    let headers = req.headers();
    if let (SessionStrategy::Jwt, Some(keys)) = (cfg.session_strategy, &cfg.keys) {
        let Some(found) = find_session_token(headers, &cookie_names(&cfg.cookie_names, secure))
        else {
            return Ok(None);
        };
        let claims = decode_session_token(keys, &found.value, found.cookie_name.as_deref());
        return Ok(claims.map(|c| (Subject::from_claims(c.0), Source::Token)));
    }
    // Lead's session rework: an upstream 5xx becomes `Err` here (today it is `Ok(None)`).
    let session = server_session(cfg.clone(), upstream, headers, &client_side(req)).await?;
    Ok(session.and_then(|s| match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(map)) => Some((Subject::from_session(map), Source::Session)),
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec![
            "__Secure-authjs.session-token".into(),
            "authjs.session-token".into(),
        ]
    }

    #[test]
    fn on_https_only_the_secure_cookie_counts() {
        assert_eq!(
            &*cookie_names(&names(), true),
            ["__Secure-authjs.session-token".to_owned()]
        );
    }

    #[test]
    fn on_http_both_cookies_count() {
        assert_eq!(&*cookie_names(&names(), false), &names()[..]);
    }

    #[test]
    fn a_custom_unprefixed_name_counts_on_https() {
        let custom = vec!["app.session".to_owned()];
        assert_eq!(&*cookie_names(&custom, true), &custom[..]);
    }
}
