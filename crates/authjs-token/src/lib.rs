//! Decode and encode [Auth.js](https://authjs.dev) (next-auth v5) session tokens exactly as
//! `@auth/core` 0.41 does, from any Rust service: no web framework, no async runtime, no I/O.
//!
//! * [`Decoder`]: the front door. Keys are derived once from your `AUTH_SECRET`(s); then
//!   [`Decoder::decode`] reads a token, [`Decoder::from_cookie_header`] reads the session
//!   straight from a `Cookie` header (chunked cookies reassembled), and
//!   [`Decoder::from_headers`] adds the `Authorization: Bearer` fallback.
//! * [`encode`] writes a token Auth.js reads back (A256CBC-HS512, `kid`, `iat`/`exp`/`jti`).
//! * [`cookie`]: the cookie rules on their own (names, chunk reassembly, Bearer).
//! * Lower level: [`SecretKeys`] / [`SaltKeys`] / [`TokenKeys`], [`decode_jwe`], [`encode_jwe`].
//!
//! ```
//! use authjs_token::Decoder;
//!
//! let decoder = Decoder::new(["my AUTH_SECRET"]);
//! let token = authjs_token::encode(
//!     &serde_json::json!({ "sub": "user-1", "name": "Ada" }),
//!     "my AUTH_SECRET",
//!     "authjs.session-token",
//!     3600,
//! )?;
//! let header = format!("theme=dark; authjs.session-token={token}");
//! let claims = decoder.from_cookie_header(header.as_bytes(), false)?;
//! assert_eq!(claims.sub(), Some("user-1"));
//! assert_eq!(claims.name(), Some("Ada"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is accepted
//!
//! Auth.js (`@auth/core` `jwt.ts`) stores the JWT-strategy session as a compact JWE with
//! `alg: dir` and `enc: A256CBC-HS512`; the key is HKDF-SHA256 of the secret with the cookie
//! name as salt. Decoding also accepts `A256GCM`. With several secrets (rotation, newest
//! first) a token's `kid` picks the secret; a token without `kid` is tried with the first.
//!
//! Decoding gives the verdict `@auth/core`'s `decode` (jose's `jwtDecrypt`, `clockTolerance:
//! 15`) gives: `zip: "DEF"` (inflated up to [`MAX_DECOMPRESSED_LEN`] bytes), escapes and
//! duplicate members in the header (the last one counts, as in `JSON.parse`), a leading BOM,
//! padded or whitespace-split base64url; and it refuses what jose refuses: `kid`/`zip`/`crit`
//! of the wrong type (`null` included), a header that is not an object, `iat`/`exp`/`nbf` that
//! are not numbers, replicated `iss`/`sub`/`aud` header parameters that differ from the claims.
//! The conformance vectors in `tests/vectors/` (see `tests/vectors/README.md`) hold tokens made
//! by `@auth/core` and jose with the real decoder's verdicts.
//!
//! Known differences, all refusals of tokens jose would take and no encoder writes: a token
//! longer than [`MAX_TOKEN_LEN`]; claims holding an unpaired UTF-16 surrogate (`"\ud800"`) or
//! a number beyond the range of a double (`1e400`); JSON nested deeper than 128 levels.
//!
//! # Features
//!
//! * `jws` (off by default): `JwsKeys`, signed JWTs for deployments that replaced Auth.js's
//!   encoder with jose's `SignJWT` (pulls in `jsonwebtoken`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

pub mod cookie;
mod decoder;
mod header;
mod jwe;
#[cfg(feature = "jws")]
mod jws;

pub use decoder::{Decoder, encode};
pub use jwe::{MAX_DECOMPRESSED_LEN, decode_jwe, encode_jwe, encode_jwe_raw, try_encode_jwe};
#[cfg(feature = "jws")]
pub use jws::{JwsConfigError, JwsKeys};

