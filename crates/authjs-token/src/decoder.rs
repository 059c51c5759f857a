//! [`Decoder`]: keys derived once, then tokens decoded from a string, a `Cookie` header or a
//! request's headers; [`encode`] for the other direction.

use serde::Serialize;
use serde_json::Value;

#[cfg(feature = "jws")]
use crate::JwsKeys;
use crate::cookie::{self, SECURE_SESSION_COOKIE, SESSION_COOKIE};
use crate::{Claims, DecodeError, EncodeError, SaltKeys, TokenKeys, now_secs};

/// Decodes Auth.js session tokens with keys derived once from the secrets.
///
/// Build one at start-up (deriving keys costs more than decoding) and share it (`Arc`, or
/// your framework's state): decoding takes `&self` and is `Send + Sync`. `Debug` shows the
/// cookie names and key ids, never a key.
///
/// ```
/// use authjs_token::Decoder;
///
/// // AUTH_SECRET, or a list for rotation: newest first, as Auth.js takes it.
/// let decoder = Decoder::new(["new secret", "old secret"]);
/// let token = authjs_token::encode(
///     &serde_json::json!({ "sub": "u1" }),
///     "old secret",
///     "__Secure-authjs.session-token",
///     3600,
/// )?;
/// let claims = decoder.decode(&token, "__Secure-authjs.session-token")?;
/// assert_eq!(claims.sub(), Some("u1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    keys: TokenKeys,
    names: Vec<String>,
    secure_names: Vec<String>,
}

