//! `TokenActor`: decodes (and encodes) Auth.js session tokens.
//!
//! Decoding is a few microseconds of CPU-only work: a hop to another thread would cost more
//! than the work itself. So each actix-web worker gets its own `TokenActor` (started by
//! [`crate::configure`]), a request's decode never leaves its thread, and the mailbox is
//! bounded. Keys arrive derived with the configuration snapshot; nothing is derived per token.
//! The work itself is the [`authjs_token`] crate's.

use std::sync::Arc;

use actix::{Actor, Context, Handler, Message};
use serde_json::{Map, Value};

use crate::core::redact::Redacted;
use crate::core::token::{self, Claims, Enc, TokenKeys};

/// Decode a session token; `None` for anything that does not decode. `Debug` hides the token.
#[derive(Message)]
#[rtype(result = "Option<Claims>")]
pub struct Decode {
    /// Keys of the configuration in force.
    pub keys: Arc<TokenKeys>,
    /// The token.
    pub token: String,
    /// The salts to decode with, in order: the name of the cookie the token came from, or for
    /// a Bearer token the session cookie names that count for the request (`getToken`
    /// decodes a Bearer token with its cookie name as salt). See
    /// [`crate::core::cookies::salts_of`].
    pub salts: Vec<String>,
}

impl std::fmt::Debug for Decode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decode")
            .field("token", &Redacted(&self.token))
            .field("salts", &self.salts)
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

/// Decodes `token` with `keys` and each of `salts` in order (see [`Decode::salts`]).
pub fn decode_session_token<S: AsRef<str>>(
    keys: &TokenKeys,
    token: &str,
    salts: &[S],
) -> Option<Claims> {
    keys.decode_with_salts(token, salts, token::now_secs()).ok()
}

/// Most messages waiting in one `TokenActor`'s mailbox; senders wait beyond it.
pub const MAILBOX_CAPACITY: usize = 1024;

/// The token decoder.
#[derive(Debug, Default)]
pub struct TokenActor;

impl Actor for TokenActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

impl Handler<Decode> for TokenActor {
    type Result = Option<Claims>;

    fn handle(&mut self, msg: Decode, _: &mut Self::Context) -> Self::Result {
        let claims = decode_session_token(&msg.keys, &msg.token, &msg.salts);
        crate::core::obs::metrics::token_decode(claims.is_some());
        claims
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