/// Clock tolerance Auth.js applies to `exp` and `nbf`, in seconds.
///
/// ```
/// assert_eq!(authjs_token::CLOCK_TOLERANCE_SECS, 15);
/// ```
pub const CLOCK_TOLERANCE_SECS: u64 = 15;
/// Default session lifetime Auth.js gives a token, in seconds (30 days).
///
/// ```
/// assert_eq!(authjs_token::DEFAULT_MAX_AGE_SECS, 2_592_000);
/// ```
pub const DEFAULT_MAX_AGE_SECS: u64 = 30 * 24 * 60 * 60;
/// Longest token accepted for decoding (chunked cookies can reach tens of KB, not megabytes).
///
/// ```
/// let long = "a".repeat(authjs_token::MAX_TOKEN_LEN + 1);
/// assert!(authjs_token::Decoder::new(["s"]).decode(&long, "authjs.session-token").is_err());
/// ```
pub const MAX_TOKEN_LEN: usize = 256 * 1024;

/// Content encryption algorithms Auth.js produces or accepts.
///
/// ```
/// assert_eq!(authjs_token::Enc::A256CbcHs512.as_str(), "A256CBC-HS512");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    /// AES-256-CBC with HMAC-SHA-512 (what Auth.js encodes with).
    A256CbcHs512,
    /// AES-256-GCM (accepted on decode).
    A256Gcm,
}

impl Enc {
    /// The JOSE name of the algorithm.
    ///
    /// ```
    /// assert_eq!(authjs_token::Enc::A256Gcm.as_str(), "A256GCM");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Enc::A256CbcHs512 => "A256CBC-HS512",
            Enc::A256Gcm => "A256GCM",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "A256CBC-HS512" => Some(Enc::A256CbcHs512),
            "A256GCM" => Some(Enc::A256Gcm),
            _ => None,
        }
    }
}

/// Keys derived from one secret for one salt (cookie name). `Debug` shows only the `kid`s.
///
/// ```
/// let keys = authjs_token::SecretKeys::derive("secret", "authjs.session-token");
/// assert!(!format!("{keys:?}").contains("cbc_key"));
/// ```
#[derive(Clone)]
pub struct SecretKeys {
    cbc_key: [u8; 64],
    /// HMAC-SHA-512 keyed with the MAC half of `cbc_key` (key blocks hashed once).
    cbc_mac: HmacSha512,
    /// AES-256 decryption round keys of the encryption half of `cbc_key` (expanded once).
    cbc_dec: aes::Aes256Dec,
    cbc_kid: String,
    gcm_key: [u8; 32],
    gcm_kid: String,
    /// The encoded protected headers Auth.js writes with this key, per `enc`.
    cbc_header: String,
    gcm_header: String,
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeys")
            .field("cbc_kid", &self.cbc_kid)
            .field("gcm_kid", &self.gcm_kid)
            .finish_non_exhaustive()
    }
}

