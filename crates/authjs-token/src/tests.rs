use super::jwe::cbc_mac;
use super::*;
use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::Mac;
#[cfg(feature = "jws")]
use jsonwebtoken::Algorithm;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const SALT: &str = "authjs.session-token";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn claims() -> Map<String, Value> {
    json!({"sub": "user-1", "name": "Ada", "email": "ada@example.com", "picture": null})
        .as_object()
        .unwrap()
        .clone()
}

fn keys(secrets: &[&str]) -> SaltKeys {
    SaltKeys::derive(
        &secrets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        SALT,
    )
}

fn mint(secret: &str, enc: Enc) -> String {
    encode_jwe(&claims(), &SecretKeys::derive(secret, SALT), enc, 60)
}

#[test]
fn derived_key_matches_the_authjs_check_value() {
    let k = SecretKeys::derive("secret", SALT);
    assert_eq!(
        hex(k.cbc_key()),
        "b1ef6cdd915c44c0a71232574a6a70546a5e16d12bb38df4638e3b96bdd32025131e90695ff072a9d148f1511c7a4981a85b63a628311da1fa7ccfc49c47c2bb"
    );
}

#[test]
fn kid_matches_the_authjs_check_value() {
    let k = SecretKeys::derive("secret", SALT);
    assert_eq!(
        k.cbc_kid(),
        "7x9DUMVaEU6giab0l0OWDt4e4SsRH_cbwMof2EzEyy6onK5o8xSPPB799RVoqm2v6z674kQCv9jom2T8S-a1dQ"
    );
}

#[test]
fn cbc_token_round_trips_with_claims_added() {
    let c = decode_jwe(&mint("s1", Enc::A256CbcHs512), &keys(&["s1"]), now_secs()).unwrap();
    assert_eq!(c.sub(), Some("user-1"));
    assert_eq!(c.name(), Some("Ada"));
    assert_eq!(c.email(), Some("ada@example.com"));
    assert!(c.exp().unwrap() > c.iat().unwrap());
    assert_eq!(c.jti().unwrap().len(), 36);
}

#[test]
fn gcm_token_decodes() {
    let c = decode_jwe(&mint("s1", Enc::A256Gcm), &keys(&["s1"]), now_secs()).unwrap();
    assert_eq!(c.sub(), Some("user-1"));
}

#[test]
fn token_from_an_older_secret_decodes_by_kid() {
    let c = decode_jwe(
        &mint("old", Enc::A256CbcHs512),
        &keys(&["new", "old"]),
        now_secs(),
    );
    assert_eq!(c.unwrap().sub(), Some("user-1"));
}

#[test]
fn the_header_authjs_writes_is_the_one_recognised_without_parsing() {
    for enc in [Enc::A256CbcHs512, Enc::A256Gcm] {
        let k = SecretKeys::derive("s1", SALT);
        let tok = encode_jwe(&claims(), &k, enc, 60);
        let h = tok.split('.').next().unwrap();
        assert_eq!(k.written_header(h).map(|(_, e)| e), Some(enc));
        let json = B64.decode(h).unwrap();
        let expected = format!(
            r#"{{"alg":"dir","enc":"{}","kid":"{}"}}"#,
            enc.as_str(),
            k.for_enc(enc).1
        );
        assert_eq!(json, expected.as_bytes());
    }
}

#[test]
fn a_header_written_in_another_member_order_decodes_the_same() {
    let k = SecretKeys::derive("s2", SALT);
    let h = B64.encode(format!(
        r#"{{"kid":"{}","enc":"A256CBC-HS512","alg":"dir"}}"#,
        k.cbc_kid()
    ));
    assert!(k.written_header(&h).is_none());
    let tok = reencrypt_with_header(&h, &claims(), &k);
    let got = decode_jwe(&tok, &keys(&["s1", "s2"]), now_secs()).unwrap();
    assert_eq!(got.0, claims());
}

#[test]
fn token_without_kid_is_tried_with_the_first_secret_only() {
    let secret = SecretKeys::derive("old", SALT);
    let header = B64.encode(r#"{"alg":"dir","enc":"A256CBC-HS512"}"#);
    let mut payload = claims();
    payload.insert("exp".into(), (now_secs() + 60).into());
    let no_kid = reencrypt_with_header(&header, &payload, &secret);
    assert_eq!(
        decode_jwe(&no_kid, &keys(&["new", "old"]), now_secs()),
        Err(DecodeError::Decryption)
    );
    assert!(decode_jwe(&no_kid, &keys(&["old", "new"]), now_secs()).is_ok());
}

fn reencrypt_with_header(h: &str, payload: &Map<String, Value>, keys: &SecretKeys) -> String {
    let iv = [7u8; 16];
    let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&keys.cbc_key()[32..], &iv)
        .unwrap()
        .encrypt_padded_vec_mut::<Pkcs7>(Value::Object(payload.clone()).to_string().as_bytes());
    let tag = cbc_mac(&keys.cbc_mac, h.as_bytes(), &iv, &ct)
        .finalize()
        .into_bytes();
    format!(
        "{h}..{}.{}.{}",
        B64.encode(iv),
        B64.encode(ct),
        B64.encode(&tag[..32])
    )
}

