use std::path::Path;

use super::*;
use crate::options::Secret;

fn write(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("c.toml");
    std::fs::write(&p, body).unwrap();
    p
}

/// A scratch directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("authjs-proxy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

const FILE: &str = r#"
[server]
listen = "127.0.0.1:3000"
workers = 2
[proxy]
local_base_path = "/api/auth"
base_url = "http://127.0.0.1:4000"
session_strategy = "jwt"
secret = ["newest", "older"]
[proxy.headers]
X-API-Key = "abc"
"#;

#[test]
fn file_with_a_secret_list_loads() {
    let dir = temp_dir("list");
    let p = write(&dir, FILE);
    let f = FileConfig::load_with_env(&p, []).unwrap();
    assert_eq!(f.proxy.secret.unwrap().to_vec(), vec!["newest", "older"]);
    assert_eq!(f.proxy.headers.len(), 1);
}

/// The error of loading `FILE` with `from` replaced by `to`.
fn load_error_with(name: &str, from: &str, to: &str) -> String {
    let dir = temp_dir(name);
    assert!(FILE.contains(from));
    let p = write(&dir, &FILE.replace(from, to));
    FileConfig::load_with_env(&p, []).unwrap_err().to_string()
}

#[test]
fn a_drain_past_a_month_is_refused_and_named() {
    let dir = temp_dir("drain");
    let p = write(&dir, &format!("{FILE}[admin]\ndrain_ms = 40000000000000\n"));
    let e = FileConfig::load_with_env(&p, []).unwrap_err();
    assert_eq!(e.field, "admin.drain_ms");
}

#[test]
fn a_syntax_error_names_its_line_without_echoing_the_line() {
    let e = load_error_with(
        "syntax-secret",
        r#"secret = ["newest", "older"]"#,
        r#"secret = "N3wS3cr3tValue"#,
    );
    assert!(!e.contains("N3wS3cr3tValue"), "{e}");
    assert!(e.contains("line 9"), "{e}");
    let e = load_error_with(
        "syntax-header",
        r#"X-API-Key = "abc""#,
        r#"X-API-Key = "k3y-with-"quote"-inside""#,
    );
    assert!(!e.contains("k3y-with"), "{e}");
    assert!(!e.contains("inside"), "{e}");
}

#[test]
fn a_value_of_the_wrong_type_is_not_echoed() {
    let e = load_error_with(
        "type-secret",
        r#"session_strategy = "jwt""#,
        "session_strategy = \"jwt\"\nstrict_https = \"S3cr3tValue\"",
    );
    assert!(!e.contains("S3cr3tValue"), "{e}");
    assert!(e.contains("strict_https"), "{e}");
    let e = load_error_with(
        "variant-secret",
        r#"session_strategy = "jwt""#,
        r#"session_strategy = "V4r1antS3cret""#,
    );
    assert!(!e.contains("V4r1antS3cret"), "{e}");
    let e = load_error_with(
        "variant-with-key-words",
        r#"session_strategy = "jwt""#,
        r#"session_strategy = "jwt for key hunter2""#,
    );
    assert!(!e.contains("hunter2"), "{e}");
    assert!(e.contains("proxy.session_strategy"), "{e}");
    let e = load_error_with(
        "escaped-quote",
        r#"session_strategy = "jwt""#,
        "session_strategy = \"jwt\"\nstrict_https = 'S3cr\"LEAKtail'",
    );
    assert!(!e.to_lowercase().contains("leak"), "{e}");
    let e = load_error_with(
        "int-secret",
        r#"session_strategy = "jwt""#,
        "session_strategy = \"jwt\"\nmax_body_bytes = -123456789",
    );
    assert!(!e.contains("123456789"), "{e}");
}

#[test]
fn environment_overrides_the_file() {
    let dir = temp_dir("env");
    let p = write(&dir, FILE);
    let env = [(
        "AUTHJS_PROXY__PROXY__BASE_URL".to_string(),
        "https://auth.example.com".to_string(),
    )];
    let f = FileConfig::load_with_env(&p, env).unwrap();
    assert_eq!(f.proxy.base_url, "https://auth.example.com");
}

#[test]
fn auth_secret_fills_in_when_the_file_has_no_secret() {
    let dir = temp_dir("authsecret");
    let p = write(
        &dir,
        "[proxy]\nbase_url = \"http://127.0.0.1:1\"\nsession_strategy = \"jwt\"\n",
    );
    let f = FileConfig::load_with_env(&p, [("AUTH_SECRET".into(), "from-env".into())]).unwrap();
    assert_eq!(f.proxy.secret.unwrap().to_vec(), vec!["from-env"]);
}

#[test]
fn unknown_key_in_the_file_is_an_error() {
    let dir = temp_dir("unknown");
    let p = write(
        &dir,
        "[proxy]\nbase_url = \"http://127.0.0.1:1\"\nsession_strategy = \"jwt\"\nbase_ur = 1\n",
    );
    let e = FileConfig::load_with_env(&p, []).unwrap_err();
    assert!(e.reason.contains("base_ur"), "{e}");
}