impl SecretKeys {
    /// Derives the keys Auth.js would use for `secret` and `salt` (HKDF-SHA256, info
    /// `Auth.js Generated Encryption Key (<salt>)`).
    ///
    /// ```
    /// let keys = authjs_token::SecretKeys::derive("secret", "authjs.session-token");
    /// assert_eq!(keys.cbc_key().len(), 64);
    /// ```
    pub fn derive(secret: &str, salt: &str) -> Self {
        let info = format!("Auth.js Generated Encryption Key ({salt})");
        let hk = hkdf::Hkdf::<Sha256>::new(Some(salt.as_bytes()), secret.as_bytes());
        let mut cbc_key = [0u8; 64];
        let mut gcm_key = [0u8; 32];
        // Lengths 64 and 32 are far below HKDF-SHA256's limit of 255 * 32 bytes.
        hk.expand(info.as_bytes(), &mut cbc_key)
            .expect("64 bytes is a valid HKDF-SHA256 length");
        hk.expand(info.as_bytes(), &mut gcm_key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        let cbc_kid = thumbprint::<Sha512>(&cbc_key);
        let gcm_kid = thumbprint::<Sha256>(&gcm_key);
        let cbc_mac =
            <HmacSha512 as Mac>::new_from_slice(&cbc_key[..32]).expect("HMAC takes any key length");
        let cbc_dec = <aes::Aes256Dec as aes::cipher::KeyInit>::new_from_slice(&cbc_key[32..])
            .expect("the second half of a 64-byte key is 32 bytes");
        let header = |enc: Enc, kid: &str| {
            B64.encode(format!(
                r#"{{"alg":"dir","enc":"{}","kid":"{kid}"}}"#,
                enc.as_str()
            ))
        };
        let cbc_header = header(Enc::A256CbcHs512, &cbc_kid);
        let gcm_header = header(Enc::A256Gcm, &gcm_kid);
        SecretKeys {
            cbc_header,
            gcm_header,
            cbc_key,
            cbc_mac,
            cbc_dec,
            cbc_kid,
            gcm_key,
            gcm_kid,
        }
    }

    /// The 64-byte A256CBC-HS512 key.
    ///
    /// ```
    /// let keys = authjs_token::SecretKeys::derive("secret", "authjs.session-token");
    /// assert_ne!(keys.cbc_key(), &[0u8; 64]);
    /// ```
    pub fn cbc_key(&self) -> &[u8; 64] {
        &self.cbc_key
    }

    /// The `kid` Auth.js writes for this key (RFC 7638 thumbprint, SHA-512).
    ///
    /// ```
    /// let keys = authjs_token::SecretKeys::derive("secret", "authjs.session-token");
    /// assert_eq!(keys.cbc_kid().len(), 86); // 64 bytes, base64url
    /// ```
    pub fn cbc_kid(&self) -> &str {
        &self.cbc_kid
    }

    /// Whether `h` is, byte for byte, the encoded header Auth.js writes with this key (as
    /// [`encode_jwe`] writes it), and for which `enc`.
    fn written_header(&self, h: &str) -> Option<(&Self, Enc)> {
        if h == self.cbc_header {
            Some((self, Enc::A256CbcHs512))
        } else if h == self.gcm_header {
            Some((self, Enc::A256Gcm))
        } else {
            None
        }
    }

    fn for_enc(&self, enc: Enc) -> (&[u8], &str) {
        match enc {
            Enc::A256CbcHs512 => (&self.cbc_key, &self.cbc_kid),
            Enc::A256Gcm => (&self.gcm_key, &self.gcm_kid),
        }
    }
}

/// RFC 7638 thumbprint of `{"k":"<b64url key>","kty":"oct"}`, base64url without padding.
fn thumbprint<D: Digest>(key: &[u8]) -> String {
    let jwk = format!(r#"{{"k":"{}","kty":"oct"}}"#, B64.encode(key));
    B64.encode(D::digest(jwk.as_bytes()))
}

/// All keys for one salt: one [`SecretKeys`] per configured secret, newest first.
///
/// ```
/// let secrets = ["new".to_owned(), "old".to_owned()];
/// let keys = authjs_token::SaltKeys::derive(&secrets, "authjs.session-token");
/// assert_eq!(keys.secrets.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct SaltKeys {
    /// The salt (the session cookie name).
    pub salt: String,
    /// Keys per secret, in the configured order (newest first).
    pub secrets: Vec<SecretKeys>,
}

impl SaltKeys {
    /// Derives keys for every secret with this salt.
    ///
    /// ```
    /// let keys = authjs_token::SaltKeys::derive(&["s".to_owned()], "authjs.session-token");
    /// assert_eq!(keys.salt, "authjs.session-token");
    /// ```
    pub fn derive(secrets: &[String], salt: &str) -> Self {
        SaltKeys {
            salt: salt.to_owned(),
            secrets: secrets
                .iter()
                .map(|s| SecretKeys::derive(s, salt))
                .collect(),
        }
    }
}

/// Decoded token claims: the JSON object as decoded (every member kept, in a map), with typed
/// accessors for the standard claims and [`Claims::deserialize_into`] for your own type.
///
/// `Debug` prints the claims (they are the session's contents, not a credential).
///
/// ```
/// use authjs_token::Claims;
/// let claims: Claims = serde_json::from_str(
///     r#"{"sub":"u1","email":"ada@example.com","exp":2000000000,"role":"admin"}"#,
/// )?;
/// assert_eq!(claims.sub(), Some("u1"));
/// assert_eq!(claims.exp(), Some(2_000_000_000));
/// assert_eq!(claims.get("role"), Some(&serde_json::json!("admin")));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    fn str_claim(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }
    fn num_claim(&self, name: &str) -> Option<u64> {
        self.0.get(name).and_then(Value::as_u64)
    }
    /// `sub`: the user id.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"sub":"u1"}"#).unwrap();
    /// assert_eq!(claims.sub(), Some("u1"));
    /// ```
    pub fn sub(&self) -> Option<&str> {
        self.str_claim("sub")
    }
    /// `name`.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"name":"Ada"}"#).unwrap();
    /// assert_eq!(claims.name(), Some("Ada"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.str_claim("name")
    }
    /// `email`.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"email":"a@b.c"}"#).unwrap();
    /// assert_eq!(claims.email(), Some("a@b.c"));
    /// ```
    pub fn email(&self) -> Option<&str> {
        self.str_claim("email")
    }
    /// `picture`.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"picture":"p.png"}"#).unwrap();
    /// assert_eq!(claims.picture(), Some("p.png"));
    /// ```
    pub fn picture(&self) -> Option<&str> {
        self.str_claim("picture")
    }
    /// `jti`: the token id (Auth.js writes a random UUID).
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"jti":"j"}"#).unwrap();
    /// assert_eq!(claims.jti(), Some("j"));
    /// ```
    pub fn jti(&self) -> Option<&str> {
        self.str_claim("jti")
    }
    /// `iss`: the issuer.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"iss":"me"}"#).unwrap();
    /// assert_eq!(claims.iss(), Some("me"));
    /// ```
    pub fn iss(&self) -> Option<&str> {
        self.str_claim("iss")
    }
    /// `aud`: the audiences, whether the claim is one string or an array of them.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"aud":["a","b"]}"#).unwrap();
    /// assert_eq!(claims.aud(), vec!["a", "b"]);
    /// ```
    pub fn aud(&self) -> Vec<&str> {
        match self.0.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
    /// `exp`, seconds since the epoch.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"exp":1700000000}"#).unwrap();
    /// assert_eq!(claims.exp(), Some(1_700_000_000));
    /// ```
    pub fn exp(&self) -> Option<u64> {
        self.num_claim("exp")
    }
    /// `iat`, seconds since the epoch.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"iat":1700000000}"#).unwrap();
    /// assert_eq!(claims.iat(), Some(1_700_000_000));
    /// ```
    pub fn iat(&self) -> Option<u64> {
        self.num_claim("iat")
    }
    /// `nbf`, seconds since the epoch.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"nbf":1700000000}"#).unwrap();
    /// assert_eq!(claims.nbf(), Some(1_700_000_000));
    /// ```
    pub fn nbf(&self) -> Option<u64> {
        self.num_claim("nbf")
    }
    /// Any claim by name.
    ///
    /// ```
    /// # let claims: authjs_token::Claims = serde_json::from_str(r#"{"role":"admin"}"#).unwrap();
    /// assert_eq!(claims.get("role").and_then(|v| v.as_str()), Some("admin"));
    /// ```
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
    /// Reads the claims into your own type (the claims your `jwt` callback adds).
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Mine {
    ///     sub: String,
    ///     role: String,
    /// }
    /// # let claims: authjs_token::Claims =
    /// #     serde_json::from_str(r#"{"sub":"u1","role":"admin"}"#).unwrap();
    /// let mine: Mine = claims.deserialize_into()?;
    /// assert_eq!((mine.sub.as_str(), mine.role.as_str()), ("u1", "admin"));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn deserialize_into<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.0)
    }
}

