use super::*;
use proptest::prelude::*;
use serde_json::json;

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

#[test]
fn a_bit_flip_in_any_part_is_rejected() {
    let tok = mint("s1", Enc::A256CbcHs512);
    let k = keys(&["s1"]);
    for (i, c) in tok.char_indices() {
        if c == '.' {
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

#[test]
fn alg_none_jws_is_rejected() {
    let jws = JwsKeys::new(&["HS256".into()], "k").unwrap();
    let h = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let p = B64.encode(r#"{"sub":"u"}"#);
    assert!(jws.decode(&format!("{h}.{p}.")).is_err());
}

#[test]
fn alg_none_is_not_a_configurable_algorithm() {
    assert!(matches!(
        JwsKeys::new(&["none".into()], "k"),
        Err(JwsConfigError::UnknownAlgorithm(_))
    ));
}

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
        jws: None,
    };
    assert_eq!(
        tk.decode("a.b.c", SALT, now_secs()),
        Err(DecodeError::JwsNotConfigured)
    );
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(s in ".{0,600}") {
        let _ = decode_jwe(&s, &keys(&["s1"]), now_secs());
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
        if s != String::from_utf8_lossy(&tok) {
            prop_assert!(r.is_err());
        }
    }
}
