//! Tokens made by `@auth/core`'s own `encode` (tests/fixtures/authjs-tokens.json, written by
//! tests/e2e/authjs/make-fixtures.mjs) decode here to exactly the claims `@auth/core` decodes.

use authjs_proxy::token::{DecodeError, decode_with_secrets};
use serde_json::Value;

fn fixtures() -> Vec<Value> {
    let text = include_str!("fixtures/authjs-tokens.json");
    serde_json::from_str(text).unwrap()
}

fn secrets(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
        _ => panic!("secret must be a string or a list"),
    }
}

#[test]
fn every_authjs_token_decodes_to_the_claims_authjs_decodes() {
    let all = fixtures();
    assert!(all.len() >= 5);
    for f in all {
        let claims = decode_with_secrets(
            f["token"].as_str().unwrap(),
            &secrets(&f["secret"]),
            f["salt"].as_str().unwrap(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", f["name"]));
        assert_eq!(Value::Object(claims.0), f["claims"], "{}", f["name"]);
    }
}

#[test]
fn authjs_tokens_do_not_decode_with_another_salt() {
    for f in fixtures() {
        let r = decode_with_secrets(
            f["token"].as_str().unwrap(),
            &secrets(&f["secret"]),
            "other.cookie",
        );
        assert!(r.is_err(), "{}", f["name"]);
    }
}

#[test]
fn authjs_token_from_an_older_secret_does_not_decode_without_it() {
    let f = fixtures()
        .into_iter()
        .find(|f| f["name"].as_str().unwrap().starts_with("rotated"))
        .unwrap();
    let r = decode_with_secrets(
        f["token"].as_str().unwrap(),
        &["newer".to_owned()],
        f["salt"].as_str().unwrap(),
    );
    assert_eq!(r.unwrap_err(), DecodeError::NoMatchingKey);
}
