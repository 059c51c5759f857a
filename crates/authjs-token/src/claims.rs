//! [`Claims`], the decoded payload, and the time rules Auth.js applies to it: the clock,
//! the `exp`/`nbf` tolerance, the default and the largest `exp`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::error::DecodeError;

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

/// Largest integer JavaScript holds exactly (2^53 - 1): the latest `exp` a token may carry.
/// `Number.MAX_SAFE_INTEGER`.
///
/// ```
/// assert_eq!(authjs_token::MAX_SAFE_INTEGER, 9_007_199_254_740_991);
/// ```
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

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

/// jose's time checks with Auth.js's tolerance: `iat`, `nbf` and `exp`, when present, must be
/// JSON numbers (any number: `1.5` is fine, `"1"` and `null` are not); `nbf > now + 15` is not
/// yet valid, `exp <= now - 15` has expired.
pub(crate) fn check_time(claims: &Map<String, Value>, now: u64) -> Result<(), DecodeError> {
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
