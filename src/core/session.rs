//! What an identity answer looks like: the upstream's session ([`Session`]) and what
//! `get_token` returns ([`Token`]).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::core::redact::Redacted;
use crate::core::token::Claims;

/// The signed-in user as the upstream's `session` route describes it.
///
/// Fields of an unexpected type (a numeric `name`, say) are kept in `extra` as they came.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SessionUser {
    /// `user.id`, when the app's callbacks expose it (numbers are kept as text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `user.name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `user.email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `user.image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Every other field of `user`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A session as returned by Auth.js `GET /session`. No field is dropped: typed fields of an
/// unexpected type stay in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Session {
    /// The user, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<SessionUser>,
    /// Expiry, ISO 8601.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Every other field the upstream's `session` callback added.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Takes `name` out of `map` when it is a string; anything else stays where it is.
fn take_string(map: &mut Map<String, Value>, name: &str) -> Option<String> {
    match map.get(name) {
        Some(Value::String(_)) => match map.remove(name) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

impl SessionUser {
    fn from_map(mut map: Map<String, Value>) -> Self {
        let id = match map.get("id") {
            Some(Value::Number(n)) => {
                let id = n.to_string();
                map.remove("id");
                Some(id)
            }
            _ => take_string(&mut map, "id"),
        };
        SessionUser {
            id,
            name: take_string(&mut map, "name"),
            email: take_string(&mut map, "email"),
            image: take_string(&mut map, "image"),
            extra: map,
        }
    }
}

/// Where a session read from the adapter's database keeps its user's id: in `extra`, under a
/// name Auth.js never writes, so the answer stays Auth.js's own shape and the id is for the
/// forward-auth identity only (see [`Session::take_store_user_id`]).
pub(crate) const STORE_USER_ID: &str = "authjs-proxy:user-id";

impl Session {
    /// The user id the session store put aside, taken out (what `get_server_session`
    /// answers has none; forward-auth puts it in `user.id`).
    pub(crate) fn take_store_user_id(&mut self) -> Option<String> {
        match self.extra.remove(STORE_USER_ID)? {
            Value::String(id) => Some(id),
            _ => None,
        }
    }

    fn from_map(mut map: Map<String, Value>) -> Self {
        let user = match map.get("user") {
            Some(Value::Object(_)) => match map.remove("user") {
                Some(Value::Object(u)) => Some(SessionUser::from_map(u)),
                _ => None,
            },
            _ => None,
        };
        Session {
            user,
            expires: take_string(&mut map, "expires"),
            extra: map,
        }
    }

    /// Parses a `GET /session` body: `null` or `{}` mean no session, an object is a session;
    /// anything else (not JSON, an array, a string) is not an answer (`None`).
    pub fn from_body(body: &[u8]) -> Option<Option<Session>> {
        match serde_json::from_slice(body).ok()? {
            Value::Null => Some(None),
            Value::Object(map) if map.is_empty() => Some(None),
            Value::Object(map) => Some(Some(Session::from_map(map))),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Session {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Session::from_map(Map::deserialize(d)?))
    }
}

impl<'de> Deserialize<'de> for SessionUser {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SessionUser::from_map(Map::deserialize(d)?))
    }
}

/// What `get_token` returns, following the seed's semantics. `Debug` hides raw tokens.
#[derive(Clone, PartialEq)]
pub enum Token {
    /// The raw cookie (or Bearer) value, chunks reassembled.
    Raw(String),
    /// Claims decoded locally from a JWT-strategy token.
    Claims(Claims),
    /// The session, for the `database` strategy (asked from the upstream).
    Session(Session),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Raw(raw) => f.debug_tuple("Raw").field(&Redacted(raw)).finish(),
            Token::Claims(c) => f.debug_tuple("Claims").field(c).finish(),
            Token::Session(s) => f.debug_tuple("Session").field(s).finish(),
        }
    }
}
