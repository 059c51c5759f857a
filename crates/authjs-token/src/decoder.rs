//! [`Decoder`]: keys derived once, then tokens decoded from a string, a `Cookie` header or a
//! request's headers; [`encode`] for the other direction. [`TokenKeys`] is the configuration
//! a [`Decoder`] holds; [`decode_with_secrets`], [`encode_with_secret`] and
//! [`try_encode_with_secret`] derive the keys on every call (tooling).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::claims::{Claims, now_secs};
use crate::cookie;
use crate::error::{DecodeError, EncodeError};
use crate::jwe::{decode_jwe, encode_jwe, try_encode_jwe};
#[cfg(feature = "jws")]
use crate::jws::JwsKeys;
use crate::keys::{Enc, SaltKeys, SecretKeys};

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
        let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        Self::build(
            secrets,
            owned(cookie::session_cookie_names(false)),
            owned(cookie::session_cookie_names(true)),
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
        Ok(Value::Object(map)) => try_encode_with_secret(&map, secret, salt, max_age),
        _ => Err(EncodeError::InvalidClaims),
    }
}

/// Everything needed to decode session tokens for one configuration: keys per salt and,
/// with the `jws` feature, signed-JWT rules. [`Decoder`] is the friendlier front; this is the
/// part a long-running service keeps in its configuration snapshot.
///
/// ```
/// use authjs_token::{SaltKeys, TokenKeys};
/// let secrets = ["s".to_owned()];
/// let keys = TokenKeys {
///     salts: vec![SaltKeys::derive(&secrets, "authjs.session-token")],
///     # #[cfg(feature = "jws")]
///     jws: None,
/// };
/// let token = authjs_token::encode_with_secret(&Default::default(), "s", "authjs.session-token", 60);
/// assert!(keys.decode(&token, "authjs.session-token", authjs_token::now_secs()).is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct TokenKeys {
    /// Keys per candidate salt, in lookup order.
    pub salts: Vec<SaltKeys>,
    /// Signed-JWT rules, when configured.
    #[cfg(feature = "jws")]
    pub jws: Option<JwsKeys>,
}

impl TokenKeys {
    /// Decodes `token` read from the cookie `salt` (a JWE), or as a JWS when it has three parts
    /// and JWS decoding is configured; `now` is seconds since the epoch.
    ///
    /// ```
    /// # use authjs_token::{SaltKeys, TokenKeys};
    /// # let keys = TokenKeys {
    /// #     salts: vec![SaltKeys::derive(&["s".to_owned()], "authjs.session-token")],
    /// #     #[cfg(feature = "jws")]
    /// #     jws: None,
    /// # };
    /// let token = authjs_token::encode_with_secret(&Default::default(), "s", "authjs.session-token", 60);
    /// let later = authjs_token::now_secs() + 3600;
    /// assert_eq!(
    ///     keys.decode(&token, "authjs.session-token", later),
    ///     Err(authjs_token::DecodeError::Expired)
    /// );
    /// ```
    pub fn decode(&self, token: &str, salt: &str, now: u64) -> Result<Claims, DecodeError> {
        if token.bytes().filter(|b| *b == b'.').count() == 2 {
            #[cfg(feature = "jws")]
            return match &self.jws {
                Some(jws) => jws.decode_at(token, now),
                None => Err(DecodeError::JwsNotConfigured),
            };
            #[cfg(not(feature = "jws"))]
            return Err(DecodeError::JwsNotConfigured);
        }
        let keys = self
            .salts
            .iter()
            .find(|k| k.salt == salt)
            .ok_or(DecodeError::NoMatchingKey)?;
        decode_jwe(token, keys, now)
    }

    /// Decodes a token with each of `salts` in order (a Bearer token: the salts of the cookie
    /// names that count for the request); the first that decodes wins, the error is the
    /// first salt's.
    ///
    /// ```
    /// # use authjs_token::{SaltKeys, TokenKeys};
    /// # let secrets = ["s".to_owned()];
    /// let keys = TokenKeys {
    ///     salts: vec![
    ///         SaltKeys::derive(&secrets, "__Secure-authjs.session-token"),
    ///         SaltKeys::derive(&secrets, "authjs.session-token"),
    ///     ],
    ///     # #[cfg(feature = "jws")]
    ///     # jws: None,
    /// };
    /// let token = authjs_token::encode_with_secret(&Default::default(), "s", "authjs.session-token", 60);
    /// let now = authjs_token::now_secs();
    /// assert!(keys.decode_with_salts(&token, &["authjs.session-token"], now).is_ok());
    /// assert!(keys.decode_with_salts(&token, &["__Secure-authjs.session-token"], now).is_err());
    /// ```
    pub fn decode_with_salts<S: AsRef<str>>(
        &self,
        token: &str,
        salts: &[S],
        now: u64,
    ) -> Result<Claims, DecodeError> {
        self.decode_first(token, salts.iter().map(AsRef::as_ref), now)
    }

