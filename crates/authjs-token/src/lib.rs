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
//! All off by default; without them the crate depends on no web framework and no runtime.
//!
//! * `jws`: `JwsKeys`, signed JWTs for deployments that replaced Auth.js's encoder with
//!   jose's `SignJWT` (pulls in `jsonwebtoken`).
//! * `axum`: the `axum` module, extractors `Session` (`401` with a JSON body without a valid
//!   session) and `Option<Session>`, configured by a `SessionConfig` in the router's state
//!   (pulls in `axum-core` and `http`).
//! * `tower`: the `tower` module, `SessionLayer`, which decodes the session once per request
//!   into the request's extensions and can refuse anonymous requests; for hyper, axum, tonic
//!   (pulls in `tower-layer`, `tower-service`, `http` and `pin-project-lite`).
//!
//! Both `axum` and `tower` share `SessionConfig`: the decoder and whether only the
//! `__Secure-` cookie counts.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod claims;
pub mod cookie;
mod decoder;
mod error;
mod header;
mod jwe;
#[cfg(feature = "jws")]
mod jws;
mod keys;
#[cfg(any(feature = "axum", feature = "tower"))]
mod session;
#[cfg(feature = "tower")]
pub mod tower;

pub use claims::{CLOCK_TOLERANCE_SECS, Claims, DEFAULT_MAX_AGE_SECS, MAX_SAFE_INTEGER, now_secs};
pub use decoder::{
    Decoder, TokenKeys, decode_with_secrets, encode, encode_with_secret, try_encode_with_secret,
};
pub use error::{DecodeError, EncodeError};
pub use jwe::{
    MAX_DECOMPRESSED_LEN, MAX_TOKEN_LEN, decode_jwe, encode_jwe, encode_jwe_raw, try_encode_jwe,
};
#[cfg(feature = "jws")]
pub use jws::{JwsConfigError, JwsKeys};
pub use keys::{Enc, SaltKeys, SecretKeys};
#[cfg(any(feature = "axum", feature = "tower"))]
pub use session::{SessionConfig, UNAUTHORIZED_BODY};

#[cfg(test)]
mod tests;

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
