//! A signed identity for the app behind: an ES256 JWT in a header of every `200` (Pomerium's
//! JWT assertion, Oathkeeper's id_token), with `sub`, `email`, `name`, the configured claims,
//! `iat`/`exp`/`aud`/`iss`, and the signing key's `kid`. The public keys are served as a JWKS,
//! so apps verify it with any JWT library instead of sharing `AUTH_SECRET`.
//!
//! Signing is tens of microseconds; a decision is a few. An assertion is therefore reused for
//! the same session token until half its lifetime has passed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use crate::core::error::ConfigError;
use crate::core::token::now_secs;
use crate::forward_auth::rules::{ClaimPath, Subject};
use crate::options::forward_auth::AssertionOptions;

/// Claims the assertion sets itself: a configured claim may not take their name.
const RESERVED_CLAIMS: [&str; 9] = [
    "sub", "email", "name", "iat", "exp", "nbf", "iss", "aud", "jti",
];

/// Longest lifetime accepted, in seconds.
const MAX_TTL_S: u64 = 3600;

/// Assertions kept per policy (one per live session at most).
const CACHED: u64 = 100_000;

/// The validated `[forward_auth.assertion]`: the signing key and the published ones.
pub struct Assertion {
    /// The header carrying it.
    pub header: actix_web::http::header::HeaderName,
    key: EncodingKey,
    kid: String,
    audience: Option<String>,
    issuer: Option<String>,
    ttl_s: u64,
    claims: Vec<(String, ClaimPath)>,
    /// `{"keys": [...]}`, every configured key's public half.
    pub jwks: Arc<str>,
    /// Signed assertions by session token hash: (assertion, when to sign anew).
    cache: moka::sync::Cache<u128, (Arc<str>, u64)>,
}

impl std::fmt::Debug for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertion")
            .field("header", &self.header)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn key_of(field: &str, path: &Path) -> Result<(EncodingKey, Jwk), ConfigError> {
    let pem = std::fs::read(path)
        .map_err(|e| ConfigError::new(field, format!("could not read {}: {e}", path.display())))?;
    let key = EncodingKey::from_ec_pem(&pem).map_err(|_| {
        ConfigError::new(
            field,
            format!("{} is not an EC P-256 private key (PEM)", path.display()),
        )
    })?;
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).map_err(|_| {
        ConfigError::new(
            field,
            format!("{} is not an EC P-256 private key (PEM)", path.display()),
        )
    })?;
    let kid = jwk.thumbprint(ThumbprintHash::SHA256);
    jwk.common.key_id = Some(kid);
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
    Ok((key, jwk))
}

impl Assertion {
    /// Reads the keys and checks every field (the error names the one at fault).
    pub fn new(opts: &AssertionOptions) -> Result<Self, ConfigError> {
        let field = "forward_auth.assertion.key_file";
        let Some(newest) = opts.key_file.first() else {
            return Err(ConfigError::new(
                field,
                "needs at least one EC P-256 key (PEM)",
            ));
        };
        let (key, newest_jwk) = key_of(field, newest)?;
        let mut keys = vec![newest_jwk.clone()];
        for path in &opts.key_file[1..] {
            keys.push(key_of(field, path)?.1);
        }
        let header = actix_web::http::header::HeaderName::from_bytes(opts.header.trim().as_bytes())
            .map_err(|_| {
                ConfigError::new(
                    "forward_auth.assertion.header",
                    "is not a valid header name",
                )
            })?;
        if !(1..=MAX_TTL_S).contains(&opts.ttl_s) {
            return Err(ConfigError::new(
                "forward_auth.assertion.ttl_s",
                format!("must be 1 to {MAX_TTL_S} seconds"),
            ));
        }
        let mut claims: Vec<(String, ClaimPath)> = Vec::with_capacity(opts.claims.len());
        for c in &opts.claims {
            let field = "forward_auth.assertion.claims";
            let path: ClaimPath = c
                .parse()
                .map_err(|e| ConfigError::new(field, format!("{c:?}: {e}")))?;
            let name = c.rsplit('.').next().unwrap_or(c).to_owned();
            if RESERVED_CLAIMS.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    field,
                    format!("{c:?} would be named {name:?}, which the assertion sets itself"),
                ));
            }
            if claims.iter().any(|(n, _)| *n == name) {
                return Err(ConfigError::new(
                    field,
                    format!("two claims would be named {name:?}"),
                ));
            }
            claims.push((name, path));
        }
        let jwks = serde_json::to_string(&JwkSet { keys })
            .map_err(|e| ConfigError::new(field, format!("keys could not be published: {e}")))?;
        Ok(Assertion {
            header,
            key,
            kid: newest_jwk.common.key_id.unwrap_or_default(),
            audience: opts.audience.clone().filter(|a| !a.is_empty()),
            issuer: opts.issuer.clone().filter(|i| !i.is_empty()),
            ttl_s: opts.ttl_s,
            claims,
            jwks: Arc::from(jwks),
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHED)
                .time_to_live(Duration::from_secs(opts.ttl_s))
                .build(),
        })
    }

    /// The assertion for `subject` (whose session is `session`, a hash of its token; `0`
    /// when unknown: never reused), issued by `origin` unless an issuer is configured.
    pub fn for_subject(
        &self,
        subject: &Subject,
        session: u128,
        origin: Option<&str>,
    ) -> Option<Arc<str>> {
        let now = now_secs();
        if session != 0
            && let Some((jwt, renew_at)) = self.cache.get(&session)
            && now < renew_at
        {
            return Some(jwt);
        }
        let mut claims = Map::new();
        let put = |claims: &mut Map<String, Value>, k: &str, v: Option<String>| {
            if let Some(v) = v {
                claims.insert(k.to_owned(), Value::String(v));
            }
        };
        put(&mut claims, "sub", subject.user_id());
        put(&mut claims, "email", subject.email());
        put(&mut claims, "name", subject.name());
        for (name, path) in &self.claims {
            if let Some(v) = subject.get(path) {
                claims.insert(name.clone(), v.clone());
            }
        }
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + self.ttl_s).into());
        let issuer = self.issuer.as_deref().or(origin).unwrap_or("authjs-proxy");
        claims.insert("iss".into(), issuer.into());
        if let Some(aud) = &self.audience {
            claims.insert("aud".into(), aud.clone().into());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let jwt: Arc<str> = jsonwebtoken::encode(&header, &claims, &self.key)
            .ok()?
            .into();
        if session != 0 {
            self.cache
                .insert(session, (jwt.clone(), now + self.ttl_s.div_ceil(2)));
        }
        Some(jwt)
    }
}
