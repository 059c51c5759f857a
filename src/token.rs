//! Auth.js session tokens: key derivation, JWE decode/encode, signed-JWT (JWS) decoding.
//!
//! Auth.js (`@auth/core` `jwt.ts`) stores the JWT-strategy session as a compact JWE with
//! `alg: dir` and `enc: A256CBC-HS512`; the key is HKDF-SHA256 of the secret with the cookie
//! name as salt. Decoding also accepts `A256GCM`. Everything here is pure CPU work; keys are
//! derived once (per configuration) by [`SaltKeys::derive`], never per token.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

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
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Decodes an Auth.js JWE with the keys of one salt.
///
/// With a `kid`, the secret whose thumbprint matches is used; without one, only the first.
pub fn decode_jwe(token: &str, keys: &SaltKeys, now: u64) -> Result<Claims, DecodeError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(DecodeError::Malformed("token too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(ek), Some(iv), Some(ct), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(DecodeError::Malformed("expected five dot-separated parts"));
    };
    let header_json = b64(h)?;
    let header: JweHeader<'_> = serde_json::from_slice(&header_json)
        .map_err(|_| DecodeError::Malformed("header is not a valid JWE header"))?;
    if header.alg != Some("dir") {
        return Err(DecodeError::Unsupported(format!("alg {:?}", header.alg)));
    }
    if header.zip.is_some() || header.crit.is_some() {
        return Err(DecodeError::Unsupported("zip/crit header".into()));
    }
    let enc = header
        .enc
        .and_then(Enc::parse)
        .ok_or_else(|| DecodeError::Unsupported(format!("enc {:?}", header.enc)))?;
    if !ek.is_empty() {
        return Err(DecodeError::Malformed(
            "unexpected encrypted key for alg dir",
        ));
    }
    let secret = match header.kid {
        None => keys.secrets.first(),
        Some(kid) => keys.secrets.iter().find(|k| k.for_enc(enc).1 == kid),
    }
    .ok_or(DecodeError::NoMatchingKey)?;
    let (key, _) = secret.for_enc(enc);
    let mut iv_buf = [0u8; 16];
    let iv = b64_into(iv, &mut iv_buf)?;
    let mut tag_buf = [0u8; 32];
    let tag = b64_into(tag, &mut tag_buf)?;
    let ct = b64(ct)?;
    let aad = h.as_bytes();
    let plaintext = match enc {
        Enc::A256CbcHs512 => cbc_hs512_decrypt(secret, aad, iv, &ct, tag)?,
        Enc::A256Gcm => gcm_decrypt(key, aad, iv, &ct, tag)?,
    };
    let claims: Map<String, Value> = serde_json::from_slice(&plaintext)
        .map_err(|_| DecodeError::Malformed("payload is not a JSON object"))?;
    check_time(&claims, now)?;
    Ok(Claims(claims))
}

/// The protected header fields that matter for `dir` JWEs (strings borrowed from the input).
#[derive(serde::Deserialize)]
struct JweHeader<'a> {
    #[serde(borrow, default)]
    alg: Option<&'a str>,
    #[serde(borrow, default)]
    enc: Option<&'a str>,
    #[serde(borrow, default)]
    kid: Option<&'a str>,
    #[serde(default)]
    zip: Option<Value>,
    #[serde(default)]
    crit: Option<Value>,
}

/// Decodes a short base64url part into `buf` (longer parts are refused: no IV or tag is).
fn b64_into<'b>(s: &str, buf: &'b mut [u8]) -> Result<&'b [u8], DecodeError> {
    if s.len() > base64::encoded_len(buf.len(), false).unwrap_or(0) {
        return Err(DecodeError::Decryption);
    }
    let n = B64
        .decode_slice(s, buf)
        .map_err(|_| DecodeError::Malformed("invalid base64url"))?;
    Ok(&buf[..n])
}

fn b64(s: &str) -> Result<Vec<u8>, DecodeError> {
    B64.decode(s)
        .map_err(|_| DecodeError::Malformed("invalid base64url"))
}

fn check_time(claims: &Map<String, Value>, now: u64) -> Result<(), DecodeError> {
    let num = |name: &str| -> Result<Option<f64>, DecodeError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or(DecodeError::Malformed("time claim is not a number")),
        }
    };
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

type HmacSha512 = Hmac<Sha512>;

fn cbc_mac(keyed: &HmacSha512, aad: &[u8], iv: &[u8], ct: &[u8]) -> HmacSha512 {
    let mut mac = keyed.clone();
    mac.update(aad);
    mac.update(iv);
    mac.update(ct);
    mac.update(&((aad.len() as u64) * 8).to_be_bytes());
    mac
}

