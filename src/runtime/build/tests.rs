use super::*;
use crate::core::path::{join_path, normalize_path};
use crate::options::proxy::{Secret, SessionStrategy};

fn opts() -> ProxyOptions {
    ProxyOptions::new("http://127.0.0.1:4000", SessionStrategy::Jwt)
}

fn field_of(o: ProxyOptions) -> String {
    Snapshot::build(&o, 1).unwrap_err().field
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
    let c = Snapshot::build(&o, 1).unwrap();
    assert_eq!(c.local_base_path, "/auth");
    assert_eq!(c.target_base_path, "/auth");
}

#[test]
fn target_url_keeps_the_query_verbatim() {
    let c = Snapshot::build(&opts(), 1).unwrap();
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
        let c = Snapshot::build(&o, 1).unwrap();
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
    assert!(Snapshot::build(&o, 1).is_ok());
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
    assert!(Snapshot::build(&o, 1).is_ok());
}

#[test]
fn a_disabled_breaker_needs_no_open_ms() {
    let mut o = opts();
    o.circuit_breaker.consecutive_failures = 0;
    o.circuit_breaker.open_ms = 0;
    assert!(Snapshot::build(&o, 1).is_ok());
}

#[test]
fn debug_output_hides_secrets_and_header_values() {
    let mut o = opts();
    o.secret = Some(Secret::One("hunter2-secret".into()));
    o.headers.insert("X-Api-Key".into(), "key-value-123".into());
    let printed = format!("{o:?} {:?}", Snapshot::build(&o, 1).unwrap());
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
        let e = Snapshot::build(&o, 1).unwrap_err();
        assert_eq!(e.field, "cookie_name", "{name}");
        assert!(e.to_string().contains("number"), "{e}");
    }
    for name in ["01", "4294967295", "1x", "my-session"] {
        let mut o = opts();
        o.cookie_name = Some(name.into());
        assert!(Snapshot::build(&o, 1).is_ok(), "{name}");
    }
}

#[test]
fn default_cookie_names_are_the_secure_then_plain_authjs_names() {
    let c = Snapshot::build(&opts(), 1).unwrap();
    assert_eq!(c.cookie_names, vec![SECURE_SESSION_COOKIE, SESSION_COOKIE]);
}
