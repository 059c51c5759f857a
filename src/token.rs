//! Auth.js session tokens: key derivation, JWE decode/encode, signed-JWT (JWS) decoding.
//!
//! Auth.js (`@auth/core` `jwt.ts`) stores the JWT-strategy session as a compact JWE with
//! `alg: dir` and `enc: A256CBC-HS512`; the key is HKDF-SHA256 of the secret with the cookie
//! name as salt. Decoding also accepts `A256GCM`. Everything here is pure CPU work; keys are
//! derived once (per configuration) by [`SaltKeys::derive`], never per token.
//!
//! Decoding gives the verdict `@auth/core`'s `decode` (jose's `jwtDecrypt`, `clockTolerance:
//! 15`) gives: `zip: "DEF"` (inflated up to [`MAX_DECOMPRESSED_LEN`] bytes), escapes and
//! duplicate members in the header (the last one counts, as in `JSON.parse`), a leading BOM,
//! padded or whitespace-split base64url; and it refuses what jose refuses: `kid`/`zip`/`crit`
//! of the wrong type (`null` included), a header that is not an object, `iat`/`exp`/`nbf` that
//! are not numbers, replicated `iss`/`sub`/`aud` header parameters that differ from the claims.
//! `tests/fixtures/jose-edge-tokens.json` holds the cases with the real decoder's verdicts.
//!
//! Known differences, all refusals of tokens jose would take and no encoder writes: a token
//! longer than [`MAX_TOKEN_LEN`]; claims holding an unpaired UTF-16 surrogate (`"\ud800"`) or
//! a number beyond the range of a double (`1e400`); JSON nested deeper than 128 levels.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

mod header;
mod jwe;
mod jws;

pub use jwe::{MAX_DECOMPRESSED_LEN, decode_jwe, encode_jwe, encode_jwe_raw, try_encode_jwe};
pub use jws::{JwsConfigError, JwsKeys};

/// Clock tolerance Auth.js applies to `exp` and `nbf`, in seconds.
pub const CLOCK_TOLERANCE_SECS: u64 = 15;
/// Default session lifetime Auth.js gives a token, in seconds (30 days).
pub const DEFAULT_MAX_AGE_SECS: u64 = 30 * 24 * 60 * 60;
/// Longest token accepted for decoding (chunked cookies can reach tens of KB, not megabytes).
pub const MAX_TOKEN_LEN: usize = 256 * 1024;

/// Content encryption algorithms Auth.js produces or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    /// AES-256-CBC with HMAC-SHA-512 (what Auth.js encodes with).
    A256CbcHs512,
    /// AES-256-GCM (accepted on decode).
    A256Gcm,
}

impl Enc {
    /// The JOSE name of the algorithm.
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

/// Keys derived from one secret for one salt (cookie name).
#[derive(Clone)]
pub struct SecretKeys {
    cbc_key: [u8; 64],
    /// HMAC-SHA-512 keyed with the MAC half of `cbc_key` (key blocks hashed once).
    cbc_mac: HmacSha512,
    cbc_kid: String,
    gcm_key: [u8; 32],
    gcm_kid: String,
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
    /// Derives the keys Auth.js would use for `secret` and `salt`.
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
        SecretKeys {
            cbc_key,
            cbc_mac,
            cbc_kid,
            gcm_key,
            gcm_kid,
        }
    }

    /// The 64-byte A256CBC-HS512 key.
    pub fn cbc_key(&self) -> &[u8; 64] {
        &self.cbc_key
    }

    /// The `kid` Auth.js writes for this key (RFC 7638 thumbprint, SHA-512).
    pub fn cbc_kid(&self) -> &str {
        &self.cbc_kid
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
#[derive(Debug, Clone)]
pub struct SaltKeys {
    /// The salt (the session cookie name).
    pub salt: String,
    /// Keys per secret, in the configured order (newest first).
    pub secrets: Vec<SecretKeys>,
}

impl SaltKeys {
    /// Derives keys for every secret with this salt.
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

/// Decoded token claims (a JSON object), with typed accessors for the standard ones.
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
    pub fn sub(&self) -> Option<&str> {
        self.str_claim("sub")
    }
    /// `name`.
    pub fn name(&self) -> Option<&str> {
        self.str_claim("name")
    }
    /// `email`.
    pub fn email(&self) -> Option<&str> {
        self.str_claim("email")
    }
    /// `picture`.
    pub fn picture(&self) -> Option<&str> {
        self.str_claim("picture")
    }
    /// `jti`.
    pub fn jti(&self) -> Option<&str> {
        self.str_claim("jti")
    }
    /// `exp`, seconds since the epoch.
    pub fn exp(&self) -> Option<u64> {
        self.num_claim("exp")
    }
    /// `iat`, seconds since the epoch.
    pub fn iat(&self) -> Option<u64> {
        self.num_claim("iat")
    }
    /// Any claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// Why a token did not decode. Callers of the library see `None`; the CLI prints the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// `now + max_age` is past 2^53 - 1 seconds, beyond what JavaScript reads exactly.
    #[error(
        "max age {max_age} s is too large: the expiry (now + max age) must be at most 2^53 - 1 seconds since the epoch"
    )]
    MaxAgeTooLarge {
        /// The refused lifetime, in seconds.
        max_age: u64,
    },
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Largest integer JavaScript holds exactly (2^53 - 1): the latest `exp` a token may carry.
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

/// Everything needed to decode session tokens for one configuration.
#[derive(Debug, Clone)]
pub struct TokenKeys {
    /// Keys per candidate salt, in lookup order.
    pub salts: Vec<SaltKeys>,
    /// Signed-JWT rules, when configured.
    pub jws: Option<JwsKeys>,
}

impl TokenKeys {
    /// Decodes `token` read from the cookie `salt` (a JWE), or as a JWS when it has three parts
    /// and JWS decoding is configured.
    pub fn decode(&self, token: &str, salt: &str, now: u64) -> Result<Claims, DecodeError> {
        if token.bytes().filter(|b| *b == b'.').count() == 2 {
            return match &self.jws {
                Some(jws) => jws.decode_at(token, now),
                None => Err(DecodeError::JwsNotConfigured),
            };
        }
        let keys = self
            .salts
            .iter()
            .find(|k| k.salt == salt)
            .ok_or(DecodeError::NoMatchingKey)?;
        decode_jwe(token, keys, now)
    }
}

/// Decodes an Auth.js JWE with explicit secrets and salt (for tooling such as the CLI).
pub fn decode_with_secrets(
    token: &str,
    secrets: &[String],
    salt: &str,
) -> Result<Claims, DecodeError> {
    decode_jwe(token.trim(), &SaltKeys::derive(secrets, salt), now_secs())
}

/// Encodes claims as Auth.js would with `secret` and `salt` (for tooling such as the CLI);
/// `exp` is capped at 2^53 - 1 (see [`try_encode_with_secret`] to be told instead).
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
