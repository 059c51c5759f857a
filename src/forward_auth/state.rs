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

/// The scheme the client used: an https `public_url` makes every decision https (only the
/// `__Secure-` cookie counts), as it does for the proxy's own routes; without one, a trusted
/// front proxy says, else the listener.
pub(crate) fn scheme_of(cfg: &Snapshot, req: &HttpRequest, trusted: bool) -> &'static str {
    match &cfg.public {
        Some(public) => public.scheme.as_str(),
        None => forwarded_proto(req.headers(), trusted).unwrap_or(listener_scheme(req).as_str()),
    }
}
