//! What the forward-auth handlers share: their state, and the scheme a request counts as.

use actix_web::HttpRequest;

use crate::core::client::listener_scheme;
use crate::forward_auth::forwarded::forwarded_proto;
use crate::forward_auth::identity::Decoded;
use crate::forward_auth::policy::ForwardAuth;
use crate::runtime::Snapshot;
use crate::runtime::handle::AuthProxy;

/// What the endpoints' handlers need, registered on their resources.
pub(crate) struct Gate {
    pub(crate) proxy: AuthProxy,
    pub(crate) gate: ForwardAuth,
    /// Identities decoded lately.
    pub(crate) decoded: Decoded,
}

/// The session a request presents, as a key for what is kept per session (assertions,
/// refreshes): its `Cookie` and `Authorization` headers, hashed with keys random to this
/// process (any other bytes, another key; never 0).
pub(crate) fn session_key(headers: &actix_web::http::header::HeaderMap) -> u128 {
    use std::hash::{BuildHasher, Hasher, RandomState};
    static KEYS: std::sync::OnceLock<(RandomState, RandomState)> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let (mut a, mut b) = (keys.0.build_hasher(), keys.1.build_hasher());
    for name in [
        actix_web::http::header::COOKIE,
        actix_web::http::header::AUTHORIZATION,
    ] {
        for v in headers.get_all(&name) {
            a.write(v.as_bytes());
            b.write(v.as_bytes());
            a.write_u8(0xff);
            b.write_u8(0xff);
        }
    }
    (u128::from(a.finish()) << 64 | u128::from(b.finish())).max(1)
}

/// The scheme the client used: an https `public_url` makes every decision https (only the
/// `__Secure-` cookie counts), as it does for the proxy's own routes; without one, a trusted
/// front proxy says, else the listener.
pub(crate) fn scheme_of(cfg: &Snapshot, req: &HttpRequest, trusted: bool) -> &'static str {
    match &cfg.public {
        Some(public) => public.scheme.as_str(),
        None => forwarded_proto(req.headers(), trusted).unwrap_or(listener_scheme(req).as_str()),
    }
}