/// Why a token did not decode.
///
/// ```
/// let err = authjs_token::Decoder::new(["s"]).decode("not a token", "authjs.session-token");
/// assert!(matches!(err, Err(authjs_token::DecodeError::Malformed(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// No session cookie and no Bearer token in the request.
    #[error("no session token")]
    Missing,
    /// Not a compact JWE/JWS, bad base64, bad JSON, oversized.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg`/`enc` not accepted.
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    /// No configured secret has a matching `kid`.
    #[error("no matching decryption secret")]
    NoMatchingKey,
    /// Authentication tag or signature check failed (tampered, wrong secret or salt).
    #[error("decryption failed")]
    Decryption,
    /// `exp` is in the past (beyond the clock tolerance).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the clock tolerance).
    #[error("token not yet valid")]
    NotYetValid,
    /// Signed JWT present but JWS decoding is not configured.
    #[error("signed JWTs are not configured")]
    JwsNotConfigured,
    /// A claim check failed: a time claim that is not a number, a replicated header parameter
    /// that differs from its claim, an unexpected `aud` or `iss` (JWS).
    #[error("claim check failed: {0}")]
    InvalidClaim(&'static str),
}

/// Why a token could not be encoded.
///
/// ```
/// let claims = serde_json::Map::new();
/// let err = authjs_token::try_encode_with_secret(&claims, "s", "authjs.session-token", u64::MAX);
/// assert!(matches!(err, Err(authjs_token::EncodeError::MaxAgeTooLarge { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// `now + max_age` is past 2^53 - 1 seconds, beyond what JavaScript reads exactly.
    #[error(
        "max age {max_age} s is too large: the expiry (now + max age) must be at most 2^53 - 1 seconds since the epoch"
    )]
    MaxAgeTooLarge {
        /// The refused lifetime, in seconds.
        max_age: u64,
    },
    /// The claims do not serialize to a JSON object.
    #[error("claims must serialize to a JSON object")]
    InvalidClaims,
}