#[test]
fn unknown_secret_is_rejected() {
    let r = decode_jwe(
        &mint("other", Enc::A256CbcHs512),
        &keys(&["s1"]),
        now_secs(),
    );
    assert_eq!(r, Err(DecodeError::NoMatchingKey));
}

#[test]
fn wrong_salt_is_rejected() {
    let tok = encode_jwe(
        &claims(),
        &SecretKeys::derive("s1", "__Secure-authjs.session-token"),
        Enc::A256CbcHs512,
        60,
    );
    assert!(decode_jwe(&tok, &keys(&["s1"]), now_secs()).is_err());
}

#[test]
fn expired_token_is_rejected_beyond_the_tolerance() {
    let tok = mint("s1", Enc::A256CbcHs512);
    let exp = decode_jwe(&tok, &keys(&["s1"]), now_secs())
        .unwrap()
        .exp()
        .unwrap();
    assert_eq!(
        decode_jwe(&tok, &keys(&["s1"]), exp + CLOCK_TOLERANCE_SECS),
        Err(DecodeError::Expired)
    );
}

#[test]
fn recently_expired_token_is_accepted_within_the_tolerance() {
    let tok = mint("s1", Enc::A256CbcHs512);
    let exp = decode_jwe(&tok, &keys(&["s1"]), now_secs())
        .unwrap()
        .exp()
        .unwrap();
    assert!(decode_jwe(&tok, &keys(&["s1"]), exp + CLOCK_TOLERANCE_SECS - 1).is_ok());
}

#[test]
fn token_with_nbf_in_the_future_is_rejected() {
    let mut c = claims();
    c.insert("nbf".into(), (now_secs() + 3600).into());
    let tok = encode_jwe_raw(&c, &SecretKeys::derive("s1", SALT), Enc::A256CbcHs512);
    assert_eq!(
        decode_jwe(&tok, &keys(&["s1"]), now_secs()),
        Err(DecodeError::NotYetValid)
    );
}

/// Positions whose lowest bit is unused: the last character of a part whose length is not a
/// multiple of 4 carries 2 or 4 bits that decode to nothing (jose ignores them too).
fn unused_bit_positions(tok: &str) -> Vec<usize> {
    let mut start = 0;
    let mut out = Vec::new();
    for part in tok.split('.') {
        if part.len() % 4 != 0 {
            out.push(start + part.len() - 1);
        }
        start += part.len() + 1;
    }
    out
}

#[test]
fn a_bit_flip_in_any_part_is_rejected() {
    let tok = mint("s1", Enc::A256CbcHs512);
    let k = keys(&["s1"]);
    let unused = unused_bit_positions(&tok);
    for (i, c) in tok.char_indices() {
        if c == '.' || unused.contains(&i) {
            continue;
        }
        let flipped = if c == 'A' { 'B' } else { 'A' };
        let mut t = tok.clone();
        t.replace_range(i..i + 1, &flipped.to_string());
        assert!(
            decode_jwe(&t, &k, now_secs()).is_err(),
            "flip at {i} accepted"
        );
    }
}

