//! Auth.js session tokens: compact JWEs with `alg: dir`, decoded as `@auth/core`'s `decode`
//! (jose's `jwtDecrypt` with `clockTolerance: 15`) decodes them, and encoded as its `encode` does.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyIvInit, block_padding::Pkcs7};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::Mac;
use serde_json::{Map, Value};

use crate::claims::{Claims, MAX_SAFE_INTEGER, check_time, now_secs};
use crate::error::{DecodeError, EncodeError};
use crate::header::{JweHeader, Member, strip_bom};
use crate::keys::{Enc, HmacSha512, SaltKeys, SecretKeys};

/// Longest token accepted for decoding (chunked cookies can reach tens of KB, not megabytes).
///
/// ```
/// let long = "a".repeat(authjs_token::MAX_TOKEN_LEN + 1);
/// assert!(authjs_token::Decoder::new(["s"]).decode(&long, "authjs.session-token").is_err());
/// ```
pub const MAX_TOKEN_LEN: usize = 256 * 1024;

/// Refuses a token longer than [`MAX_TOKEN_LEN`] (JWE or JWS) before any work is done on it.
pub(crate) fn check_token_len(token: &str) -> Result<(), DecodeError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(DecodeError::Malformed("token too long"));
    }
    Ok(())
}

/// Most bytes a `zip: "DEF"` plaintext may inflate to: jose's default `maxDecompressedLength`,
/// which `@auth/core` does not change.
///
/// ```
/// assert_eq!(authjs_token::MAX_DECOMPRESSED_LEN, 250_000);
/// ```
pub const MAX_DECOMPRESSED_LEN: usize = 250_000;

/// base64url as jose reads it (Node's `atob` after mapping `-_` to `+/`): unpadded or correctly
/// padded, unused trailing bits ignored.
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// ASCII whitespace as forgiving-base64 (`atob`) skips it.
fn is_b64_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

/// `atob` takes `=` only to complete the last group of four; the engine is laxer.
fn padding_ok(s: &[u8]) -> bool {
    s.last() != Some(&b'=') || s.len().is_multiple_of(4)
}

fn malformed_b64() -> DecodeError {
    DecodeError::Malformed("invalid base64url")
}

/// Decodes one part; a part that fails and holds ASCII whitespace is decoded again without it
/// (`atob` skips whitespace), so the usual part is scanned once.
fn lenient<T>(
    s: &str,
    mut decode: impl FnMut(&[u8]) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    match decode(s.as_bytes()) {
        Err(_) if s.bytes().any(is_b64_space) => {
            let compact: Vec<u8> = s.bytes().filter(|b| !is_b64_space(*b)).collect();
            decode(&compact)
        }
        r => r,
    }
}

fn b64(s: &str) -> Result<Vec<u8>, DecodeError> {
    lenient(s, |s| {
        if !padding_ok(s) {
            return Err(malformed_b64());
        }
        B64_LENIENT.decode(s).map_err(|_| malformed_b64())
    })
}

/// Decodes a short part (IV, tag) into `buf`; longer parts are refused, as no IV or tag is.
fn b64_into<'b>(s: &str, buf: &'b mut [u8]) -> Result<&'b [u8], DecodeError> {
    let max = base64::encoded_len(buf.len(), false).unwrap_or(0);
    let n = lenient(s, |s| {
        let data = s.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
        if !padding_ok(s) || data > max {
            return Err(DecodeError::Decryption);
        }
        B64_LENIENT
            .decode_slice(s, &mut *buf)
            .map_err(|_| malformed_b64())
    })?;
    Ok(&buf[..n])
}