/// Seconds since the Unix epoch (0 when the clock is before it).
///
/// ```
/// assert!(authjs_token::now_secs() > 1_700_000_000);
/// ```
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Largest integer JavaScript holds exactly (2^53 - 1): the latest `exp` a token may carry.
/// `Number.MAX_SAFE_INTEGER`.
///
/// ```
/// assert_eq!(authjs_token::MAX_SAFE_INTEGER, 9_007_199_254_740_991);
/// ```
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

type HmacSha512 = Hmac<Sha512>;

/// jose's time checks with Auth.js's tolerance: `iat`, `nbf` and `exp`, when present, must be
/// JSON numbers (any number: `1.5` is fine, `"1"` and `null` are not); `nbf > now + 15` is not
/// yet valid, `exp <= now - 15` has expired.
fn check_time(claims: &Map<String, Value>, now: u64) -> Result<(), DecodeError> {
    let num = |name: &str| -> Result<Option<f64>, DecodeError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or(DecodeError::InvalidClaim("iat, exp or nbf is not a number")),
        }
    };
    num("iat")?;
    let now = now as f64;
    let tol = CLOCK_TOLERANCE_SECS as f64;
    if let Some(exp) = num("exp")?
        && exp <= now - tol
    {
        return Err(DecodeError::Expired);
    }
    if let Some(nbf) = num("nbf")?
        && nbf > now + tol
    {
        return Err(DecodeError::NotYetValid);
    }
    Ok(())
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
        let mut first = None;
        for salt in salts {
            match self.decode(token, salt.as_ref(), now) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or(DecodeError::NoMatchingKey))
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
        let mut first = None;
        for k in &self.salts {
            match self.decode(token, &k.salt, now) {
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

#[cfg(test)]
mod tests;

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
