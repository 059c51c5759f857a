use super::*;

fn opts() -> ProxyOptions {
    ProxyOptions::new("http://127.0.0.1:4000", SessionStrategy::Jwt)
}

fn field_of(o: ProxyOptions) -> String {
    RuntimeConfig::build(&o, 1).unwrap_err().field
}

#[test]
fn paths_are_normalised() {
    assert_eq!(normalize_path("api/auth/"), "/api/auth");
    assert_eq!(normalize_path(""), "/");
    assert_eq!(normalize_path("//"), "/");
    assert_eq!(join_path("/", "session"), "/session");
    assert_eq!(join_path("/api/auth", "/session"), "/api/auth/session");
}

#[test]
fn target_base_path_defaults_to_local_base_path() {
    let mut o = opts();
    o.local_base_path = "auth/".into();
    let c = RuntimeConfig::build(&o, 1).unwrap();
    assert_eq!(c.local_base_path, "/auth");
    assert_eq!(c.target_base_path, "/auth");
}

#[test]
fn target_url_keeps_the_query_verbatim() {
    let c = RuntimeConfig::build(&opts(), 1).unwrap();
    assert_eq!(
        c.target_url("signin/github", Some("callbackUrl=%2Fa%3Fb&x")),
        "http://127.0.0.1:4000/api/auth/signin/github?callbackUrl=%2Fa%3Fb&x"
    );
}

#[test]
fn target_url_joins_like_join_path_for_root_and_nested_bases() {
    for base in ["/", "/api/auth", "/a"] {
        let mut o = opts();
        o.target_base_path = Some(base.into());
        let c = RuntimeConfig::build(&o, 1).unwrap();
        for suffix in ["", "session", "/session", "callback/github"] {
            assert_eq!(
                c.target_url(suffix, None),
                format!("http://127.0.0.1:4000{}", join_path(base, suffix)),
                "{base:?} + {suffix:?}"
            );
        }
    }
}

#[test]
fn missing_base_url_names_the_field() {
    let mut o = opts();
    o.base_url = String::new();
    assert_eq!(field_of(o), "base_url");
}

#[test]
fn base_url_with_a_path_is_refused() {
    let mut o = opts();
    o.base_url = "https://auth.example.com/api".into();
    assert_eq!(field_of(o), "base_url");
}

#[test]
fn base_url_without_scheme_is_refused() {
    let mut o = opts();
    o.base_url = "auth.example.com".into();
    assert_eq!(field_of(o), "base_url");
}

#[test]
fn strict_https_refuses_plain_http_to_a_remote_host() {
    let mut o = opts();
    o.base_url = "http://auth.example.com".into();
    o.strict_https = true;
    assert_eq!(field_of(o), "base_url");
}

#[test]
fn strict_https_allows_plain_http_on_loopback() {
    let mut o = opts();
    o.strict_https = true;
    assert!(RuntimeConfig::build(&o, 1).is_ok());
}

#[test]
fn missing_session_strategy_names_the_field() {
    let mut o = opts();
    o.session_strategy = None;
    assert_eq!(field_of(o), "session_strategy");
}

#[test]
fn traversal_in_base_path_is_refused() {
    let mut o = opts();
    o.target_base_path = Some("/api/../admin".into());
    assert_eq!(field_of(o), "target_base_path");
}

#[test]
fn invalid_header_name_names_the_header() {
    let mut o = opts();
    o.headers.insert("Bad Header".into(), "v".into());
    assert_eq!(field_of(o), "headers.Bad Header");
}

#[test]
fn empty_secret_is_refused() {
    let mut o = opts();
    o.secret = Some(Secret::Many(vec![]));
    assert_eq!(field_of(o), "secret");
}

#[test]
fn zero_attempts_is_refused() {
    let mut o = opts();
    o.retry.max_attempts = 0;
    assert_eq!(field_of(o), "retry.max_attempts");
}

