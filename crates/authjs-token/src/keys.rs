//! Key derivation: [`SecretKeys`] (one secret, one salt), [`SaltKeys`] (every secret for
//! one salt), and the [`Enc`] they are used with.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// HMAC-SHA-512, the MAC of A256CBC-HS512.
pub(crate) type HmacSha512 = Hmac<Sha512>;

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

    pub(crate) fn parse(s: &str) -> Option<Self> {
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
    pub(crate) cbc_mac: HmacSha512,
    /// AES-256 decryption round keys of the encryption half of `cbc_key` (expanded once).
    pub(crate) cbc_dec: aes::Aes256Dec,
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
    /// [`encode_jwe`](crate::jwe::encode_jwe) writes it), and for which `enc`.
    pub(crate) fn written_header(&self, h: &str) -> Option<(&Self, Enc)> {
        if h == self.cbc_header {
            Some((self, Enc::A256CbcHs512))
        } else if h == self.gcm_header {
            Some((self, Enc::A256Gcm))
        } else {
            None
        }
    }

    /// The key and its `kid` for `enc`.
    pub(crate) fn for_enc(&self, enc: Enc) -> (&[u8], &str) {
        match enc {
            Enc::A256CbcHs512 => (&self.cbc_key, &self.cbc_kid),
            Enc::A256Gcm => (&self.gcm_key, &self.gcm_kid),
        }
    }

    /// The encoded protected header Auth.js writes with this key for `enc`.
    pub(crate) fn header_for(&self, enc: Enc) -> &str {
        match enc {
            Enc::A256CbcHs512 => &self.cbc_header,
            Enc::A256Gcm => &self.gcm_header,
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
