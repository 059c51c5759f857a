//! [`SessionConfig`]: what the `axum` extractors and the `tower` layer share: the [`Decoder`],
//! which cookie names count, how a request's verdict is kept in its extensions, and the `401`
//! answer.

use std::sync::Arc;

use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, WWW_AUTHENTICATE};
use http::{Extensions, HeaderMap, HeaderValue, StatusCode};

use crate::{Claims, DecodeError, Decoder};

/// The body of the `401` answer to a request without a valid session (`content-type:
/// application/json`). It says nothing about why: the reason stays on the server.
///
/// ```
/// assert_eq!(authjs_token::UNAUTHORIZED_BODY, r#"{"error":"not signed in"}"#);
/// ```
pub const UNAUTHORIZED_BODY: &str = r#"{"error":"not signed in"}"#;

/// How a service finds the session of a request: a shared [`Decoder`] and whether only the
/// `__Secure-` cookie counts. Cloning is cheap (the decoder is behind an [`Arc`]); `Debug`
/// shows the cookie names and key ids, never a key.
///
/// A request's session is, as [`Decoder::from_headers`] reads it, the session cookie from its
/// `Cookie` headers (chunks reassembled), else its first `Authorization: Bearer` token.
///
/// # Which cookie names count
///
/// Auth.js names its cookie `__Secure-authjs.session-token` when the site is on https and
/// `authjs.session-token` on http. By default ([`SessionConfig::secure`] `false`) both count,
/// the `__Secure-` one first: right for development on http and for a service behind a proxy
/// that terminates TLS. A site only served over https should set `secure(true)`: then only the
/// `__Secure-` cookie counts, and a plain-named cookie planted by a sibling subdomain is
/// ignored, as Auth.js ignores it. A custom cookie name is [`Decoder::with_cookie_name`].
///
/// ```
/// use authjs_token::{Decoder, SessionConfig};
///
/// let config = SessionConfig::new(Decoder::new(["my AUTH_SECRET"])).secure(true);
/// let token = authjs_token::encode(
///     &serde_json::json!({ "sub": "u1" }),
///     "my AUTH_SECRET",
///     "__Secure-authjs.session-token",
///     3600,
/// )?;
/// let mut headers = http::HeaderMap::new();
/// headers.insert(
///     http::header::COOKIE,
///     format!("__Secure-authjs.session-token={token}").parse()?,
/// );
/// assert_eq!(config.session(&headers)?.sub(), Some("u1"));
/// assert!(!format!("{config:?}").contains("my AUTH_SECRET"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SessionConfig {
    decoder: Arc<Decoder>,
    secure: bool,
}

impl SessionConfig {
    /// A configuration reading both cookie names (see [`SessionConfig::secure`]).
    ///
    /// ```
    /// let config = authjs_token::SessionConfig::new(authjs_token::Decoder::new(["s"]));
    /// assert!(!config.is_secure());
    /// ```
    pub fn new(decoder: impl Into<Arc<Decoder>>) -> Self {
        SessionConfig {
            decoder: decoder.into(),
            secure: false,
        }
    }

    /// Whether the site is on https: then only the `__Secure-` cookie counts (see
    /// [`Decoder::cookie_names`]); `false` (the default) reads both, the `__Secure-` one
    /// first. The Bearer fallback is decoded with the salts of the same names.
    ///
    /// ```
    /// # use authjs_token::{Decoder, SessionConfig};
    /// let token = authjs_token::encode(&serde_json::json!({}), "s", "authjs.session-token", 60)?;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert(http::header::COOKIE, format!("authjs.session-token={token}").parse()?);
    /// let config = SessionConfig::new(Decoder::new(["s"]));
    /// assert!(config.session(&headers).is_ok());
    /// assert!(config.secure(true).session(&headers).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Whether only the `__Secure-` cookie counts.
    ///
    /// ```
    /// # use authjs_token::{Decoder, SessionConfig};
    /// assert!(SessionConfig::new(Decoder::new(["s"])).secure(true).is_secure());
    /// ```
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The decoder.
    ///
    /// ```
    /// # use authjs_token::{Decoder, SessionConfig};
    /// let config = SessionConfig::new(Decoder::new(["s"]));
    /// assert_eq!(config.decoder().cookie_names(false).len(), 2);
    /// ```
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// The session of a request with these headers: its `Cookie` headers, else its first
    /// `Authorization` header (Bearer). [`DecodeError::Missing`] when there is neither.
    ///
    /// ```
    /// # use authjs_token::{DecodeError, Decoder, SessionConfig};
    /// let config = SessionConfig::new(Decoder::new(["s"]));
    /// let token = authjs_token::encode(&serde_json::json!({ "sub": "u1" }), "s", "authjs.session-token", 60)?;
    /// let mut headers = http::HeaderMap::new();
    /// assert_eq!(config.session(&headers), Err(DecodeError::Missing));
    /// headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    /// assert_eq!(config.session(&headers)?.sub(), Some("u1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn session(&self, headers: &HeaderMap) -> Result<Claims, DecodeError> {
        let cookies = headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes);
        let authorization = headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
        self.decoder
            .from_headers(cookies, authorization, self.secure)
    }
}

impl From<Decoder> for SessionConfig {
    fn from(decoder: Decoder) -> Self {
        SessionConfig::new(decoder)
    }
}

impl From<Arc<Decoder>> for SessionConfig {
    fn from(decoder: Arc<Decoder>) -> Self {
        SessionConfig::new(decoder)
    }
}

/// The verdict recorded for a request without a valid session (by the layer, or by an
/// extractor), so that later extractors neither decode again nor disagree with it; the reason
/// is what the `axum` rejection reports.
#[derive(Debug, Clone)]
pub(crate) struct NoSession(#[cfg_attr(not(feature = "axum"), allow(dead_code))] DecodeError);

/// Records a request's session verdict in its extensions, replacing an earlier one: the
/// [`Claims`] when valid, else why not (a crate-private type). Returns whether there is a
/// session.
pub(crate) fn record(extensions: &mut Extensions, verdict: Result<Claims, DecodeError>) -> bool {
    match verdict {
        Ok(claims) => {
            extensions.remove::<NoSession>();
            extensions.insert(claims);
            true
        }
        Err(error) => {
            extensions.remove::<Claims>();
            extensions.insert(NoSession(error));
            false
        }
    }
}

/// The session verdict recorded in `extensions` (by the layer, or an extractor earlier), if
/// any: [`Claims`] put there by anyone count.
#[cfg(feature = "axum")]
pub(crate) fn recorded(extensions: &Extensions) -> Option<Result<Claims, DecodeError>> {
    if let Some(claims) = extensions.get::<Claims>() {
        return Some(Ok(claims.clone()));
    }
    extensions
        .get::<NoSession>()
        .map(|NoSession(error)| Err(error.clone()))
}

/// The `401` answer: [`UNAUTHORIZED_BODY`] as JSON, with `WWW-Authenticate: Bearer` (a `401`
/// must name a scheme; Bearer is the one the request could use besides the cookie).
pub(crate) fn unauthorized<B: From<&'static str>>() -> http::Response<B> {
    let mut response = http::Response::new(B::from(UNAUTHORIZED_BODY));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}
