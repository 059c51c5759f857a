//! Extractors for handlers of an app that mounted the runtime with [`crate::configure`].
//!
//! * [`Session`]: the upstream's session; rejects with `401` + JSON when there is none.
//! * `Option<Session>`: `None` when there is no session (or it could not be determined).
//! * [`Claims`]: the locally decoded JWT-strategy token; `401` when absent or invalid.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::error::AuthError;
use crate::session::{Session, Token, get_server_session, get_token};
use crate::token::Claims;

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
                Some(Token::Claims(claims)) => Ok(claims),
                Some(_) => Err(AuthError::NotJwt),
                None => Err(AuthError::Unauthenticated),
            }
        })
    }
}
