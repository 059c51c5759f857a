//! Signed JWTs (JWS), for deployments that replaced Auth.js's encoder with jose's `SignJWT`.
//!
//! `jsonwebtoken` checks the signature and the algorithm allow-list; the claims are then checked
//! as jose's `jwtVerify` checks them with `clockTolerance: 15` and the configured `audience` and
//! `issuer` (jsonwebtoken's own claim rules differ: `exp` boundary, integer-only times, `aud`
//! refused when no audience is set, an `iss` array accepted).

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::claims::{Claims, check_time, now_secs};
use crate::error::DecodeError;
use crate::jwe::check_token_len;

/// Keys and rules for signed JWTs (JWS), for deployments that replaced Auth.js's encoder.
/// `Debug` shows the algorithms, audience and issuer, never the key.
///
/// ```
/// let jws = authjs_token::JwsKeys::new(&["HS256".into()], "shared secret")?;
/// assert!(!format!("{jws:?}").contains("shared secret"));
/// # Ok::<(), authjs_token::JwsConfigError>(())
/// ```
#[derive(Clone)]
pub struct JwsKeys {
    key: DecodingKey,
    validation: Validation,
    audience: Vec<String>,
    issuer: Vec<String>,
}

impl fmt::Debug for JwsKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwsKeys")
            .field("algorithms", &self.validation.algorithms)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Why a JWS configuration was refused.
///
/// ```
/// let err = authjs_token::JwsKeys::new(&["none".into()], "k").unwrap_err();
/// assert!(matches!(err, authjs_token::JwsConfigError::UnknownAlgorithm(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsConfigError {
    /// An algorithm name jsonwebtoken does not know (or `none`).
    #[error("unknown algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// The allow-list is empty.
    #[error("at least one algorithm is required")]
    NoAlgorithms,
    /// HMAC and public-key algorithms mixed in one list (algorithm confusion).
    #[error("algorithms must all be of one family (HS*, RS*/PS*, ES*, or EdDSA)")]
    MixedFamilies,
    /// The key could not be read for that family.
    #[error("key is not valid for {0}: {1}")]
    BadKey(&'static str, String),
}

fn family(alg: Algorithm) -> &'static str {
    use Algorithm::*;
    match alg {
        HS256 | HS384 | HS512 => "HMAC",
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => "RSA",
        ES256 | ES384 => "EC",
        EdDSA => "EdDSA",
    }
}

