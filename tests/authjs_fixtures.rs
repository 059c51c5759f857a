//! Auth.js's configuration as the proxy reads it (secrets from the environment, JWS options)
//! and the CLI encoder. The token conformance vectors live in the `authjs-token` crate
//! (`crates/authjs-token/tests/conformance.rs`).

mod common;

use authjs_proxy::config::{FileConfig, RuntimeConfig};
use authjs_proxy::token::now_secs;
use serde_json::{Value, json};

// --- Configuration read as Auth.js reads it.

/// `body` as a configuration file, removed when dropped.
fn config_file(name: &str, body: &str) -> common::ScratchFile {
    common::ScratchFile::new(&format!("fixtures-{name}"), "config.toml", body)
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