fn cbc_hs512_decrypt(
    keys: &SecretKeys,
    aad: &[u8],
    iv: &[u8],
    ct: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, DecodeError> {
    if iv.len() != 16 || tag.len() != 32 || ct.is_empty() || ct.len() % 16 != 0 {
        return Err(DecodeError::Decryption);
    }
    let enc_key = &keys.cbc_key[32..];
    // Constant-time comparison of the left-truncated tag (RFC 7518 §5.2.2.1).
    cbc_mac(&keys.cbc_mac, aad, iv, ct)
        .verify_truncated_left(tag)
        .map_err(|_| DecodeError::Decryption)?;
    cbc::Decryptor::<aes::Aes256>::new_from_slices(enc_key, iv)
        .map_err(|_| DecodeError::Decryption)?
        .decrypt_padded_vec_mut::<Pkcs7>(ct)
        .map_err(|_| DecodeError::Decryption)
}

fn gcm_decrypt(
    key: &[u8],
    aad: &[u8],
    iv: &[u8],
    ct: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, DecodeError> {
    if iv.len() != 12 || tag.len() != 16 {
        return Err(DecodeError::Decryption);
    }
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| DecodeError::Decryption)?;
    let mut msg = Vec::with_capacity(ct.len() + tag.len());
    msg.extend_from_slice(ct);
    msg.extend_from_slice(tag);
    cipher
        .decrypt(Nonce::from_slice(iv), Payload { msg: &msg, aad })
        .map_err(|_| DecodeError::Decryption)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system random source is available");
    b
}

/// Encodes claims the way Auth.js `encode` does: adds `iat`, `exp` (`now + max_age`) and a
/// random `jti`, then encrypts with `dir` + `enc` and writes the key's thumbprint as `kid`.
pub fn encode_jwe(
    claims: &Map<String, Value>,
    keys: &SecretKeys,
    enc: Enc,
    max_age: u64,
) -> String {
    let now = now_secs();
    let mut payload = claims.clone();
    payload.insert("iat".into(), now.into());
    payload.insert("exp".into(), (now + max_age).into());
    payload.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
    encode_jwe_raw(&payload, keys, enc)
}

/// Encrypts `payload` as is (no claims added); for tests and tooling.
pub fn encode_jwe_raw(payload: &Map<String, Value>, keys: &SecretKeys, enc: Enc) -> String {
    let (key, kid) = keys.for_enc(enc);
    let header = serde_json::json!({ "alg": "dir", "enc": enc.as_str(), "kid": kid });
    let h = B64.encode(header.to_string());
    let plaintext = Value::Object(payload.clone()).to_string();
    let aad = h.as_bytes();
    let (iv, ct, tag) = match enc {
        Enc::A256CbcHs512 => {
            let iv = random_bytes::<16>();
            let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key[32..], &iv)
                .expect("key and iv lengths are fixed")
                .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
            let tag = cbc_mac(&keys.cbc_mac, aad, &iv, &ct)
                .finalize()
                .into_bytes();
            (iv.to_vec(), ct, tag[..32].to_vec())
        }
        Enc::A256Gcm => {
            let iv = random_bytes::<12>();
            let cipher = Aes256Gcm::new_from_slice(key).expect("key length is fixed");
            let mut out = cipher
                .encrypt(
                    Nonce::from_slice(&iv),
                    Payload {
                        msg: plaintext.as_bytes(),
                        aad,
                    },
                )
                .expect("AES-GCM encryption of in-memory data does not fail");
            let tag = out.split_off(out.len() - 16);
            (iv.to_vec(), out, tag)
        }
    };
    format!(
        "{h}..{}.{}.{}",
        B64.encode(iv),
        B64.encode(ct),
        B64.encode(tag)
    )
}

/// Keys and rules for signed JWTs (JWS), for deployments that replaced Auth.js's encoder.
#[derive(Clone)]
pub struct JwsKeys {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwsKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwsKeys")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

/// Why a JWS configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// a PEM public key for the others.
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
        let bad = |e: jsonwebtoken::errors::Error| JwsConfigError::BadKey(fam, e.to_string());
        let key = match fam {
            "HMAC" => DecodingKey::from_secret(key.as_bytes()),
            "RSA" => DecodingKey::from_rsa_pem(key.as_bytes()).map_err(bad)?,
            "EC" => DecodingKey::from_ec_pem(key.as_bytes()).map_err(bad)?,
            _ => DecodingKey::from_ed_pem(key.as_bytes()).map_err(bad)?,
        };
        let mut validation = Validation::new(first);
        validation.algorithms = algs;
        validation.leeway = CLOCK_TOLERANCE_SECS;
        validation.validate_nbf = true;
        validation.required_spec_claims.clear();
        Ok(JwsKeys { key, validation })
    }

    /// Verifies and decodes a compact JWS.
    pub fn decode(&self, token: &str) -> Result<Claims, DecodeError> {
        use jsonwebtoken::errors::ErrorKind;
        if token.len() > MAX_TOKEN_LEN {
            return Err(DecodeError::Malformed("token too long"));
        }
        jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map(|data| Claims(data.claims))
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => DecodeError::Expired,
                ErrorKind::ImmatureSignature => DecodeError::NotYetValid,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    DecodeError::Unsupported("JWS alg not in the allow-list".into())
                }
                ErrorKind::InvalidSignature => DecodeError::Decryption,
                _ => DecodeError::Malformed("invalid signed JWT"),
            })
    }
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
                Some(jws) => jws.decode(token),
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

/// Encodes claims as Auth.js would with `secret` and `salt` (for tooling such as the CLI).
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

#[cfg(test)]
mod tests;