impl JwsKeys {
    /// Builds JWS decoding rules from an allow-list and a key: the shared secret for `HS*`,
    /// a PEM public key for the others. No audience or issuer is required until set with
    /// [`JwsKeys::with_audience`] / [`JwsKeys::with_issuer`].
    ///
    /// ```
    /// use authjs_token::{JwsConfigError, JwsKeys};
    /// assert!(JwsKeys::new(&["HS256".into(), "HS512".into()], "k").is_ok());
    /// assert_eq!(
    ///     JwsKeys::new(&["HS256".into(), "RS256".into()], "k").unwrap_err(),
    ///     JwsConfigError::MixedFamilies
    /// );
    /// ```
    pub fn new(algorithms: &[String], key: &str) -> Result<Self, JwsConfigError> {
        let algs = algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| JwsConfigError::UnknownAlgorithm(a.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let first = *algs.first().ok_or(JwsConfigError::NoAlgorithms)?;
        let fam = family(first);
        if algs.iter().any(|a| family(*a) != fam) {
            return Err(JwsConfigError::MixedFamilies);
        }
        if fam != "HMAC" {
            check_public_key(&algs, fam, key)?;
        }
        let bad = |e: jsonwebtoken::errors::Error| JwsConfigError::BadKey(fam, e.to_string());
        let key = match fam {
            "HMAC" => DecodingKey::from_secret(key.as_bytes()),
            "RSA" => DecodingKey::from_rsa_pem(key.as_bytes()).map_err(bad)?,
            "EC" => DecodingKey::from_ec_pem(key.as_bytes()).map_err(bad)?,
            _ => DecodingKey::from_ed_pem(key.as_bytes()).map_err(bad)?,
        };
        // Signature and algorithm only: the claims are checked by `check_claims`.
        let mut validation = Validation::new(first);
        validation.algorithms = algs;
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        Ok(JwsKeys {
            key,
            validation,
            audience: Vec::new(),
            issuer: Vec::new(),
        })
    }

    /// Requires an `aud` claim naming one of `audience` (jose's `audience` option: a string
    /// `aud` in the list, or an array `aud` with at least one member in it). Empty: any `aud`.
    ///
    /// ```
    /// let jws = authjs_token::JwsKeys::new(&["HS256".into()], "k")?.with_audience(&["api".into()]);
    /// # Ok::<(), authjs_token::JwsConfigError>(())
    /// ```
    pub fn with_audience(mut self, audience: &[String]) -> Self {
        self.audience = audience.to_vec();
        self
    }

    /// Requires an `iss` claim equal to one of `issuer` (jose's `issuer` option). Empty: any.
    ///
    /// ```
    /// let jws = authjs_token::JwsKeys::new(&["HS256".into()], "k")?
    ///     .with_issuer(&["https://issuer.example".into()]);
    /// # Ok::<(), authjs_token::JwsConfigError>(())
    /// ```
    pub fn with_issuer(mut self, issuer: &[String]) -> Self {
        self.issuer = issuer.to_vec();
        self
    }

    /// Verifies and decodes a compact JWS now.
    ///
    /// ```
    /// let jws = authjs_token::JwsKeys::new(&["HS256".into()], "k")?;
    /// assert!(jws.decode("a.b.c").is_err());
    /// # Ok::<(), authjs_token::JwsConfigError>(())
    /// ```
    pub fn decode(&self, token: &str) -> Result<Claims, DecodeError> {
        self.decode_at(token, now_secs())
    }

    /// Verifies and decodes a compact JWS at `now` (seconds since the epoch).
    ///
    /// ```
    /// let jws = authjs_token::JwsKeys::new(&["HS256".into()], "k")?;
    /// assert!(jws.decode_at("a.b.c", 0).is_err());
    /// # Ok::<(), authjs_token::JwsConfigError>(())
    /// ```
    pub fn decode_at(&self, token: &str, now: u64) -> Result<Claims, DecodeError> {
        use jsonwebtoken::errors::ErrorKind;
        check_token_len(token)?;
        check_crit(token)?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    DecodeError::Unsupported("JWS alg not in the allow-list".into())
                }
                ErrorKind::InvalidSignature => DecodeError::Decryption,
                _ => DecodeError::Malformed("invalid signed JWT"),
            })?;
        self.check_claims(&claims, now)?;
        Ok(Claims(claims))
    }

    /// jose's `validateClaimsSet` for the options this mode has.
    fn check_claims(&self, claims: &Map<String, Value>, now: u64) -> Result<(), DecodeError> {
        if !self.issuer.is_empty() {
            let iss = claims
                .get("iss")
                .ok_or(DecodeError::InvalidClaim("iss missing"))?;
            if !iss
                .as_str()
                .is_some_and(|i| self.issuer.iter().any(|x| x == i))
            {
                return Err(DecodeError::InvalidClaim("unexpected iss"));
            }
        }
        if !self.audience.is_empty() {
            let aud = claims
                .get("aud")
                .ok_or(DecodeError::InvalidClaim("aud missing"))?;
            let listed = |v: &Value| {
                v.as_str()
                    .is_some_and(|a| self.audience.iter().any(|x| x == a))
            };
            let ok = match aud {
                Value::Array(items) => items.iter().any(listed),
                v => listed(v),
            };
            if !ok {
                return Err(DecodeError::InvalidClaim("unexpected aud"));
            }
        }
        check_time(claims, now)
    }
}

