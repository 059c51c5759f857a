//! Revocation as a request meets it: whether the session token a request presents was signed
//! out through the proxy, and recording a sign-out. The token is decoded with the
//! snapshot's keys when it has them (its `jti` names it), else named by its bytes.

use actix_web::http::header::HeaderMap;

use crate::options::proxy::SessionStrategy;
use crate::runtime::Snapshot;
use crate::runtime::actors::token::decode_session_token;

impl Snapshot {
    /// Whether the session token in `headers` (`secure`: the request came over https) is
    /// revoked. Database sessions are never: Auth.js deletes their row at sign-out.
    pub fn presents_revoked_session(&self, headers: &HeaderMap, secure: bool) -> bool {
        if self.revocation.list.is_empty() || self.session_strategy == SessionStrategy::Database {
            return false;
        }
        let Some(token) = self.session_token(headers, secure) else {
            return false;
        };
        let value = &token.found.value;
        match &self.keys {
            Some(keys) => decode_session_token(keys, value, token.salts())
                .is_some_and(|claims| self.revocation.refuses(&claims, value)),
            None => self.revocation.refuses_unread(value),
        }
    }

    /// A sign-out presenting the session token in `headers` went through: revoke it (or its
    /// subject, as configured), here and on every replica.
    pub async fn record_sign_out(&self, headers: &HeaderMap, secure: bool) {
        if !self.revocation.options.enabled || self.session_strategy == SessionStrategy::Database {
            return;
        }
        let Some(token) = self.session_token(headers, secure) else {
            return;
        };
        let value = &token.found.value;
        let claims = match &self.keys {
            // A token these keys do not read is refused here already.
            Some(keys) => match decode_session_token(keys, value, token.salts()) {
                Some(claims) => Some(claims),
                None => return,
            },
            None => None,
        };
        self.revocation.signed_out(claims.as_ref(), value).await;
    }
}