    /// Decodes a token with every salt in order, the first that decodes wins; the error is the
    /// first salt's. (A Bearer token read as `getToken` reads it counts only with the salts of
    /// the cookie names that count for its request: see [`TokenKeys::decode_with_salts`].)
    ///
    /// ```
    /// # use authjs_token::{SaltKeys, TokenKeys};
    /// # let secrets = ["s".to_owned()];
    /// let keys = TokenKeys {
    ///     salts: vec![
    ///         SaltKeys::derive(&secrets, "__Secure-authjs.session-token"),
    ///         SaltKeys::derive(&secrets, "authjs.session-token"),
    ///     ],
    ///     # #[cfg(feature = "jws")]
    ///     # jws: None,
    /// };
    /// let token = authjs_token::encode_with_secret(&Default::default(), "s", "authjs.session-token", 60);
    /// assert!(keys.decode_any_salt(&token, authjs_token::now_secs()).is_ok());
    /// ```
    pub fn decode_any_salt(&self, token: &str, now: u64) -> Result<Claims, DecodeError> {
        self.decode_first(token, self.salts.iter().map(|k| k.salt.as_str()), now)
    }

    /// Decodes `token` with each salt in order: the first that decodes wins; the error is the
    /// first salt's ([`DecodeError::NoMatchingKey`] when there is no salt).
    fn decode_first<'s>(
        &self,
        token: &str,
        salts: impl IntoIterator<Item = &'s str>,
        now: u64,
    ) -> Result<Claims, DecodeError> {
        let mut first = None;
        for salt in salts {
            match self.decode(token, salt, now) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or(DecodeError::NoMatchingKey))
    }
}

/// Decodes an Auth.js JWE with explicit secrets and salt, deriving the keys on every call
/// (for tooling such as a CLI; a service keeps a [`Decoder`]). Surrounding white space is
/// ignored.
///
/// ```
/// let token = authjs_token::encode_with_secret(&Default::default(), "s", "authjs.session-token", 60);
/// let claims = authjs_token::decode_with_secrets(&token, &["s".to_owned()], "authjs.session-token")?;
/// assert!(claims.jti().is_some());
/// # Ok::<(), authjs_token::DecodeError>(())
/// ```
pub fn decode_with_secrets(
    token: &str,
    secrets: &[String],
    salt: &str,
) -> Result<Claims, DecodeError> {
    decode_jwe(token.trim(), &SaltKeys::derive(secrets, salt), now_secs())
}

/// Encodes claims as Auth.js would with `secret` and `salt`; `exp` is capped at 2^53 - 1 (see
/// [`try_encode_with_secret`] to be told instead).
///
/// ```
/// let mut claims = serde_json::Map::new();
/// claims.insert("sub".into(), "u1".into());
/// let token = authjs_token::encode_with_secret(&claims, "s", "authjs.session-token", 60);
/// assert_eq!(token.split('.').count(), 5);
/// ```
pub fn encode_with_secret(
    claims: &Map<String, Value>,
    secret: &str,
    salt: &str,
    max_age: u64,
) -> String {
    encode_jwe(
        claims,
        &SecretKeys::derive(secret, salt),
        Enc::A256CbcHs512,
        max_age,
    )
}

/// Like [`encode_with_secret`], failing when `now + max_age` is past 2^53 - 1.
///
/// ```
/// let claims = serde_json::Map::new();
/// assert!(authjs_token::try_encode_with_secret(&claims, "s", "authjs.session-token", 60).is_ok());
/// ```
pub fn try_encode_with_secret(
    claims: &Map<String, Value>,
    secret: &str,
    salt: &str,
    max_age: u64,
) -> Result<String, EncodeError> {
    try_encode_jwe(
        claims,
        &SecretKeys::derive(secret, salt),
        Enc::A256CbcHs512,
        max_age,
    )
}