/// Decodes an Auth.js JWE with the keys of one salt, at `now` (seconds since the epoch).
///
/// With a `kid`, the secret whose thumbprint matches is used; without one, only the first.
/// Everything jose's `jwtDecrypt` refuses is refused, everything it accepts is accepted (see
/// `tests/vectors/jose-edge-tokens.json`); the differences are listed in the crate docs.
///
/// ```
/// use authjs_token::{Enc, SaltKeys, decode_jwe, encode_jwe, now_secs};
/// let keys = SaltKeys::derive(&["s".to_owned()], "authjs.session-token");
/// let token = encode_jwe(&Default::default(), &keys.secrets[0], Enc::A256Gcm, 60);
/// assert!(decode_jwe(&token, &keys, now_secs()).is_ok());
/// ```
pub fn decode_jwe(token: &str, keys: &SaltKeys, now: u64) -> Result<Claims, DecodeError> {
    check_token_len(token)?;
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
    // The exact header Auth.js writes for one of the secrets (`alg`, `enc`, that secret's `kid`,
    // nothing else) is known without decoding it; any other header is parsed.
    let header_json;
    let (secret, enc, header) = match keys.secrets.iter().find_map(|k| k.written_header(h)) {
        Some((secret, enc)) => (secret, enc, None),
        None => {
            header_json = b64(h)?;
            let header = JweHeader::parse(&header_json)?;
            let (secret, enc) = checked_header(&header, keys)?;
            (secret, enc, Some(header))
        }
    };
    if !ek.is_empty() {
        return Err(DecodeError::Malformed(
            "unexpected encrypted key for alg dir",
        ));
    }
    let (key, _) = secret.for_enc(enc);
    let mut iv_buf = [0u8; 16];
    let iv = b64_into(iv, &mut iv_buf)?;
    let mut tag_buf = [0u8; 32];
    let tag = b64_into(tag, &mut tag_buf)?;
    let ct = b64(ct)?;
    let aad = h.as_bytes();
    let mut plaintext = match enc {
        Enc::A256CbcHs512 => cbc_hs512_decrypt(secret, aad, iv, ct, tag)?,
        Enc::A256Gcm => gcm_decrypt(key, aad, iv, &ct, tag)?,
    };
    if header.as_ref().is_some_and(|h| h.zip.is("DEF")) {
        plaintext = inflate_bounded(&plaintext)?;
    }
    let claims: Map<String, Value> = serde_json::from_slice(strip_bom(&plaintext))
        .map_err(|_| DecodeError::Malformed("payload is not a JSON object"))?;
    check_time(&claims, now)?;
    if let Some(header) = &header {
        header.check_replicated(&claims, &plaintext)?;
    }
    Ok(Claims(claims))
}

/// jose's checks of a parsed `dir` header, and the secret its `kid` names (without one, the
/// first secret).
fn checked_header<'k>(
    header: &JweHeader<'_>,
    keys: &'k SaltKeys,
) -> Result<(&'k SecretKeys, Enc), DecodeError> {
    if header.crit {
        return Err(DecodeError::Unsupported("crit header".into()));
    }
    match header.zip {
        Member::Absent => {}
        ref z if z.is("DEF") => {}
        _ => return Err(DecodeError::Unsupported("zip other than DEF".into())),
    }
    if !header.alg.is("dir") {
        return Err(DecodeError::Unsupported("alg other than dir".into()));
    }
    let enc = match &header.enc {
        Member::Str(s) => Enc::parse(s),
        _ => None,
    }
    .ok_or_else(|| DecodeError::Unsupported("enc other than A256CBC-HS512 or A256GCM".into()))?;
    let secret = match &header.kid {
        Member::Absent => keys.secrets.first(),
        Member::Str(kid) => keys.secrets.iter().find(|k| k.for_enc(enc).1 == kid),
        // `kid: null` (or any non-string) is a kid no thumbprint equals.
        Member::Other => None,
    }
    .ok_or(DecodeError::NoMatchingKey)?;
    Ok((secret, enc))
}

/// Raw DEFLATE, refused past [`MAX_DECOMPRESSED_LEN`] bytes of output (checked while
/// inflating, never allocating more than the bound plus one byte). Bytes after the end of the
/// stream are ignored, as Node's `DecompressionStream` ignores them.
fn inflate_bounded(data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    // One byte over the bound tells "exactly the bound" from "more".
    match miniz_oxide::inflate::decompress_to_vec_with_limit(data, MAX_DECOMPRESSED_LEN + 1) {
        Ok(out) if out.len() <= MAX_DECOMPRESSED_LEN => Ok(out),
        Ok(_) => Err(DecodeError::Malformed(
            "decompressed plaintext exceeds the limit",
        )),
        Err(e) if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput => Err(
            DecodeError::Malformed("decompressed plaintext exceeds the limit"),
        ),
        Err(_) => Err(DecodeError::Malformed("plaintext does not inflate")),
    }
}