#[test]
fn invalid_listen_address_names_the_field() {
    let dir = temp_dir("listen");
    let p = write(
        &dir,
        "[server]\nlisten = \"nowhere\"\n[proxy]\nbase_url = \"http://127.0.0.1:1\"\nsession_strategy = \"jwt\"\n",
    );
    assert_eq!(
        FileConfig::load_with_env(&p, []).unwrap_err().field,
        "server.listen"
    );
}

#[test]
fn default_config_file_is_valid() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    assert!(FileConfig::load_with_env(&p, []).is_ok());
}

#[test]
fn server_trusted_proxies_is_the_one_trust_list() {
    let dir = temp_dir("trust-list");
    let file = FILE.replace(
        "workers = 2",
        "workers = 2\ntrusted_proxies = [\"10.1.0.0/16\", \"192.0.2.7\"]",
    );
    let loaded = FileConfig::load_with_env(&write(&dir, &file), []).unwrap();
    assert_eq!(loaded.proxy.trusted_proxies, ["10.1.0.0/16", "192.0.2.7"]);
    let e = load_error_with(
        "trust-bad",
        "workers = 2",
        "workers = 2\ntrusted_proxies = [\"10.0.0.0/40\"]",
    );
    assert!(e.starts_with("server.trusted_proxies"), "{e}");
}

#[test]
fn the_deprecated_forward_auth_list_is_the_trust_list_when_the_server_has_none() {
    let dir = temp_dir("trust-deprecated");
    let file = format!("{FILE}\n[forward_auth]\ntrusted_proxies = [\"10.2.0.0/16\"]\n");
    let loaded = FileConfig::load_with_env(&write(&dir, &file), []).unwrap();
    assert_eq!(loaded.proxy.trusted_proxies, ["10.2.0.0/16"]);
    let loaded = FileConfig::load_with_env(&write(&dir, FILE), []).unwrap();
    assert_eq!(loaded.proxy.trusted_proxies, ["127.0.0.0/8", "::1/128"]);
}

#[test]
fn a_missing_file_names_the_path_it_looked_for() {
    let e = FileConfig::load_with_env(Path::new("no-such-dir/authjs-proxy.toml"), [])
        .unwrap_err()
        .to_string();
    let cwd = std::env::current_dir().unwrap();
    let looked = cwd.join("no-such-dir/authjs-proxy.toml");
    assert!(e.contains(&looked.display().to_string()), "{e}");
    assert!(e.contains("--config"), "{e}");
}

#[test]
fn an_unknown_choice_lists_the_ones_there_are() {
    let e = load_error_with(
        "strategy-typo",
        r#"session_strategy = "jwt""#,
        r#"session_strategy = "jtw""#,
    );
    assert!(e.contains("\"jwt\"") && e.contains("\"database\""), "{e}");
    assert!(!e.contains("jtw"), "{e}");
}

#[test]
fn a_switch_takes_true_or_false_only() {
    let e = load_error_with(
        "bool-yes",
        r#"session_strategy = "jwt""#,
        "session_strategy = \"jwt\"\npreserve_host = \"yes\"",
    );
    assert!(e.starts_with("proxy.preserve_host"), "{e}");
    // The environment writes every value as text: "true" and "false" are what it can say.
    let dir = temp_dir("bool-env");
    let loaded = FileConfig::load_with_env(
        &write(&dir, FILE),
        [(
            "AUTHJS_PROXY__PROXY__PRESERVE_HOST".to_owned(),
            "true".to_owned(),
        )],
    )
    .unwrap();
    assert!(loaded.proxy.preserve_host);
}

#[test]
fn the_environment_sets_list_keys_comma_separated() {
    let dir = temp_dir("env-lists");
    let env = [
        (
            "AUTHJS_PROXY__SERVER__TRUSTED_PROXIES",
            "10.0.0.0/8, 192.0.2.7",
        ),
        ("AUTHJS_PROXY__PROXY__SECRET", "newest,older"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let loaded = FileConfig::load_with_env(&write(&dir, FILE), env).unwrap();
    assert_eq!(loaded.proxy.trusted_proxies, ["10.0.0.0/8", "192.0.2.7"]);
    assert_eq!(
        loaded.proxy.secret,
        Some(Secret::Many(vec!["newest".into(), "older".into()]))
    );
}

#[test]
fn a_variable_that_looks_like_ours_but_is_never_read_is_a_notice() {
    let dir = temp_dir("env-stray");
    let env = [("AUTHJS_PROXY_PROXY__BASE_URL", "http://elsewhere:1")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let loaded = FileConfig::load_with_env(&write(&dir, FILE), env).unwrap();
    assert_eq!(loaded.proxy.base_url, "http://127.0.0.1:4000");
    assert!(
        loaded
            .notices
            .iter()
            .any(|n| n.contains("AUTHJS_PROXY_PROXY__BASE_URL") && n.contains("AUTHJS_PROXY__")),
        "{:?}",
        loaded.notices
    );
}
