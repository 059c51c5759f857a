//! The forward-auth decision endpoint (`[forward_auth]`, issue #9), against real HTTP servers
//! on 127.0.0.1: the proxy under test and, for database sessions, a recording fake upstream.

mod common;

use std::io::Write;
use std::time::Duration;

use actix_web::http::header::HeaderMap;
use authjs_proxy::AuthProxy;
use authjs_proxy::config::{
    FileConfig, ProxyOptions, SECURE_SESSION_COOKIE, SESSION_COOKIE, Secret, SessionStrategy,
};
use authjs_proxy::gate::{self, ForwardAuthOptions, OnUnauthenticated};
use authjs_proxy::token;
use common::*;
use serde_json::{Value, json};

const SECRET: &str = "gate-secret";
const VERIFY: &str = "/_authjs/verify";

fn ada_claims() -> Value {
    json!({
        "sub": "u-ada", "email": "ada@example.com", "name": "Ada Lovelace",
        "role": "admin", "org": {"team": "core"}
    })
}

fn token_for(claims: &Value, secret: &str, salt: &str, max_age: u64) -> String {
    token::encode_with_secret(claims.as_object().unwrap(), secret, salt, max_age)
}

/// `authjs.session-token=<token>` for `claims`, valid for an hour.
fn cookie(claims: &Value) -> String {
    format!(
        "{SESSION_COOKIE}={}",
        token_for(claims, SECRET, SESSION_COOKIE, 3600)
    )
}

fn jwt_options() -> ProxyOptions {
    let mut o = options(&format!("http://127.0.0.1:{}", closed_port()));
    o.secret = Some(Secret::One(SECRET.into()));
    o
}

/// The proxy with the endpoint mounted as `edit` configures it.
async fn start(opts: ProxyOptions, edit: impl FnOnce(&mut ForwardAuthOptions)) -> TestProxy {
    let proxy = AuthProxy::start();
    proxy.configure(opts).await.expect("valid test options");
    serve(proxy, edit)
}

fn serve(proxy: AuthProxy, edit: impl FnOnce(&mut ForwardAuthOptions)) -> TestProxy {
    let mut fa = ForwardAuthOptions {
        enabled: true,
        ..Default::default()
    };
    edit(&mut fa);
    let g = fa.validate().expect("valid forward-auth options");
    TestProxy::serve_with(proxy.clone(), gate::configure(proxy, g))
}

/// One answer, read whole.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn ask(
    p: &TestProxy,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let c = client();
    let mut req = c.request(method.parse().unwrap(), p.url(path_and_query));
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    let mut res = req.send().await.unwrap();
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.body().await.unwrap().to_vec(),
    }
}

async fn verify(p: &TestProxy, headers: &[(&str, &str)]) -> Answer {
    ask(p, "GET", VERIFY, headers).await
}

fn assert_uncacheable(a: &Answer) {
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(a.header("vary"), Some("Cookie, Authorization"));
}

// --- JWT sessions, decided locally ----------------------------------------------------------

#[actix_web::test]
async fn no_session_cookie_is_401_not_signed_in() {
    let p = start(jwt_options(), |_| {}).await;
    let a = verify(&p, &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json(), json!({"error": "not signed in"}));
    assert_uncacheable(&a);
}

#[actix_web::test]
async fn valid_session_is_200_with_identity_headers_and_empty_body() {
    let p = start(jwt_options(), |_| {}).await;
    let a = verify(&p, &[("cookie", &cookie(&ada_claims()))]).await;
    assert_eq!(a.status, 200);
    assert!(a.body.is_empty());
    assert_eq!(a.header("x-auth-request-user"), Some("u-ada"));
    assert_eq!(a.header("x-auth-request-email"), Some("ada@example.com"));
    assert_eq!(a.header("x-auth-request-name"), Some("Ada Lovelace"));
    assert_uncacheable(&a);
}

