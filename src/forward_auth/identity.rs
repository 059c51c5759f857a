//! "Who is this request?" for the gate, in one place: which session cookie counts, and whether
//! it is decoded here or asked of the upstream.
//!
//! * JWT strategy with a secret: the cookie (chunks reassembled, Bearer fallback) is decoded on
//!   this worker thread with the snapshot's derived keys — no mailbox hop, no upstream request.
//! * Otherwise: the upstream's `session` route (or the adapter's database, see
//!   [`crate::store`]) through the session cache (single-flight).

use std::sync::Arc;

use actix_web::HttpRequest;

use crate::core::client::{ClientSide, Scheme};
use crate::core::cookies::cookie_value;
use crate::core::error::AuthError;
use crate::core::obs::metrics;
use crate::core::token::now_secs;
use crate::forward_auth::rules::Subject;
use crate::forward_auth::session_key::session_key;
use crate::options::proxy::SessionStrategy;
use crate::runtime::Snapshot;
use crate::runtime::actors::token::decode_session_token;
use crate::runtime::actors::upstream::Upstream;
use crate::session::identity_session;

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
pub fn decides_locally(cfg: &Snapshot) -> bool {
    cfg.session_strategy == SessionStrategy::Jwt && cfg.keys.is_some()
}

/// Identities decoded from session tokens, kept briefly so a session's next decisions skip
/// the decryption: by the request's session headers and scheme, for at most [`KEEP_FOR`] and
/// never past the token's `exp`, and only while neither the configuration nor the revocation
/// list changed. Only valid sessions are kept (a flood of junk cookies takes no room).
pub struct Decoded {
    cache: moka::sync::Cache<u128, Arc<Known>>,
}

/// One kept identity.
struct Known {
    subject: Arc<Subject>,
    generation: u64,
    revocations: u64,
    /// Unix seconds past which it is decoded again (the token's `exp` at the latest).
    until: u64,
}

/// The longest an identity is kept.
pub const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for Decoded {
    fn default() -> Self {
        Decoded {
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(KEEP_FOR)
                .build(),
        }
    }
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

/// Who `req` belongs to: `Ok(None)` for no valid session (missing, malformed, tampered,
/// expired, foreign, revoked), `Err` when the identity source could not answer (upstream
/// down).
///
/// `secure` is whether the client used https (the listener's TLS, or a trusted front proxy's
/// `X-Forwarded-Proto`).
pub(crate) async fn identify(
    cfg: &Arc<Snapshot>,
    upstream: &Upstream,
    req: &HttpRequest,
    secure: bool,
    decoded: &Decoded,
) -> Result<Option<(Arc<Subject>, Source)>, AuthError> {
    let headers = req.headers();
    if let (SessionStrategy::Jwt, Some(keys)) = (cfg.session_strategy, &cfg.keys) {
        let key = session_key(headers, &[&[u8::from(secure)]]);
        let now = now_secs();
        let revocations = cfg.revocation.list.version();
        if let Some(known) = decoded.cache.get(&key)
            && known.generation == cfg.generation
            && known.revocations == revocations
            && now < known.until
        {
            metrics::token_decode(true);
            return Ok(Some((known.subject.clone(), Source::Token)));
        }
        let Some(token) = cfg.session_token(headers, secure) else {
            return Ok(None);
        };
        let value = &token.found.value;
        let claims = decode_session_token(keys, value, token.salts());
        metrics::token_decode(claims.is_some());
        let Some(claims) = claims.filter(|c| !cfg.revocation.refuses(c, value)) else {
            return Ok(None);
        };
        let until = claims
            .exp()
            .unwrap_or(u64::MAX)
            .min(now + KEEP_FOR.as_secs());
        let subject = Arc::new(Subject::from_claims(claims.0));
        decoded.cache.insert(
            key,
            Arc::new(Known {
                subject: subject.clone(),
                generation: cfg.generation,
                revocations,
                until,
            }),
        );
        return Ok(Some((subject, Source::Token)));
    }
    // The gate's own view of the scheme (its trusted proxies) decides which cookie counts; no
    // countable session cookie means no session, without asking the upstream.
    let names = cfg.session_cookie_names(secure);
    if !names.iter().any(|n| cookie_value(headers, n).is_some()) {
        return Ok(None);
    }
    let mut side = ClientSide::of(req)?;
    if secure {
        side.scheme = Scheme::Https;
    }
    let Some(mut session) = identity_session(cfg.clone(), upstream, headers, &side).await? else {
        return Ok(None);
    };
    // Read from the adapter's database: the user's id is known, as `user.id`.
    if let (Some(id), Some(user)) = (session.take_store_user_id(), session.user.as_mut()) {
        user.id.get_or_insert(id);
    }
    Ok(match serde_json::to_value(session) {
        Ok(serde_json::Value::Object(map)) => {
            Some((Arc::new(Subject::from_session(map)), Source::Session))
        }
        _ => None,
    })
}