pub(super) fn cbc_mac(keyed: &HmacSha512, aad: &[u8], iv: &[u8], ct: &[u8]) -> HmacSha512 {
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
    mut ct: Vec<u8>,
    tag: &[u8],
) -> Result<Vec<u8>, DecodeError> {
    if iv.len() != 16 || tag.len() != 32 || ct.is_empty() || !ct.len().is_multiple_of(16) {
        return Err(DecodeError::Decryption);
    }
    // Constant-time comparison of the left-truncated tag (RFC 7518 §5.2.2.1).
    cbc_mac(&keys.cbc_mac, aad, iv, &ct)
        .verify_truncated_left(tag)
        .map_err(|_| DecodeError::Decryption)?;
    // Decrypted in place, with the round keys expanded when the keys were derived.
    let len = cbc::Decryptor::<aes::Aes256Dec>::inner_iv_slice_init(keys.cbc_dec.clone(), iv)
        .map_err(|_| DecodeError::Decryption)?
        .decrypt_padded_mut::<Pkcs7>(&mut ct)
        .map_err(|_| DecodeError::Decryption)?
        .len();
    ct.truncate(len);
    Ok(ct)
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

/// A random (version 4) UUID, as `crypto.randomUUID()` writes it for Auth.js's `jti`.
fn uuid_v4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

/// `now + max_age` as Auth.js writes `exp`, refused when JavaScript could not hold it exactly.
pub(super) fn expiry(now: u64, max_age: u64) -> Result<u64, EncodeError> {
    now.checked_add(max_age)
        .filter(|exp| *exp <= MAX_SAFE_INTEGER)
        .ok_or(EncodeError::MaxAgeTooLarge { max_age })
}

/// Encodes claims the way Auth.js `encode` does: adds `iat`, `exp` (`now + max_age`) and a
/// random `jti`, then encrypts with `dir` + `enc` and writes the key's thumbprint as `kid`.
///
/// Fails when `now + max_age` is past 2^53 - 1 (JavaScript would read another `exp`).
///
/// ```
/// use authjs_token::{Enc, SecretKeys, try_encode_jwe};
/// let keys = SecretKeys::derive("s", "authjs.session-token");
/// assert!(try_encode_jwe(&Default::default(), &keys, Enc::A256CbcHs512, u64::MAX).is_err());
/// ```
pub fn try_encode_jwe(
    claims: &Map<String, Value>,
    keys: &SecretKeys,
    enc: Enc,
    max_age: u64,
) -> Result<String, EncodeError> {
    let now = now_secs();
    Ok(encode_with_times(
        claims,
        keys,
        enc,
        now,
        expiry(now, max_age)?,
    ))
}

/// Like [`try_encode_jwe`], with `exp` capped at 2^53 - 1 (the latest time JavaScript reads
/// exactly) rather than failing when `now + max_age` goes past it.
///
/// ```
/// use authjs_token::{Enc, SecretKeys, encode_jwe};
/// let keys = SecretKeys::derive("s", "authjs.session-token");
/// let token = encode_jwe(&Default::default(), &keys, Enc::A256CbcHs512, 60);
/// assert!(token.contains(".."), "alg dir: the encrypted key is empty");
/// ```
pub fn encode_jwe(
    claims: &Map<String, Value>,
    keys: &SecretKeys,
    enc: Enc,
    max_age: u64,
) -> String {
    let now = now_secs();
    let exp = now.saturating_add(max_age).min(MAX_SAFE_INTEGER);
    encode_with_times(claims, keys, enc, now, exp)
}

fn encode_with_times(
    claims: &Map<String, Value>,
    keys: &SecretKeys,
    enc: Enc,
    now: u64,
    exp: u64,
) -> String {
    let mut payload = claims.clone();
    payload.insert("iat".into(), now.into());
    payload.insert("exp".into(), exp.into());
    payload.insert("jti".into(), uuid_v4().into());
    encode_jwe_raw(&payload, keys, enc)
}

/// Encrypts `payload` as is (no claims added); for tests and tooling.
///
/// ```
/// use authjs_token::{Enc, SaltKeys, decode_jwe, encode_jwe_raw};
/// let keys = SaltKeys::derive(&["s".to_owned()], "authjs.session-token");
/// let mut payload = serde_json::Map::new();
/// payload.insert("sub".into(), "u1".into());
/// let token = encode_jwe_raw(&payload, &keys.secrets[0], Enc::A256CbcHs512);
/// let claims = decode_jwe(&token, &keys, 0)?;
/// assert_eq!(claims.0, payload);
/// # Ok::<(), authjs_token::DecodeError>(())
/// ```
pub fn encode_jwe_raw(payload: &Map<String, Value>, keys: &SecretKeys, enc: Enc) -> String {
    let (key, _) = keys.for_enc(enc);
    let h = keys.header_for(enc);
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
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(ct),
        URL_SAFE_NO_PAD.encode(tag)
    )
}
