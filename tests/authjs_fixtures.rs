//! Tokens made by `@auth/core`'s own `encode` (tests/fixtures/authjs-tokens.json, written by
//! tests/e2e/authjs/make-fixtures.mjs) decode here to exactly the claims `@auth/core` decodes;
//! edge-case tokens (tests/fixtures/jose-edge-tokens.json) get the verdict the real decoder
//! gives; secrets are read from the environment as Auth.js reads them.

use authjs_proxy::config::{FileConfig, RuntimeConfig};
use authjs_proxy::token::{
    DecodeError, JwsKeys, SaltKeys, decode_jwe, decode_with_secrets, now_secs,
};
use serde_json::{Value, json};

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

// --- Edge cases: tests/fixtures/jose-edge-tokens.json (tests/e2e/authjs/make-edge-fixtures.mjs)
// holds tokens made by jose's encoder or by hand, each with the verdict the real decoder gave at
// a pinned clock: @auth/core's `decode` for JWEs, jose's `jwtVerify` for JWSs.

fn edge() -> Value {
    serde_json::from_str(include_str!("fixtures/jose-edge-tokens.json")).unwrap()
}

/// Expands `{"$repeat": "x", "times": n}` (how the generator writes long runs) back to a string.
fn expand(claims: &Value) -> Value {
    let mut out = claims.as_object().unwrap().clone();
    for v in out.values_mut() {
        if let Some(r) = v.get("$repeat").and_then(Value::as_str) {
            *v = Value::String(r.repeat(v["times"].as_u64().unwrap() as usize));
        }
    }
    Value::Object(out)
}

