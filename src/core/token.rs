//! Auth.js session tokens: the [`authjs_token`] crate (key derivation, JWE decode/encode,
//! signed-JWT decoding), re-exported under the paths this crate has always used.

pub use authjs_token::{
    CLOCK_TOLERANCE_SECS, Claims, DEFAULT_MAX_AGE_SECS, DecodeError, Decoder, Enc, EncodeError,
    JwsConfigError, JwsKeys, MAX_DECOMPRESSED_LEN, MAX_SAFE_INTEGER, MAX_TOKEN_LEN, SaltKeys,
    SecretKeys, TokenKeys, decode_jwe, decode_with_secrets, encode_jwe, encode_jwe_raw,
    encode_with_secret, now_secs, try_encode_jwe, try_encode_with_secret,
};
