//! `TokenActor`: decodes (and encodes) Auth.js session tokens on its own threads.
//!
//! Decoding is CPU-only work, so the actor runs on a `SyncArbiter`. Keys arrive derived with
//! the configuration snapshot; nothing is derived per token. The work itself is the
//! [`authjs_token`] crate's; this actor only moves it off the request threads.

use std::sync::Arc;

use actix::{Actor, Addr, Handler, Message, SyncArbiter, SyncContext};
use serde_json::{Map, Value};

use crate::token::{self, Claims, Enc, TokenKeys};

/// Decode a session token; `None` for anything that does not decode. `Debug` hides the token.
#[derive(Message)]
#[rtype(result = "Option<Claims>")]
pub struct Decode {
    /// Keys of the configuration in force.
    pub keys: Arc<TokenKeys>,
    /// The token.
    pub token: String,
    /// The cookie it came from; `None` (Bearer) tries every configured salt.
    pub salt: Option<String>,
}

impl std::fmt::Debug for Decode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decode")
            .field("token", &"<redacted>")
            .field("salt", &self.salt)
            .finish_non_exhaustive()
    }
}

/// Encode claims as an Auth.js session token for `salt` with the newest secret.
#[derive(Debug, Message)]
#[rtype(result = "Option<String>")]
pub struct Encode {
    /// Keys of the configuration in force.
    pub keys: Arc<TokenKeys>,
    /// Claims to encode (`iat`, `exp`, `jti` are added).
    pub claims: Map<String, Value>,
    /// Cookie name (salt).
    pub salt: String,
    /// Lifetime in seconds.
    pub max_age: u64,
}

/// Decodes `token` with `keys`: with the salt it was found under, or every salt in order.
pub fn decode_session_token(keys: &TokenKeys, token: &str, salt: Option<&str>) -> Option<Claims> {
    let now = token::now_secs();
    match salt {
        Some(salt) => keys.decode(token, salt, now),
        None => keys.decode_any_salt(token, now),
    }
    .ok()
}

/// The token decoder.
#[derive(Debug, Default)]
pub struct TokenActor;

impl TokenActor {
    /// Starts `threads` decoder threads.
    pub fn start_pool(threads: usize) -> Addr<TokenActor> {
        SyncArbiter::start(threads.max(1), || TokenActor)
    }
}

impl Actor for TokenActor {
    type Context = SyncContext<Self>;
}

impl Handler<Decode> for TokenActor {
    type Result = Option<Claims>;

    fn handle(&mut self, msg: Decode, _: &mut Self::Context) -> Self::Result {
        decode_session_token(&msg.keys, &msg.token, msg.salt.as_deref())
    }
}

impl Handler<Encode> for TokenActor {
    type Result = Option<String>;

    fn handle(&mut self, msg: Encode, _: &mut Self::Context) -> Self::Result {
        let salt_keys = msg.keys.salts.iter().find(|k| k.salt == msg.salt)?;
        let newest = salt_keys.secrets.first()?;
        Some(token::encode_jwe(
            &msg.claims,
            newest,
            Enc::A256CbcHs512,
            msg.max_age,
        ))
    }
}
