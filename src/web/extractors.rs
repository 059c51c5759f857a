//! Extractors for handlers of an app that mounted the runtime with [`crate::configure`].
//!
//! * [`Session`]: the upstream's session; rejects with `401` + JSON when there is none.
//! * `Option<Session>`: `None` when there is no session (or it could not be determined).
//! * [`Claims`]: the locally decoded JWT-strategy token; `401` when absent or invalid.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::core::error::AuthError;
use crate::core::token;
use crate::session::{Session, Token, get_server_session, get_token};

/// The claims of the request's JWT-strategy token, decoded locally, as an extractor: every
/// [`token::Claims`] accessor works on it (`claims.sub()`); `401` when there is no valid token.
///
/// (A type of this crate, as actix's `FromRequest` cannot be implemented here for the
/// `authjs-token` crate's `Claims`; it serializes the same.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Claims(pub token::Claims);

impl Deref for Claims {
    type Target = token::Claims;

    fn deref(&self) -> &token::Claims {
        &self.0
    }
}

impl From<token::Claims> for Claims {
    fn from(claims: token::Claims) -> Self {
        Claims(claims)
    }
}

impl From<Claims> for token::Claims {
    fn from(claims: Claims) -> Self {
        claims.0
    }
}

impl FromRequest for Session {
    type Error = AuthError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            get_server_session(&req)
                .await?
                .ok_or(AuthError::Unauthenticated)
        })
    }
}

impl FromRequest for Claims {
    type Error = AuthError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match get_token(&req, false).await? {
                Some(Token::Claims(claims)) => Ok(Claims(claims)),
                Some(_) => Err(AuthError::NotJwt),
                None => Err(AuthError::Unauthenticated),
            }
        })
    }
}