impl Decoder {
    /// A decoder for Auth.js's default cookie names (`authjs.session-token`, and
    /// `__Secure-authjs.session-token` on https), with `secrets` newest first (the first one
    /// is the one Auth.js encodes with; a token's `kid` picks among them).
    ///
    /// ```
    /// let decoder = authjs_token::Decoder::new(["AUTH_SECRET value"]);
    /// let debug = format!("{decoder:?}");
    /// assert!(debug.contains("authjs.session-token") && !debug.contains("AUTH_SECRET value"));
    /// ```
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        Self::build(
            secrets,
            vec![SECURE_SESSION_COOKIE.to_owned(), SESSION_COOKIE.to_owned()],
            vec![SECURE_SESSION_COOKIE.to_owned()],
        )
    }

    /// A decoder for a custom session cookie name (Auth.js's `cookies.sessionToken.name`),
    /// used on http and https alike.
    ///
    /// ```
    /// let decoder = authjs_token::Decoder::with_cookie_name(["s"], "my-session");
    /// let token = authjs_token::encode(&serde_json::json!({ "sub": "u1" }), "s", "my-session", 60)?;
    /// let claims = decoder.from_cookie_header(format!("my-session={token}").as_bytes(), true)?;
    /// assert_eq!(claims.sub(), Some("u1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_cookie_name<S: AsRef<str>>(
        secrets: impl IntoIterator<Item = S>,
        cookie_name: &str,
    ) -> Self {
        let names = vec![cookie_name.to_owned()];
        Self::build(secrets, names.clone(), names)
    }

    fn build<S: AsRef<str>>(
        secrets: impl IntoIterator<Item = S>,
        names: Vec<String>,
        secure_names: Vec<String>,
    ) -> Self {
        let secrets: Vec<String> = secrets.into_iter().map(|s| s.as_ref().to_owned()).collect();
        let keys = TokenKeys {
            salts: names
                .iter()
                .map(|salt| SaltKeys::derive(&secrets, salt))
                .collect(),
            #[cfg(feature = "jws")]
            jws: None,
        };
        Decoder {
            keys,
            names,
            secure_names,
        }
    }

    /// Also accepts signed JWTs (three parts) under `jws`'s rules.
    ///
    /// ```
    /// let jws = authjs_token::JwsKeys::new(&["HS256".into()], "k")?;
    /// let decoder = authjs_token::Decoder::new(["s"]).with_jws(jws);
    /// assert!(decoder.keys().jws.is_some());
    /// # Ok::<(), authjs_token::JwsConfigError>(())
    /// ```
    #[cfg(feature = "jws")]
    pub fn with_jws(mut self, jws: JwsKeys) -> Self {
        self.keys.jws = Some(jws);
        self
    }

    /// The derived keys (for callers that pass their own clock to [`TokenKeys::decode`]).
    ///
    /// ```
    /// let decoder = authjs_token::Decoder::new(["s"]);
    /// assert_eq!(decoder.keys().salts.len(), 2);
    /// ```
    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// The session cookie names that count, in lookup order: on https (`secure`) only the
    /// `__Secure-` one, on http both (see [`cookie::session_cookie_names`]).
    ///
    /// ```
    /// let decoder = authjs_token::Decoder::new(["s"]);
    /// assert_eq!(decoder.cookie_names(true), ["__Secure-authjs.session-token"]);
    /// ```
    pub fn cookie_names(&self, secure: bool) -> &[String] {
        if secure {
            &self.secure_names
        } else {
            &self.names
        }
    }

    /// Decodes `token` read from the cookie named `salt`, now. A `salt` that is none of the
    /// decoder's cookie names gives [`DecodeError::NoMatchingKey`].
    ///
    /// ```
    /// let decoder = authjs_token::Decoder::new(["s"]);
    /// let token = authjs_token::encode(&serde_json::json!({}), "s", "authjs.session-token", 60)?;
    /// assert!(decoder.decode(&token, "authjs.session-token").is_ok());
    /// assert!(decoder.decode(&token, "__Secure-authjs.session-token").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(&self, token: &str, salt: &str) -> Result<Claims, DecodeError> {
        self.keys.decode(token, salt, now_secs())
    }

    /// The session in one `Cookie` header value: the first of [`Decoder::cookie_names`]
    /// present (chunks reassembled), decoded with its name as salt.
    /// [`DecodeError::Missing`] when there is no session cookie.
    ///
    /// ```
    /// let decoder = authjs_token::Decoder::new(["s"]);
    /// let token = authjs_token::encode(&serde_json::json!({ "sub": "u1" }), "s", "authjs.session-token", 60)?;
    /// let (a, b) = token.split_at(token.len() / 2);
    /// let header = format!("authjs.session-token.1={b}; authjs.session-token.0={a}");
    /// assert_eq!(decoder.from_cookie_header(header.as_bytes(), false)?.sub(), Some("u1"));
    /// assert_eq!(
    ///     decoder.from_cookie_header(b"theme=dark", false),
    ///     Err(authjs_token::DecodeError::Missing)
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_cookie_header(&self, header: &[u8], secure: bool) -> Result<Claims, DecodeError> {
        self.from_headers([header], None, secure)
    }

    /// The session of a request: its `Cookie` header values (in order) as
    /// [`Decoder::from_cookie_header`] reads them, else its `Authorization: Bearer` token
    /// (decoded with the salt of each of [`Decoder::cookie_names`] for `secure`, in order). [`DecodeError::Missing`] when there is neither.
    ///
    /// ```
    /// let decoder = authjs_token::Decoder::new(["s"]);
    /// let token = authjs_token::encode(&serde_json::json!({ "sub": "u1" }), "s", "authjs.session-token", 60)?;
    /// let auth = format!("Bearer {token}");
    /// let claims = decoder.from_headers([], Some(auth.as_bytes()), false)?;
    /// assert_eq!(claims.sub(), Some("u1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_headers<'h>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'h [u8]>,
        authorization: Option<&[u8]>,
        secure: bool,
    ) -> Result<Claims, DecodeError> {
        let found =
            cookie::find_session_token(cookie_headers, authorization, self.cookie_names(secure))
                .ok_or(DecodeError::Missing)?;
        let now = now_secs();
        match &found.cookie_name {
            Some(salt) => self.keys.decode(&found.value, salt, now),
            // `getToken` decodes a Bearer token with its cookie name as salt: here, the names
            // that count for the request (on https only the `__Secure-` one).
            None => self
                .keys
                .decode_with_salts(&found.value, self.cookie_names(secure), now),
        }
    }
}

/// Encodes `claims` (any value that serializes to a JSON object) as Auth.js's `encode` does:
/// `iat`, `exp` (`now + max_age` seconds) and a random `jti` added, A256CBC-HS512 with the key
/// derived from `secret` and `salt` (the cookie name), its thumbprint as `kid`.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Session<'a> {
///     sub: &'a str,
///     role: &'a str,
/// }
/// let token = authjs_token::encode(
///     &Session { sub: "u1", role: "admin" },
///     "s",
///     "authjs.session-token",
///     authjs_token::DEFAULT_MAX_AGE_SECS,
/// )?;
/// let claims = authjs_token::Decoder::new(["s"]).decode(&token, "authjs.session-token")?;
/// assert_eq!(claims.get("role"), Some(&serde_json::json!("admin")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode<T: Serialize + ?Sized>(
    claims: &T,
    secret: &str,
    salt: &str,
    max_age: u64,
) -> Result<String, EncodeError> {
    match serde_json::to_value(claims) {
        Ok(Value::Object(map)) => crate::try_encode_with_secret(&map, secret, salt, max_age),
        _ => Err(EncodeError::InvalidClaims),
    }
}