#[actix_web::test]
async fn jwt_decisions_never_ask_the_upstream() {
    let up = FakeUpstream::ok();
    let mut o = jwt_options();
    o.base_url = up.url();
    let p = start(o, |_| {}).await;
    for c in [
        cookie(&ada_claims()),
        format!("{SESSION_COOKIE}=garbage"),
        String::new(),
    ] {
        verify(&p, &[("cookie", &c)]).await;
    }
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn tampered_session_is_401() {
    let p = start(jwt_options(), |_| {}).await;
    let c = cookie(&ada_claims());
    // A character inside the tag: all six of its bits are data (the last character's lowest
    // two are not, and base64url decoders ignore them, as jose does).
    let at = c.len() - 10;
    let flipped = if &c[at..=at] == "A" { "B" } else { "A" };
    let c = format!("{}{flipped}{}", &c[..at], &c[at + 1..]);
    assert_eq!(verify(&p, &[("cookie", &c)]).await.status, 401);
}

#[actix_web::test]
async fn expired_session_is_401() {
    let p = start(jwt_options(), |_| {}).await;
    let mut claims = ada_claims();
    claims["exp"] = json!(token::now_secs() - 3600);
    let keys = token::SecretKeys::derive(SECRET, SESSION_COOKIE);
    let t = token::encode_jwe_raw(claims.as_object().unwrap(), &keys, token::Enc::A256CbcHs512);
    let a = verify(&p, &[("cookie", &format!("{SESSION_COOKIE}={t}"))]).await;
    assert_eq!(a.status, 401);
}

#[actix_web::test]
async fn token_from_another_secret_is_401() {
    let p = start(jwt_options(), |_| {}).await;
    let t = token_for(&ada_claims(), "someone-else", SESSION_COOKIE, 3600);
    let a = verify(&p, &[("cookie", &format!("{SESSION_COOKIE}={t}"))]).await;
    assert_eq!(a.status, 401);
}

#[actix_web::test]
async fn chunked_session_cookie_is_reassembled() {
    let p = start(jwt_options(), |_| {}).await;
    let mut claims = ada_claims();
    claims["blob"] = json!("x".repeat(6000));
    let t = token_for(&claims, SECRET, SESSION_COOKIE, 3600);
    let (a, b) = t.split_at(3936);
    let c = format!("{SESSION_COOKIE}.1={b}; {SESSION_COOKIE}.0={a}");
    assert_eq!(verify(&p, &[("cookie", &c)]).await.status, 200);
}

#[actix_web::test]
async fn bearer_token_counts_when_there_is_no_cookie() {
    let p = start(jwt_options(), |_| {}).await;
    let t = token_for(&ada_claims(), SECRET, SESSION_COOKIE, 3600);
    let a = verify(&p, &[("authorization", &format!("Bearer {t}"))]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-auth-request-user"), Some("u-ada"));
}

#[actix_web::test]
async fn on_https_a_plain_session_cookie_does_not_count() {
    let p = start(jwt_options(), |_| {}).await;
    let a = verify(
        &p,
        &[
            ("cookie", &cookie(&ada_claims())),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(a.status, 401);
}

#[actix_web::test]
async fn on_https_a_bearer_token_made_for_the_plain_cookie_does_not_count() {
    let p = start(jwt_options(), |_| {}).await;
    let plain = token_for(&ada_claims(), SECRET, SESSION_COOKIE, 3600);
    let secure = token_for(&ada_claims(), SECRET, SECURE_SESSION_COOKIE, 3600);
    let https = ("x-forwarded-proto", "https");
    let a = verify(&p, &[("authorization", &format!("Bearer {plain}")), https]).await;
    assert_eq!(a.status, 401);
    let b = verify(&p, &[("authorization", &format!("Bearer {secure}")), https]).await;
    assert_eq!(b.status, 200);
}

#[actix_web::test]
async fn the_scheme_is_the_one_the_trusted_proxy_appended_not_the_clients() {
    let p = start(jwt_options(), |_| {}).await;
    // The client wrote `http`; the front proxy appended what it saw: `https`.
    let a = verify(
        &p,
        &[
            ("cookie", &cookie(&ada_claims())),
            ("x-forwarded-proto", "http, https"),
        ],
    )
    .await;
    assert_eq!(a.status, 401);
}

#[actix_web::test]
async fn an_https_public_url_makes_only_the_secure_cookie_count() {
    let mut o = jwt_options();
    o.public_url = Some("https://app.test".into());
    let p = start(o, |_| {}).await;
    // No X-Forwarded-Proto at all: the pinned public origin decides.
    let a = verify(&p, &[("cookie", &cookie(&ada_claims()))]).await;
    assert_eq!(
        a.status, 401,
        "a plain cookie on an https site does not count"
    );
    let t = token_for(&ada_claims(), SECRET, SECURE_SESSION_COOKIE, 3600);
    let c = format!("{SECURE_SESSION_COOKIE}={t}");
    let b = verify(&p, &[("cookie", &c)]).await;
    assert_eq!(b.status, 200);
}

#[actix_web::test]
async fn on_https_the_secure_session_cookie_counts() {
    let p = start(jwt_options(), |_| {}).await;
    let t = token_for(&ada_claims(), SECRET, SECURE_SESSION_COOKIE, 3600);
    let c = format!("{SECURE_SESSION_COOKIE}={t}");
    let a = verify(&p, &[("cookie", &c), ("x-forwarded-proto", "https")]).await;
    assert_eq!(a.status, 200);
}

#[actix_web::test]
async fn an_https_original_url_also_makes_only_the_secure_cookie_count() {
    let p = start(jwt_options(), |_| {}).await;
    let a = verify(
        &p,
        &[
            ("cookie", &cookie(&ada_claims())),
            ("x-original-url", "https://app.test/reports"),
        ],
    )
    .await;
    assert_eq!(a.status, 401);
}

#[actix_web::test]
async fn x_forwarded_proto_from_an_untrusted_peer_is_ignored() {
    let mut o = jwt_options();
    o.trusted_proxies = vec!["10.0.0.0/8".into()];
    let p = start(o, |_| {}).await;
    let a = verify(
        &p,
        &[
            ("cookie", &cookie(&ada_claims())),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
}

#[actix_web::test]
async fn head_is_answered_like_get() {
    let p = start(jwt_options(), |_| {}).await;
    let a = ask(&p, "HEAD", VERIFY, &[("cookie", &cookie(&ada_claims()))]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-auth-request-user"), Some("u-ada"));
    assert_eq!(ask(&p, "HEAD", VERIFY, &[]).await.status, 401);
}

#[actix_web::test]
async fn every_method_is_decided_as_envoy_asks_with_the_original_one() {
    let p = start(jwt_options(), |_| {}).await;
    let c = cookie(&ada_claims());
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        assert_eq!(
            ask(&p, method, VERIFY, &[("cookie", &c)]).await.status,
            200,
            "{method}"
        );
        assert_eq!(ask(&p, method, VERIFY, &[]).await.status, 401, "{method}");
    }
}

#[actix_web::test]
async fn endpoint_follows_the_configured_path() {
    let p = start(jwt_options(), |o| o.path = "/auth/check".into()).await;
    let a = ask(
        &p,
        "GET",
        "/auth/check",
        &[("cookie", &cookie(&ada_claims()))],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(verify(&p, &[]).await.status, 404);
}

// --- rules -----------------------------------------------------------------------------------

#[actix_web::test]
async fn failing_rule_is_403_forbidden() {
    let p = start(jwt_options(), |o| {
        o.require.insert("role".into(), vec!["staff".into()]);
    })
    .await;
    let a = verify(&p, &[("cookie", &cookie(&ada_claims()))]).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.json(), json!({"error": "forbidden"}));
    assert_eq!(a.header("x-auth-request-user"), None);
    assert_uncacheable(&a);
}

#[actix_web::test]
async fn configured_domain_admits_its_users_only() {
    let p = start(jwt_options(), |o| {
        o.allowed_email_domains = vec!["example.com".into()]
    })
    .await;
    assert_eq!(
        verify(&p, &[("cookie", &cookie(&ada_claims()))])
            .await
            .status,
        200
    );
    let eve = json!({"sub": "u-eve", "email": "eve@evil.test"});
    assert_eq!(verify(&p, &[("cookie", &cookie(&eve))]).await.status, 403);
}

#[actix_web::test]
async fn query_narrows_the_configured_rules() {
    let p = start(jwt_options(), |_| {}).await;
    let c = cookie(&ada_claims());
    let ok = ask(
        &p,
        "GET",
        &format!("{VERIFY}?require=role:admin"),
        &[("cookie", &c)],
    )
    .await;
    assert_eq!(ok.status, 200);
    let q = format!("{VERIFY}?allowed_email_domains=a.com,b.com");
    assert_eq!(ask(&p, "GET", &q, &[("cookie", &c)]).await.status, 403);
}

#[actix_web::test]
async fn query_cannot_widen_the_configured_rules() {
    let p = start(jwt_options(), |o| {
        o.allowed_email_domains = vec!["b.com".into()];
        o.require.insert("role".into(), vec!["staff".into()]);
    })
    .await;
    let q = format!("{VERIFY}?allowed_email_domains=example.com,b.com&require=role:admin,staff");
    let a = ask(&p, "GET", &q, &[("cookie", &cookie(&ada_claims()))]).await;
    assert_eq!(a.status, 403);
}

#[actix_web::test]
async fn malformed_narrowing_value_is_400_never_200() {
    let p = start(jwt_options(), |_| {}).await;
    let q = format!("{VERIFY}?allowed_email_domains=");
    let a = ask(&p, "GET", &q, &[("cookie", &cookie(&ada_claims()))]).await;
    assert_eq!(a.status, 400);
    assert_uncacheable(&a);
}

#[actix_web::test]
async fn a_misspelt_narrowing_key_is_400_never_ignored() {
    let p = start(jwt_options(), |_| {}).await;
    for q in [
        "Require=role:nobody",
        "require[]=role:nobody",
        "allowed_email_domain=b.com",
    ] {
        let a = ask(
            &p,
            "GET",
            &format!("{VERIFY}?{q}"),
            &[("cookie", &cookie(&ada_claims()))],
        )
        .await;
        assert_eq!(a.status, 400, "{q}");
        assert_uncacheable(&a);
    }
}

#[actix_web::test]
async fn the_clients_own_query_parameters_are_ignored() {
    let p = start(jwt_options(), |_| {}).await;
    let q = format!("{VERIFY}?page=2&sort=name");
    let a = ask(&p, "GET", &q, &[("cookie", &cookie(&ada_claims()))]).await;
    assert_eq!(a.status, 200);
}

#[actix_web::test]
async fn paths_below_the_endpoint_are_decided_too_for_envoy_path_prefix() {
    let p = start(jwt_options(), |_| {}).await;
    let path = format!("{VERIFY}/reports/2025?page=2");
    let c = cookie(&ada_claims());
    assert_eq!(ask(&p, "GET", &path, &[("cookie", &c)]).await.status, 200);
    assert_eq!(ask(&p, "GET", &path, &[]).await.status, 401);
    assert_eq!(ask(&p, "GET", &format!("{VERIFY}x"), &[]).await.status, 404);
    assert_eq!(ask(&p, "POST", &path, &[("cookie", &c)]).await.status, 200);
    assert_eq!(ask(&p, "DELETE", &path, &[]).await.status, 401);
}

// --- identity headers ------------------------------------------------------------------------

#[actix_web::test]
async fn configured_headers_carry_claims() {
    let p = start(jwt_options(), |o| {
        o.headers
            .insert("X-Auth-Request-Role".into(), "role".into());
        o.headers.insert("X-Team".into(), "org.team".into());
        o.headers.insert("X-Missing".into(), "nope".into());
    })
    .await;
    let a = verify(&p, &[("cookie", &cookie(&ada_claims()))]).await;
    assert_eq!(a.header("x-auth-request-role"), Some("admin"));
    assert_eq!(a.header("x-team"), Some("core"));
    assert_eq!(a.header("x-missing"), None);
}

#[actix_web::test]
async fn a_crafted_name_claim_cannot_add_a_header() {
    let p = start(jwt_options(), |_| {}).await;
    let mut claims = ada_claims();
    claims["name"] = json!("Ada\r\nX-Auth-Request-Email: root@example.com");
    let a = verify(&p, &[("cookie", &cookie(&claims))]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-auth-request-name"), None);
    assert_eq!(
        a.headers.get_all("x-auth-request-email").count(),
        1,
        "only the real email header"
    );
    assert_eq!(a.header("x-auth-request-email"), Some("ada@example.com"));
}

#[actix_web::test]
async fn a_crafted_claim_in_an_extra_header_is_dropped_raw() {
    let p = start(jwt_options(), |o| {
        o.headers
            .insert("X-Auth-Request-Role".into(), "role".into());
    })
    .await;
    let mut claims = ada_claims();
    claims["role"] = json!(["admin", "x\nSet-Cookie: a=b"]);
    let text = common::raw(
        p.addr,
        &format!(
            "GET {VERIFY} HTTP/1.1\r\nHost: t\r\nCookie: {}\r\nConnection: close\r\n\r\n",
            cookie(&claims)
        ),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(!lower.contains("set-cookie"), "{text}");
    assert!(!lower.contains("x-auth-request-role"), "{text}");
}

// --- redirect mode ---------------------------------------------------------------------------

fn redirect(o: &mut ForwardAuthOptions) {
    o.on_unauthenticated = OnUnauthenticated::Redirect;
}

const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

#[actix_web::test]
async fn browser_is_sent_to_sign_in_with_the_original_url() {
    let p = start(jwt_options(), redirect).await;
    let a = verify(
        &p,
        &[
            BROWSER,
            ("host", "app.test"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.test"),
            ("x-forwarded-uri", "/reports?y=2025"),
        ],
    )
    .await;
    assert_eq!(a.status, 302);
    assert_eq!(
        a.header("location"),
        Some(
            "http://app.test/api/auth/signin?callbackUrl=http%3A%2F%2Fapp.test%2Freports%3Fy%3D2025"
        )
    );
    assert_uncacheable(&a);
}

#[actix_web::test]
async fn without_public_url_the_redirect_origin_is_the_trusted_peer_s_not_the_sub_request_host() {
    // Traefik and Envoy ask with their own address as Host; the public side is in the
    // forwarding headers they add.
    let p = start(jwt_options(), redirect).await;
    let a = verify(
        &p,
        &[
            BROWSER,
            ("host", "127.0.0.1:9000"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.test"),
            ("x-forwarded-uri", "/reports"),
        ],
    )
    .await;
    assert_eq!(a.status, 302);
    assert_eq!(
        a.header("location"),
        Some("https://app.test/api/auth/signin?callbackUrl=https%3A%2F%2Fapp.test%2Freports")
    );
}

#[actix_web::test]
async fn nginx_original_url_header_is_understood() {
    let p = start(jwt_options(), redirect).await;
    let a = verify(
        &p,
        &[
            BROWSER,
            ("host", "app.test"),
            ("x-original-url", "http://app.test/a/b"),
        ],
    )
    .await;
    assert_eq!(
        a.header("location"),
        Some("http://app.test/api/auth/signin?callbackUrl=http%3A%2F%2Fapp.test%2Fa%2Fb")
    );
}

#[actix_web::test]
async fn non_browser_gets_401_in_redirect_mode() {
    let p = start(jwt_options(), redirect).await;
    let a = verify(&p, &[("accept", "application/json"), ("host", "app.test")]).await;
    assert_eq!(a.status, 401);
}

#[actix_web::test]
async fn a_foreign_original_host_is_never_a_callback() {
    let p = start(jwt_options(), redirect).await;
    // The public host is app.test (the trusted proxy's X-Forwarded-Host); an original URL on
    // another host is never a callback.
    let a = verify(
        &p,
        &[
            BROWSER,
            ("host", "app.test"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.test"),
            ("x-original-url", "https://evil.test/steal"),
        ],
    )
    .await;
    assert_eq!(a.status, 302);
    assert_eq!(
        a.header("location"),
        Some("https://app.test/api/auth/signin")
    );
}

#[actix_web::test]
async fn forwarded_headers_from_an_untrusted_peer_are_not_a_callback() {
    let mut o = jwt_options();
    o.trusted_proxies = vec![];
    let p = start(o, redirect).await;
    let a = verify(
        &p,
        &[
            BROWSER,
            ("host", "app.test"),
            ("x-original-url", "http://app.test/a"),
        ],
    )
    .await;
    assert_eq!(
        a.header("location"),
        Some("http://app.test/api/auth/signin")
    );
}

#[actix_web::test]
async fn signed_in_browser_is_not_redirected() {
    let p = start(jwt_options(), redirect).await;
    let a = verify(
        &p,
        &[
            BROWSER,
            ("host", "app.test"),
            ("cookie", &cookie(&ada_claims())),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
}

// --- database sessions, asked of the upstream -----------------------------------------------

const ADA_SESSION: &str = r#"{"user":{"id":"u-ada","name":"Ada Lovelace","email":"ada@example.com","role":"admin"},"expires":"2030-01-01T00:00:00.000Z"}"#;

fn db_options(up: &FakeUpstream) -> ProxyOptions {
    let mut o = options(&up.url());
    o.session_strategy = Some(SessionStrategy::Database);
    o
}

#[actix_web::test]
async fn a_header_section_over_16_kib_is_431_not_an_identity_failure() {
    let up = FakeUpstream::start(|_, _| Reply::status(431));
    let p = start(db_options(&up), |_| {}).await;
    let big = format!("{SESSION_COOKIE}={}", "a".repeat(17 * 1024));
    let a = verify(&p, &[("cookie", &big)]).await;
    assert_eq!(a.status, 431);
    assert_uncacheable(&a);
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn database_session_is_asked_of_the_upstream() {
    let up = FakeUpstream::start(|_, _| Reply::json(ADA_SESSION));
    let p = start(db_options(&up), |o| {
        o.require.insert("role".into(), vec!["admin".into()]);
    })
    .await;
    let a = verify(&p, &[("cookie", "authjs.session-token=opaque-id")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-auth-request-user"), Some("u-ada"));
    assert_eq!(a.header("x-auth-request-email"), Some("ada@example.com"));
    assert_eq!(up.last().path_and_query, "/api/auth/session");
    assert_eq!(
        up.last().header("cookie").as_deref(),
        Some("authjs.session-token=opaque-id")
    );
}

#[actix_web::test]
async fn database_null_session_is_401() {
    let up = FakeUpstream::start(|_, _| Reply::json("null"));
    let p = start(db_options(&up), |_| {}).await;
    let a = verify(&p, &[("cookie", "authjs.session-token=opaque-id")]).await;
    assert_eq!(a.status, 401);
}

#[actix_web::test]
async fn repeated_database_decisions_ask_the_upstream_once_per_cache_period() {
    let up = FakeUpstream::start(|_, _| Reply::json(ADA_SESSION));
    let mut o = db_options(&up);
    o.session_cache.ttl_ms = 60_000;
    let p = start(o, |_| {}).await;
    for _ in 0..5 {
        let a = verify(&p, &[("cookie", "authjs.session-token=opaque-id")]).await;
        assert_eq!(a.status, 200);
    }
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn jwt_strategy_without_a_secret_asks_the_upstream() {
    let up = FakeUpstream::start(|_, _| Reply::json(ADA_SESSION));
    let p = start(options(&up.url()), |_| {}).await;
    let a = verify(&p, &[("cookie", "authjs.session-token=whatever")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn unreachable_upstream_is_503_with_retry_after() {
    let mut o = options(&format!("http://127.0.0.1:{}", closed_port()));
    o.session_strategy = Some(SessionStrategy::Database);
    o.retry.max_attempts = 1;
    let p = start(o, |o| o.retry_after_secs = 7).await;
    let a = verify(&p, &[("cookie", "authjs.session-token=opaque-id")]).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.header("retry-after"), Some("7"));
    assert_uncacheable(&a);
}

// Depends on the lead's session change: `server_session` turns an upstream 5xx into `Err`
// (today it reports "no session", so this answers 401).
#[actix_web::test]
async fn upstream_5xx_is_503_never_401() {
    let up = FakeUpstream::start(|_, _| Reply::status(500));
    let mut o = db_options(&up);
    o.retry.max_attempts = 1;
    let p = start(o, |_| {}).await;
    let a = verify(&p, &[("cookie", "authjs.session-token=opaque-id")]).await;
    assert_eq!(a.status, 503);
    assert!(a.header("retry-after").is_some());
}

// Depends on the lead's cookie change: the https rule for sessions asked of the upstream
// (only the `__Secure-` cookie is sent/considered).
#[actix_web::test]
async fn on_https_a_plain_database_session_cookie_does_not_count() {
    let up = FakeUpstream::start(|_, _| Reply::json(ADA_SESSION));
    let p = start(db_options(&up), |_| {}).await;
    let a = verify(
        &p,
        &[
            ("cookie", "authjs.session-token=opaque-id"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(a.status, 401);
}

#[actix_web::test]
async fn unconfigured_runtime_is_503() {
    let p = serve(AuthProxy::start(), |_| {});
    let a = verify(&p, &[]).await;
    assert_eq!(a.status, 503);
    assert!(a.header("retry-after").is_some());
    assert_uncacheable(&a);
}

// --- configuration file ----------------------------------------------------------------------

fn write_config(text: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::new(text)
}

mod tempfile_path {
    use super::*;
    pub struct TempFile(pub std::path::PathBuf);
    impl TempFile {
        pub fn new(text: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "authjs-proxy-gate-{}-{}.toml",
                std::process::id(),
                uuid_like()
            ));
            std::fs::File::create(&path)
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            TempFile(path)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    fn uuid_like() -> u128 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        u128::from(N.fetch_add(1, Ordering::Relaxed))
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_nanos()
    }
}

const BASE: &str = r#"
[proxy]
base_url = "http://127.0.0.1:4000"
session_strategy = "jwt"
"#;

#[test]
fn forward_auth_section_is_read_from_the_file() {
    let f = write_config(&format!(
        r#"{BASE}
[forward_auth]
enabled = true
path = "/_authjs/verify"
on_unauthenticated = "redirect"
allowed_emails = ["ada@example.com"]
allowed_email_domains = ["example.com"]
trusted_proxies = ["127.0.0.0/8", "::1/128"]

[forward_auth.require]
role = ["admin", "staff"]

[forward_auth.headers]
"X-Auth-Request-Role" = "role"
"#
    ));
    let file = FileConfig::load_with_env(&f.0, Vec::new()).unwrap();
    let fa = &file.forward_auth;
    assert!(fa.enabled);
    assert_eq!(fa.on_unauthenticated, OnUnauthenticated::Redirect);
    assert_eq!(fa.require["role"], ["admin", "staff"]);
    assert_eq!(
        fa.headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect::<Vec<_>>(),
        [("x-auth-request-role".to_owned(), "role")]
    );
}

#[test]
fn forward_auth_is_off_without_a_section() {
    let f = write_config(BASE);
    let file = FileConfig::load_with_env(&f.0, Vec::new()).unwrap();
    assert!(!file.forward_auth.enabled);
}

#[test]
fn forward_auth_can_be_enabled_from_the_environment() {
    let f = write_config(BASE);
    let env = vec![(
        "AUTHJS_PROXY__FORWARD_AUTH__ENABLED".to_owned(),
        "true".to_owned(),
    )];
    assert!(
        FileConfig::load_with_env(&f.0, env)
            .unwrap()
            .forward_auth
            .enabled
    );
}

#[test]
fn invalid_forward_auth_option_names_its_field() {
    let f = write_config(&format!(
        "{BASE}\n[forward_auth]\ntrusted_proxies = [\"10.0.0.0/40\"]\n"
    ));
    let e = FileConfig::load_with_env(&f.0, Vec::new()).unwrap_err();
    assert_eq!(e.field, "forward_auth.trusted_proxies");
}

#[test]
fn endpoint_under_the_auth_routes_is_refused() {
    let f = write_config(&format!(
        "{BASE}\n[forward_auth]\nenabled = true\npath = \"/api/auth/verify\"\n"
    ));
    let e = FileConfig::load_with_env(&f.0, Vec::new()).unwrap_err();
    assert_eq!(e.field, "forward_auth.path");
}

#[test]
fn check_config_exits_64_naming_the_forward_auth_field() {
    let f = write_config(&format!(
        "{BASE}\n[forward_auth]\nenabled = true\n[forward_auth.headers]\n\"Set-Cookie\" = \"role\"\n"
    ));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authjs-proxy"))
        .args(["--config", f.0.to_str().unwrap(), "check-config"])
        .env_remove("AUTH_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    assert!(err.contains("forward_auth.headers.set-cookie"), "{err}");
}

// --- the binary ------------------------------------------------------------------------------

/// Stops the child when the test ends, passed or failed.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn served_config(listen: &str, role: &str) -> String {
    format!(
        "[server]\nlisten = \"{listen}\"\nworkers = 1\n[proxy]\nbase_url = \"http://127.0.0.1:{}\"\n\
         session_strategy = \"jwt\"\nsecret = \"{SECRET}\"\n[forward_auth]\nenabled = true\n\
         [forward_auth.require]\nrole = [\"{role}\"]\n",
        closed_port()
    )
}

/// Status of `GET url` with `cookie`, polled (at most 100 times, 50 ms apart) until `want`.
async fn becomes(url: &str, cookie: &str, want: u16) -> bool {
    for _ in 0..100 {
        if let Ok(res) = client()
            .get(url)
            .insert_header(("cookie", cookie))
            .send()
            .await
            && res.status().as_u16() == want
        {
            return true;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[actix_web::test]
async fn served_endpoint_applies_reloaded_rules_on_sighup() {
    let listen = format!("127.0.0.1:{}", closed_port());
    let f = write_config(&served_config(&listen, "staff"));
    let running = Running(
        std::process::Command::new(env!("CARGO_BIN_EXE_authjs-proxy"))
            .args(["--config", f.0.to_str().unwrap()])
            .env_remove("AUTH_SECRET")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{listen}{VERIFY}");
    let ada = cookie(&ada_claims());
    assert!(becomes(&url, &ada, 403).await, "ada is not staff");

    std::fs::write(&f.0, served_config(&listen, "admin")).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &running.0.id().to_string()])
        .status()
        .unwrap();
    assert!(
        becomes(&url, &ada, 200).await,
        "the reloaded rule admits ada"
    );
}

#[test]
fn claim_paths_in_the_file_keep_their_case() {
    let f = write_config(&format!(
        "{BASE}\n[forward_auth]\nenabled = true\n[forward_auth.require]\norgRole = [\"Admin\"]\n\
         [forward_auth.headers]\n\"X-Org-Role\" = \"orgRole\"\n"
    ));
    let file = FileConfig::load_with_env(&f.0, Vec::new()).unwrap();
    assert_eq!(
        file.forward_auth.require.keys().collect::<Vec<_>>(),
        ["orgRole"]
    );
    assert_eq!(
        file.forward_auth.headers.values().collect::<Vec<_>>(),
        ["orgRole"]
    );
}
