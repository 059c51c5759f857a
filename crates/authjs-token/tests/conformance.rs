//! The conformance vectors (`tests/vectors/`, described in `tests/vectors/README.md`): tokens
//! made by `@auth/core`'s own `encode` decode here to exactly the claims `@auth/core` decodes;
//! edge-case tokens get the verdict the real decoder gives.

#[cfg(feature = "jws")]
use authjs_token::JwsKeys;
use authjs_token::cookie::{find_session_token, session_cookie_names};
use authjs_token::{DecodeError, Decoder, SaltKeys, decode_jwe, decode_with_secrets};
use serde_json::Value;

fn fixtures() -> Vec<Value> {
    let text = include_str!("vectors/authjs-tokens.json");
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

#[test]
fn every_authjs_token_decodes_from_a_cookie_header_through_the_decoder() {
    for f in fixtures() {
        let salt = f["salt"].as_str().unwrap();
        let decoder = Decoder::with_cookie_name(secrets(&f["secret"]), salt);
        let header = format!("theme=dark; {salt}={}", f["token"].as_str().unwrap());
        let claims = decoder
            .from_cookie_header(header.as_bytes(), true)
            .unwrap_or_else(|e| panic!("{}: {e}", f["name"]));
        assert_eq!(Value::Object(claims.0), f["claims"], "{}", f["name"]);
    }
}

// --- Edge cases: vectors/jose-edge-tokens.json (tests/e2e/authjs/make-edge-fixtures.mjs)
// holds tokens made by jose's encoder or by hand, each with the verdict the real decoder gave at
// a pinned clock: @auth/core's `decode` for JWEs, jose's `jwtVerify` for JWSs.

fn edge() -> Value {
    serde_json::from_str(include_str!("vectors/jose-edge-tokens.json")).unwrap()
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

#[cfg(feature = "jws")]
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

// --- Authorization headers: vectors/authjs-bearer.json (tests/e2e/authjs/make-bearer-fixtures.mjs)
// holds requests' `Authorization` (and `Cookie`) lines with what `@auth/core`'s `getToken` read
// from them in a Node app: the token (`raw`), whether a session decoded (`accept`) and whose
// (`sub`).

fn bearer() -> Value {
    serde_json::from_str(include_str!("vectors/authjs-bearer.json")).unwrap()
}

/// A fixture string as the bytes it stands for: one byte per character (obs-text above 0x7F).
fn latin1(v: &Value) -> Vec<u8> {
    v.as_str().unwrap().chars().map(|c| c as u8).collect()
}

/// The header value a case's request hands on: the first `Authorization` line, as Node's
/// `http` server keeps it (it drops repeated ones). Callers pass that one.
fn authorization_of(case: &Value) -> Option<Vec<u8>> {
    case["values"].as_array().unwrap().first().map(latin1)
}

fn cookies_of(case: &Value) -> Vec<Vec<u8>> {
    case["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .map(latin1)
        .collect()
}

/// What Auth.js read, or for a known divergence what this crate reads instead (the case's
/// `note` says why).
fn expected(case: &Value) -> &Value {
    case.get("ours").unwrap_or(&case["expect"])
}

#[test]
fn every_authorization_header_yields_the_token_authjs_get_token_reads() {
    let all = bearer();
    let cases = all["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut wrong = Vec::new();
    for f in cases {
        let name = f["name"].as_str().unwrap();
        let names = session_cookie_names(f["secure"].as_bool().unwrap());
        let cookies = cookies_of(f);
        let authorization = authorization_of(f);
        let got = find_session_token(
            cookies.iter().map(Vec::as_slice),
            authorization.as_deref(),
            names,
        )
        .map(|found| Value::String(found.value))
        .unwrap_or(Value::Null);
        let expect = &expected(f)["raw"];
        if got != *expect {
            wrong.push(format!("{name}: ours {got}, authjs {expect}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} tokens differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_authorization_header_gets_the_session_authjs_get_token_gives() {
    let all = bearer();
    // Auth.js's default cookie names: `authjs.session-token` on http, `__Secure-...` on https.
    let decoder = Decoder::new(secrets(&all["secret"]));
    let mut wrong = Vec::new();
    for f in all["cases"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let cookies = cookies_of(f);
        let authorization = authorization_of(f);
        let secure = f["secure"].as_bool().unwrap();
        let got = decoder.from_headers(
            cookies.iter().map(Vec::as_slice),
            authorization.as_deref(),
            secure,
        );
        let expect = expected(f);
        match (&got, expect["accept"].as_bool().unwrap()) {
            (Ok(claims), true) if claims.sub() == expect["sub"].as_str() => {}
            (Err(_), false) => {}
            _ => wrong.push(format!("{name}: ours {got:?}, expected {expect}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} verdicts differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