/// A `crit` header is refused, whatever it lists: jose's `jwtVerify` refuses every extension
/// but `b64` (and a JWT must not use that one to leave its payload unencoded), and
/// jsonwebtoken understands none, so nothing a `crit` header asks for is ever honoured.
fn check_crit(token: &str) -> Result<(), DecodeError> {
    use base64::Engine;
    let header = token.split('.').next().unwrap_or_default();
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        // Not base64url: jsonwebtoken refuses it as malformed.
        return Ok(());
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(header)) if header.contains_key("crit") => {
            Err(DecodeError::Unsupported("JWS crit header".into()))
        }
        _ => Ok(()),
    }
}

/// Smallest RSA modulus jose accepts for `RS*`/`PS*`, in bits.
const MIN_RSA_BITS: usize = 2048;
/// The DER of the named-curve OIDs: P-256 (`1.2.840.10045.3.1.7`) and P-384 (`1.3.132.0.34`).
const P256_OID: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];

/// Refuses a PEM key that could never verify a token of `algs`: a private key, an RSA key
/// under [`MIN_RSA_BITS`] (jose refuses them), or an EC key on another curve than an allowed
/// algorithm needs. What it can not read is left to jsonwebtoken, which names the problem.
fn check_public_key(
    algs: &[Algorithm],
    fam: &'static str,
    pem: &str,
) -> Result<(), JwsConfigError> {
    use base64::Engine;
    let bad = |why: String| JwsConfigError::BadKey(fam, why);
    let Some((label, body)) = pem_parts(pem) else {
        return Ok(());
    };
    if label.contains("PRIVATE") {
        return Err(bad(format!(
            "is a private key ({label}): configure the public key, a private key never verifies here"
        )));
    }
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return Ok(());
    };
    match fam {
        "RSA" => {
            if let Some(bits) = rsa_modulus_bits(&der, label == "RSA PUBLIC KEY")
                && bits < MIN_RSA_BITS
            {
                return Err(bad(format!(
                    "is a {bits}-bit RSA key: at least {MIN_RSA_BITS} bits are needed (jose refuses smaller ones)"
                )));
            }
        }
        "EC" => {
            let has = |oid: &[u8]| der.windows(oid.len()).any(|w| w == oid);
            for alg in algs {
                let (needs, oid) = match alg {
                    Algorithm::ES256 => ("P-256", P256_OID),
                    _ => ("P-384", P384_OID),
                };
                if !has(oid) {
                    return Err(bad(format!(
                        "is not on the curve {alg:?} needs ({needs}): it could never verify {alg:?}"
                    )));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The label and the base64 body of a PEM block.
fn pem_parts(pem: &str) -> Option<(&str, String)> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let label_end = start + pem[start..].find("-----")?;
    let label = &pem[start..label_end];
    let body_start = label_end + "-----".len();
    let end = body_start + pem[body_start..].find("-----END")?;
    let body = pem[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some((label, body))
}

/// One DER element: its tag, its content, and what follows it.
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The modulus size of an RSA public key (SubjectPublicKeyInfo, or PKCS#1 when `pkcs1`).
fn rsa_modulus_bits(der: &[u8], pkcs1: bool) -> Option<usize> {
    let rsa_key = if pkcs1 {
        der
    } else {
        let (_, spki, _) = der_element(der)?;
        let (_, _algorithm, rest) = der_element(spki)?;
        let (tag, bits, _) = der_element(rest)?;
        // A BIT STRING with no unused bits.
        if tag != 0x03 {
            return None;
        }
        bits.get(1..)?
    };
    let (_, sequence, _) = der_element(rsa_key)?;
    let (tag, modulus, _) = der_element(sequence)?;
    if tag != 0x02 {
        return None;
    }
    let modulus = &modulus[modulus.iter().position(|b| *b != 0)?..];
    Some(modulus.len() * 8 - modulus[0].leading_zeros() as usize)
}
