//! Why a token did not decode ([`DecodeError`]) or could not be encoded ([`EncodeError`]).

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
