//! Revocation as a request meets it: whether a request presents a session token that was
//! signed out through the proxy, and recording a sign-out. Revocation needs the secret: a
//! token is named by its `jti` (or a keyed hash of it), which only a decoded token gives, so
//! without one nobody can fill the list with tokens that never were sessions.

use actix_web::http::header::HeaderMap;

use crate::core::cookies::{FoundToken, find_session_token, salts_of};
use crate::options::proxy::SessionStrategy;
use crate::runtime::Snapshot;
use crate::runtime::actors::token::decode_session_token;

impl Snapshot {
    /// Whether `headers` carry a revoked session token: any of them, under either cookie name
    /// or as a Bearer token, whichever one a reader would pick (a decoy that does not decode
    /// must not hide a revoked one). Database sessions are never revoked here: Auth.js deletes
    /// their row at sign-out.
    pub fn presents_revoked_session(&self, headers: &HeaderMap) -> bool {
        if self.revocation.list.is_empty() || self.session_strategy == SessionStrategy::Database {
            return false;
        }
        let Some(keys) = &self.keys else {
            return false;
        };
        let names = self.cookie_names.iter().chain(&self.secure_cookie_names);
        let mut found: Vec<FoundToken> = names
            .filter_map(|name| find_session_token(headers, std::slice::from_ref(name)))
            .collect();
        found.dedup_by(|a, b| a.value == b.value);
        found.iter().any(|token| {
            let salts = salts_of(token, &self.cookie_names);
            let secure_salts = salts_of(token, &self.secure_cookie_names);
            [salts, secure_salts].iter().any(|salts| {
                decode_session_token(keys, &token.value, salts)
                    .is_some_and(|claims| self.revocation.refuses(&claims, &token.value))
            })
        })
    }

    /// A sign-out presenting the session token in `headers` (`secure`: over https) went
    /// through: revoke it (or its subject, as configured), here and on every replica. A token
    /// these keys do not read is refused here already, and without keys nothing is revoked.
    pub async fn record_sign_out(&self, headers: &HeaderMap, secure: bool) {
        if !self.revocation.options.enabled || self.session_strategy == SessionStrategy::Database {
            return;
        }
        let (Some(keys), Some(token)) = (&self.keys, self.session_token(headers, secure)) else {
            return;
        };
        let value = &token.found.value;
        if let Some(claims) = decode_session_token(keys, value, token.salts()) {
            self.revocation.signed_out(&claims, value).await;
        }
    }
}