/// Equality as JavaScript sees parsed JSON: numbers by value (`5.0` is `5`), objects by members.
fn js_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| js_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| js_eq(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn every_jwe_edge_case_gets_the_verdict_authjs_decode_gives() {
    let all = edge();
    let now = all["now"].as_u64().unwrap();
    let salt = all["salt"].as_str().unwrap();
    let cases = all["jwe"].as_array().unwrap();
    assert!(cases.len() >= 100);
    let mut wrong = Vec::new();
    for f in cases {
        let name = f["name"].as_str().unwrap();
        let secret = f.get("secret").unwrap_or(&all["secret"]);
        let keys = SaltKeys::derive(&secrets(secret), salt);
        let got = decode_jwe(f["token"].as_str().unwrap(), &keys, now);
        let expect = &f["expect"];
        // Known divergences: jose accepts, we reject (the fixture's note says why).
        let accept = expect["accept"].as_bool().unwrap() && f.get("mirrored").is_none();
        match (&got, accept) {
            (Ok(c), true) if js_eq(&Value::Object(c.0.clone()), &expand(&expect["claims"])) => {}
            (Err(_), false) => {}
            _ => wrong.push(format!("{name}: ours {got:?}, authjs {expect}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} verdicts differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_jws_edge_case_gets_the_verdict_jose_jwt_verify_gives() {
    let all = edge();
    let now = all["now"].as_u64().unwrap();
    let cases = all["jws"].as_array().unwrap();
    assert!(cases.len() >= 20);
    let list = |v: Option<&Value>| -> Vec<String> { v.map(secrets).unwrap_or_default() };
    let mut wrong = Vec::new();
    for f in cases {
        let name = f["name"].as_str().unwrap();
        let jws = JwsKeys::new(&["HS256".into()], "jws-edge-secret")
            .unwrap()
            .with_audience(&list(f.get("audience")))
            .with_issuer(&list(f.get("issuer")));
        let got = jws.decode_at(f["token"].as_str().unwrap(), now);
        let expect = &f["expect"];
        match (&got, expect["accept"].as_bool().unwrap()) {
            (Ok(c), true) if js_eq(&Value::Object(c.0.clone()), &expect["claims"]) => {}
            (Err(_), false) => {}
            _ => wrong.push(format!("{name}: ours {got:?}, jose {expect}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} verdicts differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

// --- Configuration read as Auth.js reads it.

fn config_file(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "authjs-proxy-fixtures-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("config.toml");
    std::fs::write(&p, body).unwrap();
    p
}

const NO_SECRET: &str = "[proxy]\nbase_url = \"http://127.0.0.1:1\"\nsession_strategy = \"jwt\"\n";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `@auth/core`'s `setEnvDefaults` (lib/utils/env.js) builds `secret` from AUTH_SECRET, then
/// puts AUTH_SECRET_1, _2, _3 in front in turn: [_3, _2, _1, AUTH_SECRET]. The first encodes.
#[test]
fn auth_secret_1_to_3_are_read_in_authjs_order() {
    let p = config_file("secrets", NO_SECRET);
    let all = env(&[
        ("AUTH_SECRET", "base"),
        ("AUTH_SECRET_1", "one"),
        ("AUTH_SECRET_2", "two"),
        ("AUTH_SECRET_3", "three"),
    ]);
    let f = FileConfig::load_with_env(&p, all).unwrap();
    assert_eq!(
        f.proxy.secret.unwrap().to_vec(),
        vec!["three", "two", "one", "base"]
    );
    let gaps = env(&[
        ("AUTH_SECRET_1", "one"),
        ("AUTH_SECRET_2", ""),
        ("AUTH_SECRET_3", "three"),
    ]);
    let f = FileConfig::load_with_env(&p, gaps).unwrap();
    assert_eq!(f.proxy.secret.unwrap().to_vec(), vec!["three", "one"]);
    let only = env(&[("AUTH_SECRET_2", "two")]);
    let f = FileConfig::load_with_env(&p, only).unwrap();
    assert_eq!(f.proxy.secret.unwrap().to_vec(), vec!["two"]);
}

#[test]
fn environment_secrets_fill_in_only_when_the_file_has_none() {
    let set = config_file(
        "secret-set",
        &format!("{NO_SECRET}secret = \"from-file\"\n"),
    );
    let e = env(&[("AUTH_SECRET", "base"), ("AUTH_SECRET_1", "one")]);
    let f = FileConfig::load_with_env(&set, e.clone()).unwrap();
    assert_eq!(f.proxy.secret.unwrap().to_vec(), vec!["from-file"]);
    // An empty list is no secret for Auth.js (`!secret?.length`).
    let empty = config_file("secret-empty", &format!("{NO_SECRET}secret = []\n"));
    let f = FileConfig::load_with_env(&empty, e).unwrap();
    assert_eq!(f.proxy.secret.unwrap().to_vec(), vec!["one", "base"]);
}

#[test]
fn jws_audience_and_issuer_are_configurable() {
    let p = config_file(
        "jws",
        &format!(
            "{NO_SECRET}[proxy.jws]\nalgorithms = [\"HS256\"]\nkey = \"k\"\naudience = [\"api\"]\nissuer = [\"https://issuer.example\"]\n"
        ),
    );
    let f = FileConfig::load_with_env(&p, []).unwrap();
    let rc = RuntimeConfig::build(&f.proxy, 0).unwrap();
    let keys = rc.keys.unwrap();
    let sign = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap()
    };
    let exp = now_secs() + 60;
    let ok = sign(json!({"sub": "j", "aud": "api", "iss": "https://issuer.example", "exp": exp}));
    assert_eq!(
        keys.decode(&ok, "authjs.session-token", now_secs())
            .unwrap()
            .sub(),
        Some("j")
    );
    let other =
        sign(json!({"sub": "j", "aud": "web", "iss": "https://issuer.example", "exp": exp}));
    assert!(
        keys.decode(&other, "authjs.session-token", now_secs())
            .is_err()
    );
}

// --- The CLI encoder refuses lifetimes JavaScript could not read back.

#[test]
fn cli_token_encode_refuses_a_max_age_past_2_pow_53() {
    use std::io::Write;
    let run = |max_age: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_authjs-proxy"))
            .args(["token", "encode", "--secret", "s", "--max-age", max_age])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"{\"sub\":\"u\"}")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    for max_age in [u64::MAX.to_string(), (1u64 << 53).to_string()] {
        let out = run(&max_age);
        assert_eq!(out.status.code(), Some(1), "--max-age {max_age}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("max age") && err.contains("too large"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = run("3600");
    assert!(out.status.success());
}