#[test]
fn unknown_enc_is_rejected() {
    let h = B64.encode(r#"{"alg":"dir","enc":"A128GCM"}"#);
    let r = decode_jwe(&format!("{h}..AAAA.AAAA.AAAA"), &keys(&["s1"]), now_secs());
    assert!(matches!(r, Err(DecodeError::Unsupported(_))));
}

#[test]
fn unknown_alg_is_rejected() {
    let h = B64.encode(r#"{"alg":"A256KW","enc":"A256GCM"}"#);
    let r = decode_jwe(
        &format!("{h}.AAAA.AAAA.AAAA.AAAA"),
        &keys(&["s1"]),
        now_secs(),
    );
    assert!(matches!(r, Err(DecodeError::Unsupported(_))));
}

#[test]
fn garbage_empty_and_huge_inputs_are_rejected() {
    let k = keys(&["s1"]);
    for input in [
        String::new(),
        "....".into(),
        "not a token".into(),
        "a.b.c.d.e".into(),
        "x".repeat(MAX_TOKEN_LEN + 1),
    ] {
        assert!(decode_jwe(&input, &k, now_secs()).is_err());
    }
}

#[cfg(feature = "jws")]
#[test]
fn hs256_jws_decodes_when_allowed() {
    let jws = JwsKeys::new(&["HS256".into()], "k").unwrap();
    let tok = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &json!({"sub": "u", "exp": now_secs() + 60}),
        &jsonwebtoken::EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    assert_eq!(jws.decode(&tok).unwrap().sub(), Some("u"));
}

#[cfg(feature = "jws")]
#[test]
fn jws_with_an_algorithm_outside_the_allow_list_is_rejected() {
    let jws = JwsKeys::new(&["HS512".into()], "k").unwrap();
    let tok = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &json!({"sub": "u"}),
        &jsonwebtoken::EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    assert!(jws.decode(&tok).is_err());
}

#[cfg(feature = "jws")]
const RSA_1024: &str = r"-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCjVDmii1MxSbhStkOncbX6/3q2
uHCdyKo1YBGYYCb/ov0pWeKT72lmk9AWi2CWFNbCbjmny1SIGtDqCvElvIuldi8F
8bLhdacZMslMbqQO94FYMc4LQE6rdr0Erwd6cIJu9xMX3QsgK+/QjBbBMj324aOP
UTqPNVhrxgFmyKSr7QIDAQAB
-----END PUBLIC KEY-----
";

#[cfg(feature = "jws")]
const RSA_2048: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA4naUUsI9Q5s+GanOVLDh
IM1BXTYebu4JSDUtgsi2sYZjjsPv9jVesqo9VLnFKCF43yzbqDAQ8b+I6d4fwM04
UTj+DGaCIC1anEzpXbz4+LVxsP0ytUAmlloZojgtD3lztGwxsMpxPM/tqsy4b4ku
mi5FiqZQ86meN9IKyuDqf+haalCaDB1ZHELn7RZeTNYtLkGdgN0wNaPtbZkXKHSU
pzvA9p7aYwjks74ZRVeIOa35lB1NUQJhMW0iWVV5y8gpNwImudxuwfEMISkVGqzW
cBaO46/zrFSjvG0umBuGnYIGHqGS/OnKAHg48D0bWUPTRa4FRmUwgPRoUhI8vtI9
owIDAQAB
-----END PUBLIC KEY-----
";

#[cfg(feature = "jws")]
const P256: &str = r"-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELCJHh/x9JGny4CVhcU7wAXKuZNmx
8gexvmp9jABONlG+67Bnu18abHB/lF9y2DOYz21MkEqunQvRJm02bgntww==
-----END PUBLIC KEY-----
";

#[cfg(feature = "jws")]
const P384: &str = r"-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE3TrnkZzPj1LsIdjUXIu0/fS+PFiP25jw
VdPIDoLy2Qk9vtzPMRE9czBhU7Fy7ot5lzvt616qQMo/yK1PnAXKQGIimPLSZFCc
BryK5J12u2w4n5hnVcZdIp+UTjkJxe/U
-----END PUBLIC KEY-----
";

#[cfg(feature = "jws")]
const P256_PRIVATE: &str = r"-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgclBFI93PqTNMMHrw
irhP3YmDFiZFcRRFHRuIsbZSyZWhRANCAAQsIkeH/H0kafLgJWFxTvABcq5k2bHy
B7G+an2MAE42Ub7rsGe7XxpscH+UX3LYM5jPbUyQSq6dC9EmbTZuCe3D
-----END PRIVATE KEY-----
";

#[cfg(feature = "jws")]
#[test]
fn a_jws_key_that_can_never_verify_is_refused_when_configured() {
    let bad = |algs: &[&str], key: &str| {
        let algs: Vec<String> = algs.iter().map(|a| (*a).to_owned()).collect();
        match JwsKeys::new(&algs, key) {
            Err(JwsConfigError::BadKey(_, why)) => why,
            other => panic!("{algs:?} with this key: {:?}", other.map(|_| "accepted")),
        }
    };
    assert!(bad(&["RS256"], RSA_1024).contains("2048"));
    assert!(bad(&["ES384"], P256).contains("P-384"));
    assert!(bad(&["ES256", "ES384"], P256).contains("P-384"));
    assert!(bad(&["ES256"], P384).contains("P-256"));
    assert!(bad(&["ES256"], P256_PRIVATE).contains("private key"));
    // Keys that fit their algorithms.
    assert!(JwsKeys::new(&["RS256".into(), "PS256".into()], RSA_2048).is_ok());
    assert!(JwsKeys::new(&["ES256".into()], P256).is_ok());
    assert!(JwsKeys::new(&["ES384".into()], P384).is_ok());
}

/// An HS256 JWS with exactly this protected header (jsonwebtoken's `Header` has no `crit`).
#[cfg(feature = "jws")]
fn hs256_with_header(header: &str) -> String {
    use hmac::Mac;
    let signing_input = format!(
        "{}.{}",
        B64.encode(header),
        B64.encode(json!({"sub": "u", "exp": now_secs() + 60}).to_string())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        B64.encode(mac.finalize().into_bytes())
    )
}

#[cfg(feature = "jws")]
#[test]
fn a_jws_with_a_crit_header_is_refused_as_jose_refuses_it() {
    let jws = JwsKeys::new(&["HS256".into()], "k").unwrap();
    assert!(jws.decode(&hs256_with_header(r#"{"alg":"HS256"}"#)).is_ok());
    for header in [
        r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        r#"{"alg":"HS256","crit":["x-custom"]}"#,
        r#"{"alg":"HS256","crit":[]}"#,
        r#"{"alg":"HS256","crit":"b64","b64":true}"#,
        r#"{"alg":"HS256","crit":[""]}"#,
        r#"{"alg":"HS256","crit":["b64"]}"#,
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        // The one extension jose understands (`b64`, payload still encoded) is refused too:
        // stricter than jose, never looser.
        r#"{"alg":"HS256","crit":["b64"],"b64":true}"#,
    ] {
        assert!(jws.decode(&hs256_with_header(header)).is_err(), "{header}");
    }
}

#[cfg(feature = "jws")]
#[test]
fn alg_none_jws_is_rejected() {
    let jws = JwsKeys::new(&["HS256".into()], "k").unwrap();
    let h = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let p = B64.encode(r#"{"sub":"u"}"#);
    assert!(jws.decode(&format!("{h}.{p}.")).is_err());
}

#[cfg(feature = "jws")]
#[test]
fn alg_none_is_not_a_configurable_algorithm() {
    assert!(matches!(
        JwsKeys::new(&["none".into()], "k"),
        Err(JwsConfigError::UnknownAlgorithm(_))
    ));
}

#[cfg(feature = "jws")]
#[test]
fn mixing_hmac_and_public_key_algorithms_is_refused() {
    assert_eq!(
        JwsKeys::new(&["HS256".into(), "RS256".into()], "k").unwrap_err(),
        JwsConfigError::MixedFamilies
    );
}

#[test]
fn three_part_token_without_jws_configured_is_rejected() {
    let tk = TokenKeys {
        salts: vec![keys(&["s1"])],
        #[cfg(feature = "jws")]
        jws: None,
    };
    assert_eq!(
        tk.decode("a.b.c", SALT, now_secs()),
        Err(DecodeError::JwsNotConfigured)
    );
}

// --- Decoding as @auth/core's `decode` (jose's jwtDecrypt) does. Each case is also in
// tests/vectors/jose-edge-tokens.json with the real decoder's verdict.

/// Seals `plaintext` under the protected header `header_json` (any bytes) with the CBC key.
fn seal(header_json: &[u8], plaintext: &[u8], keys: &SecretKeys) -> String {
    seal_encoded(&B64.encode(header_json), plaintext, keys)
}

/// Seals under an already encoded header part (it is the AAD exactly as written).
fn seal_encoded(h: &str, plaintext: &[u8], keys: &SecretKeys) -> String {
    let iv = [7u8; 16];
    let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&keys.cbc_key()[32..], &iv)
        .unwrap()
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let tag = cbc_mac(&keys.cbc_mac, h.as_bytes(), &iv, &ct)
        .finalize()
        .into_bytes();
    format!(
        "{h}..{}.{}.{}",
        B64.encode(iv),
        B64.encode(ct),
        B64.encode(&tag[..32])
    )
}

fn s1() -> SecretKeys {
    SecretKeys::derive("s1", SALT)
}

/// A header for the `s1` key with `extra` members appended.
fn header_with(extra: &str) -> Vec<u8> {
    format!(
        r#"{{"alg":"dir","enc":"A256CBC-HS512","kid":"{}"{extra}}}"#,
        s1().cbc_kid()
    )
    .into_bytes()
}

fn live_payload() -> Vec<u8> {
    format!(r#"{{"sub":"u","exp":{}}}"#, now_secs() + 600).into_bytes()
}

fn decode_s1(token: &str) -> Result<Claims, DecodeError> {
    decode_jwe(token, &keys(&["s1"]), now_secs())
}

#[test]
fn zip_def_plaintext_is_inflated() {
    let deflated = miniz_oxide::deflate::compress_to_vec(&live_payload(), 6);
    let tok = seal(&header_with(r#","zip":"DEF""#), &deflated, &s1());
    assert_eq!(decode_s1(&tok).unwrap().sub(), Some("u"));
}

#[test]
fn zip_output_is_bounded_at_joses_250000_bytes() {
    let sized = |n: usize| {
        let base = format!(r#"{{"sub":"u","exp":{},"pad":""}}"#, now_secs() + 600);
        let pad = "x".repeat(n - base.len());
        format!(r#"{{"sub":"u","exp":{},"pad":"{pad}"}}"#, now_secs() + 600)
    };
    let tok = |n| {
        let deflated = miniz_oxide::deflate::compress_to_vec(sized(n).as_bytes(), 6);
        seal(&header_with(r#","zip":"DEF""#), &deflated, &s1())
    };
    assert!(decode_s1(&tok(MAX_DECOMPRESSED_LEN)).is_ok());
    assert!(decode_s1(&tok(MAX_DECOMPRESSED_LEN + 1)).is_err());
    assert!(decode_s1(&tok(4_000_000)).is_err());
}

#[test]
fn zip_stream_cut_short_is_rejected_and_bytes_after_its_end_are_ignored() {
    let deflated = miniz_oxide::deflate::compress_to_vec(&live_payload(), 6);
    let cut = seal(
        &header_with(r#","zip":"DEF""#),
        &deflated[..deflated.len() - 3],
        &s1(),
    );
    assert!(decode_s1(&cut).is_err());
    let mut trailing = deflated.clone();
    trailing.extend_from_slice(b"junk");
    let tok = seal(&header_with(r#","zip":"DEF""#), &trailing, &s1());
    assert!(decode_s1(&tok).is_ok());
}

#[test]
fn zip_other_than_def_is_rejected_null_included() {
    let deflated = miniz_oxide::deflate::compress_to_vec(&live_payload(), 6);
    for zip in [r#","zip":null"#, r#","zip":"def""#, r#","zip":1"#] {
        let tok = seal(&header_with(zip), &deflated, &s1());
        assert!(decode_s1(&tok).is_err(), "{zip}");
        let tok = seal(&header_with(zip), &live_payload(), &s1());
        assert!(decode_s1(&tok).is_err(), "{zip}");
    }
}

#[test]
fn header_strings_and_names_with_json_escapes_are_decoded() {
    let kid = s1().cbc_kid().to_owned();
    for header in [
        format!(r#"{{"alg":"dir","enc":"A256CBC\u002DHS512","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"\u0064ir","enc":"A256CBC-HS512","kid":"{kid}"}}"#),
        format!(
            r#"{{"\u0061lg":"dir","enc":"A256CBC-HS512","kid":"\u{:04x}{}"}}"#,
            kid.as_bytes()[0],
            &kid[1..]
        ),
        format!(r#"{{"alg":"dir","enc":"A256CBC-HS512","kid":"{kid}","x":"\ud800"}}"#),
    ] {
        let tok = seal(header.as_bytes(), &live_payload(), &s1());
        assert!(decode_s1(&tok).is_ok(), "{header}");
    }
}

#[test]
fn duplicate_header_members_keep_the_last_value_as_json_parse_does() {
    let kid = s1().cbc_kid().to_owned();
    let ok = format!(r#"{{"alg":"none","alg":"dir","enc":"A256CBC-HS512","kid":"{kid}"}}"#);
    assert!(decode_s1(&seal(ok.as_bytes(), &live_payload(), &s1())).is_ok());
    let bad = format!(r#"{{"alg":"dir","alg":"none","enc":"A256CBC-HS512","kid":"{kid}"}}"#);
    assert!(decode_s1(&seal(bad.as_bytes(), &live_payload(), &s1())).is_err());
    let null_last = format!(r#"{{"alg":"dir","enc":"A256CBC-HS512","kid":"{kid}","kid":null}}"#);
    assert_eq!(
        decode_s1(&seal(null_last.as_bytes(), &live_payload(), &s1())),
        Err(DecodeError::NoMatchingKey)
    );
}

#[test]
fn kid_null_matches_no_secret() {
    let tok = seal(
        br#"{"alg":"dir","enc":"A256CBC-HS512","kid":null}"#,
        &live_payload(),
        &s1(),
    );
    assert_eq!(decode_s1(&tok), Err(DecodeError::NoMatchingKey));
}

#[test]
fn any_crit_header_is_rejected_null_included() {
    for crit in [r#","crit":null"#, r#","crit":[]"#, r#","crit":["exp"]"#] {
        let tok = seal(&header_with(crit), &live_payload(), &s1());
        assert!(decode_s1(&tok).is_err(), "{crit}");
    }
}

#[test]
fn header_that_is_not_a_json_object_is_rejected() {
    let kid = s1().cbc_kid().to_owned();
    for header in [
        format!(r#"["dir","A256CBC-HS512","{kid}"]"#),
        "null".into(),
        r#""dir""#.into(),
        String::new(),
        format!(r#"{{"alg":"dir","enc":"A256CBC-HS512","kid":"{kid}"}}{{}}"#),
    ] {
        let tok = seal(header.as_bytes(), &live_payload(), &s1());
        assert!(decode_s1(&tok).is_err(), "{header}");
    }
}

#[test]
fn header_text_json_parse_refuses_is_rejected() {
    let mut bad_utf8 = header_with(r#","x":"?""#);
    let q = bad_utf8.iter().rposition(|b| *b == b'?').unwrap();
    bad_utf8[q] = 0xff;
    for header in [
        bad_utf8,
        header_with(",\"x\":\"a\tb\""),
        header_with(",\"a\u{1}\":1"),
    ] {
        let tok = seal(&header, &live_payload(), &s1());
        assert!(
            decode_s1(&tok).is_err(),
            "{}",
            String::from_utf8_lossy(&header)
        );
    }
}

#[test]
fn one_leading_bom_in_header_or_payload_is_skipped() {
    let bom = |b: &[u8]| [b"\xEF\xBB\xBF".as_slice(), b].concat();
    let tok = seal(&bom(&header_with("")), &live_payload(), &s1());
    assert!(decode_s1(&tok).is_ok());
    let tok = seal(&header_with(""), &bom(&live_payload()), &s1());
    assert!(decode_s1(&tok).is_ok());
    let tok = seal(&bom(&bom(&header_with(""))), &live_payload(), &s1());
    assert!(decode_s1(&tok).is_err());
}

#[test]
fn iat_exp_nbf_must_be_numbers_of_any_kind() {
    let exp = now_secs() + 600;
    for bad in [
        r#""iat":"1""#,
        r#""iat":null"#,
        r#""iat":{}"#,
        r#""exp":"9999999999""#,
        r#""exp":null"#,
        r#""nbf":false"#,
    ] {
        let p = format!(r#"{{"sub":"u","exp":{exp},{bad}}}"#);
        let tok = seal(&header_with(""), p.as_bytes(), &s1());
        assert!(
            matches!(decode_s1(&tok), Err(DecodeError::InvalidClaim(_))),
            "{bad}"
        );
    }
    for good in [r#""iat":1.5"#, r#""iat":1e300"#, r#""nbf":-1"#] {
        let p = format!(r#"{{"sub":"u","exp":{exp}.5,{good}}}"#);
        let tok = seal(&header_with(""), p.as_bytes(), &s1());
        assert!(decode_s1(&tok).is_ok(), "{good}");
    }
}

#[test]
fn exp_and_nbf_boundaries_are_joses_with_15_seconds_of_tolerance() {
    let now = 1_800_000_000u64;
    let at = |claims: &str| {
        let tok = seal(&header_with(""), claims.as_bytes(), &s1());
        decode_jwe(&tok, &keys(&["s1"]), now)
    };
    assert_eq!(at(r#"{"exp":1799999985}"#), Err(DecodeError::Expired));
    assert!(at(r#"{"exp":1799999985.5}"#).is_ok());
    assert!(at(r#"{"exp":1799999986}"#).is_ok());
    assert_eq!(at(r#"{"exp":1799999984.5}"#), Err(DecodeError::Expired));
    assert!(at(r#"{"nbf":1800000015}"#).is_ok());
    assert_eq!(at(r#"{"nbf":1800000015.5}"#), Err(DecodeError::NotYetValid));
}

#[test]
fn replicated_header_claims_must_equal_the_claims() {
    let exp = now_secs() + 600;
    let case = |header: &str, claims: &str| {
        let p = format!(r#"{{"exp":{exp},{claims}}}"#);
        decode_s1(&seal(&header_with(header), p.as_bytes(), &s1()))
    };
    assert!(
        case(
            r#","iss":"a","sub":"u","aud":["x","y"]"#,
            r#""iss":"a","sub":"u","aud":["x","y"]"#
        )
        .is_ok()
    );
    assert!(case(r#","iss":5"#, r#""iss":5.0"#).is_ok());
    assert!(
        case(
            r#","aud":{"b":1,"2":0,"1":0}"#,
            r#""aud":{"1":0,"2":0,"b":1}"#
        )
        .is_ok()
    );
    for (header, claims) in [
        (r#","iss":"header""#, r#""iss":"claim""#),
        (r#","sub":"u""#, r#""x":1"#),
        (r#","iss":null"#, r#""x":1"#),
        (r#","iss":["a"]"#, r#""iss":["a"]"#),
        (r#","aud":"a""#, r#""aud":["a"]"#),
        (r#","aud":["b","a"]"#, r#""aud":["a","b"]"#),
        (r#","aud":{"y":2,"x":1}"#, r#""aud":{"x":1,"y":2}"#),
    ] {
        assert_eq!(
            case(header, claims),
            Err(DecodeError::InvalidClaim(
                "replicated header parameter mismatch"
            )),
            "{header} vs {claims}"
        );
    }
}

#[test]
fn base64url_parts_are_read_as_jose_reads_them() {
    let pad = |s: &str| format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
    // The header part is the AAD as written: pad it before sealing.
    let h = B64.encode(header_with(""));
    assert_ne!(h.len() % 4, 0);
    let tok = seal_encoded(&pad(&h), &live_payload(), &s1());
    let parts: Vec<&str> = tok.split('.').collect();
    // Padded, whitespace-split: accepted (Node's atob).
    let padded = format!(
        "{}..{}.{}.{}",
        parts[0],
        pad(parts[2]),
        parts[3],
        pad(parts[4])
    );
    assert!(decode_s1(&padded).is_ok());
    let spaced = format!(
        "{}..{}.{} \n{}.{}",
        parts[0],
        parts[2],
        &parts[3][..4],
        &parts[3][4..],
        parts[4]
    );
    assert!(decode_s1(&spaced).is_ok());
    // Padding that does not complete a group of four, or the standard alphabet: refused.
    let short = if h.len() % 4 == 3 { "==" } else { "=" };
    let short = seal_encoded(&format!("{h}{short}"), &live_payload(), &s1());
    assert!(decode_s1(&short).is_err());
    let std_alphabet = format!(
        "{}..+{}.{}.{}",
        parts[0],
        &parts[2][1..],
        parts[3],
        parts[4]
    );
    assert!(decode_s1(&std_alphabet).is_err());
}

// --- Signed JWTs: jsonwebtoken checks the signature, the claims are checked as jose does.

#[cfg(feature = "jws")]
fn hs256(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"k"),
    )
    .unwrap()
}

#[cfg(feature = "jws")]
fn hs256_keys() -> JwsKeys {
    JwsKeys::new(&["HS256".into()], "k").unwrap()
}

#[cfg(feature = "jws")]
#[test]
fn jws_with_aud_decodes_when_no_audience_is_configured() {
    let tok = hs256(json!({"sub": "u", "aud": "api", "exp": now_secs() + 60}));
    assert_eq!(hs256_keys().decode(&tok).unwrap().sub(), Some("u"));
}

#[cfg(feature = "jws")]
#[test]
fn jws_audience_and_issuer_options_work_like_jose() {
    let exp = now_secs() + 60;
    let jws = hs256_keys()
        .with_audience(&["web".into(), "api".into()])
        .with_issuer(&["https://a".into()]);
    let ok = hs256(json!({"aud": ["x", "api"], "iss": "https://a", "exp": exp}));
    assert!(jws.decode(&ok).is_ok());
    for bad in [
        json!({"aud": "other", "iss": "https://a", "exp": exp}),
        json!({"iss": "https://a", "exp": exp}),
        json!({"aud": "api", "exp": exp}),
        json!({"aud": "api", "iss": ["https://a"], "exp": exp}),
        json!({"aud": "api", "iss": "https://b", "exp": exp}),
    ] {
        assert!(
            matches!(
                jws.decode(&hs256(bad.clone())),
                Err(DecodeError::InvalidClaim(_))
            ),
            "{bad}"
        );
    }
}

#[cfg(feature = "jws")]
#[test]
fn jws_exp_boundary_and_types_are_joses() {
    let now = 1_800_000_000u64;
    let at = |claims: Value| hs256_keys().decode_at(&hs256(claims), now);
    assert_eq!(at(json!({"exp": now - 15})), Err(DecodeError::Expired));
    assert!(at(json!({"exp": now - 14})).is_ok());
    assert!(at(json!({"exp": (now - 14) as f64 - 0.5})).is_ok());
    assert!(matches!(
        at(json!({"exp": "soon"})),
        Err(DecodeError::InvalidClaim(_))
    ));
    assert!(matches!(
        at(json!({"iat": "x"})),
        Err(DecodeError::InvalidClaim(_))
    ));
    // Through the clock: a token that expired exactly 15 s ago is refused (jsonwebtoken kept it).
    let tok = hs256(json!({"exp": now_secs() - 15}));
    assert_eq!(hs256_keys().decode(&tok), Err(DecodeError::Expired));
}

// --- Encoding: `exp` stays within what JavaScript reads exactly.

#[test]
fn max_age_past_the_javascript_safe_range_is_an_error() {
    let k = s1();
    assert_eq!(
        try_encode_jwe(&claims(), &k, Enc::A256CbcHs512, u64::MAX),
        Err(EncodeError::MaxAgeTooLarge { max_age: u64::MAX })
    );
    let edge = MAX_SAFE_INTEGER - now_secs() + 1;
    assert!(try_encode_jwe(&claims(), &k, Enc::A256CbcHs512, edge).is_err());
    assert!(try_encode_jwe(&claims(), &k, Enc::A256CbcHs512, 3600).is_ok());
}

#[test]
fn encode_jwe_caps_exp_instead_of_overflowing() {
    let tok = encode_jwe(&claims(), &s1(), Enc::A256CbcHs512, u64::MAX);
    let c = decode_s1(&tok).unwrap();
    assert_eq!(c.exp(), Some(MAX_SAFE_INTEGER));
}

/// JSON values to build headers from: every member decoding looks at, with any type.
fn header_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("dir".to_owned()),
            Just("DEF".to_owned()),
            Just("A256CBC-HS512".to_owned()),
            Just("A256GCM".to_owned()),
            ".{0,12}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((".{0,4}", inner), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(s in ".{0,600}") {
        // Never a panic, and garbage never decodes to claims.
        prop_assert!(decode_jwe(&s, &keys(&["s1"]), now_secs()).is_err());
    }

    #[test]
    fn arbitrary_mutations_of_a_valid_token_never_panic(
        pos in 0usize..2000, byte in any::<u8>(), cut in 0usize..2000
    ) {
        let tok = mint("s1", Enc::A256CbcHs512).into_bytes();
        let mut t = tok.clone();
        let p = pos % t.len();
        t[p] = byte;
        t.truncate(cut.max(1).min(t.len()));
        let s = String::from_utf8_lossy(&t);
        let r = decode_jwe(&s, &keys(&["s1"]), now_secs());
        // A change is refused, or it only touched bits that decode to nothing (unused
        // trailing bits, base64 whitespace): it can never yield other claims.
        if let Ok(c) = r {
            let original = decode_jwe(std::str::from_utf8(&tok).unwrap(), &keys(&["s1"]), now_secs());
            prop_assert_eq!(Ok(c), original);
        }
    }

    /// Headers with any members (the ones decoding reads among them, of any type), sealed under
    /// the right key so that decoding runs to the end: never a panic, and an accepted token
    /// always had the fields a valid Auth.js header has.
    #[test]
    fn random_headers_never_panic(
        members in prop::collection::vec(
            (prop_oneof![
                Just("alg".to_owned()), Just("enc".to_owned()), Just("kid".to_owned()),
                Just("zip".to_owned()), Just("crit".to_owned()), Just("iss".to_owned()),
                Just("sub".to_owned()), Just("aud".to_owned()), ".{0,6}"
            ], header_value()),
            0..8,
        ),
        base in any::<bool>(),
        zip in any::<bool>(),
    ) {
        let mut text = String::from("{");
        if base {
            text.push_str(&format!(r#""alg":"dir","enc":"A256CBC-HS512","kid":"{}","#, s1().cbc_kid()));
        }
        for (k, v) in &members {
            text.push_str(&format!("{}:{v},", Value::String(k.clone())));
        }
        if text.ends_with(',') {
            text.pop();
        }
        text.push('}');
        let payload = live_payload();
        let body = if zip { miniz_oxide::deflate::compress_to_vec(&payload, 1) } else { payload };
        if let Ok(c) = decode_s1(&seal(text.as_bytes(), &body, &s1())) {
            prop_assert_eq!(c.sub(), Some("u"));
        }
    }

    /// Arbitrary header bytes under a valid seal: never a panic, and never a header that is
    /// not one (random bytes are not an Auth.js header).
    #[test]
    fn random_header_bytes_never_panic(header in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(decode_s1(&seal(&header, &live_payload(), &s1())).is_err());
    }
}