#[test]
fn resilience_settings_are_checked_and_name_their_field() {
    let mut o = opts();
    o.circuit_breaker.open_ms = 0;
    assert_eq!(field_of(o), "circuit_breaker.open_ms");
    let mut o = opts();
    o.circuit_breaker.half_open_probes = 0;
    assert_eq!(field_of(o), "circuit_breaker.half_open_probes");
    let mut o = opts();
    o.retry.budget_percent = 1001;
    assert_eq!(field_of(o), "retry.budget_percent");
    let mut o = opts();
    o.upstream.max_in_flight = 2_000_000;
    assert_eq!(field_of(o), "upstream.max_in_flight");
}

#[test]
fn a_duration_past_a_month_is_refused_and_named() {
    const HUGE: u64 = 40_000_000_000_000; // about 1,268 years
    type Edit = fn(&mut ProxyOptions);
    let edits: [(&str, Edit); 10] = [
        ("retry.initial_backoff_ms", |o| {
            o.retry.initial_backoff_ms = HUGE
        }),
        ("retry.max_backoff_ms", |o| o.retry.max_backoff_ms = HUGE),
        ("timeouts.connect_ms", |o| o.timeouts.connect_ms = HUGE),
        ("timeouts.per_try_ms", |o| o.timeouts.per_try_ms = HUGE),
        ("timeouts.request_ms", |o| o.timeouts.request_ms = HUGE),
        ("timeouts.pool_idle_ms", |o| o.timeouts.pool_idle_ms = HUGE),
        ("timeouts.client_body_ms", |o| {
            o.timeouts.client_body_ms = HUGE
        }),
        ("session_cache.ttl_ms", |o| o.session_cache.ttl_ms = HUGE),
        ("session_cache.stale_if_error_ms", |o| {
            o.session_cache.stale_if_error_ms = HUGE
        }),
        ("circuit_breaker.open_ms", |o| {
            o.circuit_breaker.open_ms = HUGE
        }),
    ];
    for (field, edit) in edits {
        let mut o = opts();
        edit(&mut o);
        assert_eq!(field_of(o), field);
    }
    let mut o = opts();
    o.session_cache.ttl_ms = MAX_DURATION_MS;
    o.session_cache.negative_ttl_ms = MAX_DURATION_MS;
    o.session_cache.stale_if_error_ms = MAX_DURATION_MS;
    assert!(RuntimeConfig::build(&o, 1).is_ok());
}

#[test]
fn a_disabled_breaker_needs_no_open_ms() {
    let mut o = opts();
    o.circuit_breaker.consecutive_failures = 0;
    o.circuit_breaker.open_ms = 0;
    assert!(RuntimeConfig::build(&o, 1).is_ok());
}

#[test]
fn debug_output_hides_secrets_and_header_values() {
    let mut o = opts();
    o.secret = Some(Secret::One("hunter2-secret".into()));
    o.headers.insert("X-Api-Key".into(), "key-value-123".into());
    let printed = format!("{o:?} {:?}", RuntimeConfig::build(&o, 1).unwrap());
    assert!(!printed.contains("hunter2-secret"));
    assert!(!printed.contains("key-value-123"));
    assert!(printed.contains("X-Api-Key") || printed.contains("x-api-key"));
}

#[test]
fn a_cookie_name_javascript_reads_as_an_array_index_is_refused() {
    // Auth.js keeps cookies in an object, which lists such names first: its chunks would be
    // put together out of order.
    for name in ["0", "1", "42", "4294967294"] {
        let mut o = opts();
        o.cookie_name = Some(name.into());
        let e = RuntimeConfig::build(&o, 1).unwrap_err();
        assert_eq!(e.field, "cookie_name", "{name}");
        assert!(e.to_string().contains("number"), "{e}");
    }
    for name in ["01", "4294967295", "1x", "my-session"] {
        let mut o = opts();
        o.cookie_name = Some(name.into());
        assert!(RuntimeConfig::build(&o, 1).is_ok(), "{name}");
    }
}

#[test]
fn default_cookie_names_are_the_secure_then_plain_authjs_names() {
    let c = RuntimeConfig::build(&opts(), 1).unwrap();
    assert_eq!(c.cookie_names, vec![SECURE_SESSION_COOKIE, SESSION_COOKIE]);
}

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
