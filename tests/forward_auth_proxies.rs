//! Forward-auth behind every front proxy, asked the way each one asks (issue #23): Envoy
//! `ext_authz` (any method, original path appended to `path_prefix`), Traefik `ForwardAuth`
//! (`X-Forwarded-Method/-Proto/-Host/-Uri/-For`), nginx's sign-in start endpoint; and the access
//! rules by original path and method. The request shapes are the ones the proxies' docs give.

mod common;

use actix_web::http::header::HeaderMap;
use authjs_proxy::config::{ProxyOptions, Secret};
use authjs_proxy::gate::{self, ForwardAuthOptions, OnUnauthenticated};
use authjs_proxy::options::forward_auth::{RuleAction, RuleOptions};
use authjs_proxy::{AuthProxy, token};
use common::*;
use serde_json::{Value, json};

const SECRET: &str = "proxies-secret";
const VERIFY: &str = "/_authjs/verify";
/// The fixtures say the client used https: only the `__Secure-` cookie counts.
const SESSION_COOKIE: &str = "__Secure-authjs.session-token";

fn cookie(claims: Value) -> String {
    let tok = token::encode_with_secret(claims.as_object().unwrap(), SECRET, SESSION_COOKIE, 3600);
    format!("{SESSION_COOKIE}={tok}")
}

fn ada() -> String {
    cookie(json!({"sub": "u-ada", "email": "ada@example.com", "name": "Ada", "role": "admin"}))
}

fn bob() -> String {
    cookie(json!({"sub": "u-bob", "email": "bob@example.com", "groups": ["ops", "dev"]}))
}

fn eve() -> String {
    cookie(json!({"sub": "u-eve", "email": "eve@example.com", "role": "user"}))
}

fn jwt_options() -> ProxyOptions {
    let mut o = options(&format!("http://127.0.0.1:{}", closed_port()));
    o.secret = Some(Secret::One(SECRET.into()));
    o
}

async fn start_with(opts: ProxyOptions, edit: impl FnOnce(&mut ForwardAuthOptions)) -> TestProxy {
    let proxy = AuthProxy::start();
    proxy.configure(opts).await.expect("valid test options");
    let mut fa = ForwardAuthOptions {
        enabled: true,
        ..Default::default()
    };
    edit(&mut fa);
    let g = fa.validate().expect("valid forward-auth options");
    TestProxy::serve_with(proxy.clone(), gate::configure(proxy, g))
}

async fn start(edit: impl FnOnce(&mut ForwardAuthOptions)) -> TestProxy {
    start_with(jwt_options(), edit).await
}

struct Answer {
    status: u16,
    headers: HeaderMap,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn ask(p: &TestProxy, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let c = client();
    let mut req = c.request(method.parse().unwrap(), p.url(path));
    for (k, v) in headers {
        req = req.append_header((*k, *v));
    }
    let res = req.send().await.unwrap();
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
    }
}

fn rule(path: &str, action: RuleAction) -> RuleOptions {
    RuleOptions {
        path: Some(path.into()),
        action,
        ..Default::default()
    }
}

/// What Envoy's ext_authz HTTP service sends (`path_prefix: /_authjs/verify`, `cookie` in
/// `allowed_headers`): the original method and `:authority`, the original path appended, and
/// the headers Envoy itself adds.
async fn envoy(p: &TestProxy, method: &str, original: &str, extra: &[(&str, &str)]) -> Answer {
    let mut headers = vec![
        ("host", "app.test"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "5a6b5a1e-0000-4000-8000-000000000001"),
        ("x-envoy-expected-rq-timeout-ms", "200"),
        ("content-length", "0"),
    ];
    headers.extend_from_slice(extra);
    ask(p, method, &format!("{VERIFY}{original}"), &headers).await
}

/// What Traefik's ForwardAuth sends: always `GET` to the address, the original request in
/// `X-Forwarded-*` (Traefik sets them itself, whatever the client sent).
async fn traefik(p: &TestProxy, method: &str, uri: &str, extra: &[(&str, &str)]) -> Answer {
    let mut headers = vec![
        ("host", "authjs-proxy:3000"),
        ("x-forwarded-method", method),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.test"),
        ("x-forwarded-uri", uri),
        ("x-forwarded-for", "203.0.113.7"),
    ];
    headers.extend_from_slice(extra);
    ask(p, "GET", VERIFY, &headers).await
}

// --- Envoy ----------------------------------------------------------------------------------

#[actix_web::test]
async fn envoy_asks_with_the_original_method_and_gets_the_identity() {
    let p = start(|_| {}).await;
    let a = envoy(&p, "DELETE", "/items/7", &[("cookie", &ada())]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-auth-request-user"), Some("u-ada"));
    assert_eq!(envoy(&p, "POST", "/items", &[]).await.status, 401);
}

#[actix_web::test]
async fn envoy_gets_the_redirect_with_the_appended_path_as_callback() {
    let p = start(|o| o.on_unauthenticated = OnUnauthenticated::Redirect).await;
    let a = envoy(
        &p,
        "GET",
        "/reports/2025?page=2",
        &[("accept", "text/html")],
    )
    .await;
    assert_eq!(a.status, 302);
    assert_eq!(
        a.header("location"),
        Some(
            "https://app.test/api/auth/signin?callbackUrl=https%3A%2F%2Fapp.test%2Freports%2F2025%3Fpage%3D2"
        )
    );
}

#[actix_web::test]
async fn envoy_query_parameters_are_the_original_requests_not_narrowing_rules() {
    let p = start(|_| {}).await;
    let a = envoy(
        &p,
        "GET",
        "/search?require=role:nobody&q=x",
        &[("cookie", &ada())],
    )
    .await;
    assert_eq!(a.status, 200);
}

#[actix_web::test]
async fn envoy_path_rules_apply_to_the_appended_path() {
    let p = start(|o| {
        o.rules = vec![
            rule("/healthz", RuleAction::Allow),
            rule("/admin", RuleAction::Deny),
        ];
    })
    .await;
    assert_eq!(envoy(&p, "GET", "/healthz", &[]).await.status, 200);
    assert_eq!(
        envoy(&p, "POST", "/admin/users", &[("cookie", &ada())])
            .await
            .status,
        403
    );
    assert_eq!(envoy(&p, "GET", "/other", &[]).await.status, 401);
}

// --- Traefik --------------------------------------------------------------------------------

#[actix_web::test]
async fn traefik_original_method_and_uri_choose_the_rule() {
    let p = start(|o| {
        o.rules = vec![
            RuleOptions {
                methods: vec!["POST".into(), "DELETE".into()],
                ..rule("/reports", RuleAction::Deny)
            },
            rule("/reports", RuleAction::Allow),
        ];
    })
    .await;
    assert_eq!(traefik(&p, "GET", "/reports/q1", &[]).await.status, 200);
    assert_eq!(
        traefik(&p, "DELETE", "/reports/q1", &[("cookie", &ada())])
            .await
            .status,
        403
    );
}

#[actix_web::test]
async fn traefik_redirect_goes_to_the_public_host_not_the_proxys_address() {
    let p = start(|o| o.on_unauthenticated = OnUnauthenticated::Redirect).await;
    let a = traefik(&p, "GET", "/dash?tab=1", &[("accept", "text/html")]).await;
    assert_eq!(a.status, 302);
    assert_eq!(
        a.header("location"),
        Some(
            "https://app.test/api/auth/signin?callbackUrl=https%3A%2F%2Fapp.test%2Fdash%3Ftab%3D1"
        )
    );
}

#[actix_web::test]
async fn traefik_auth_response_headers_carry_the_identity() {
    let p = start(|o| {
        o.headers
            .insert("x-auth-request-role".into(), "role".into());
    })
    .await;
    let a = traefik(&p, "GET", "/", &[("cookie", &ada())]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-auth-request-email"), Some("ada@example.com"));
    assert_eq!(a.header("x-auth-request-role"), Some("admin"));
}

#[actix_web::test]
async fn an_untrusted_peers_original_uri_matches_no_rule() {
    let mut o = jwt_options();
    o.trusted_proxies = vec!["10.0.0.0/8".into()];
    let p = start_with(o, |o| o.rules = vec![rule("/public", RuleAction::Allow)]).await;
    assert_eq!(traefik(&p, "GET", "/public/x", &[]).await.status, 401);
}

// --- rules ----------------------------------------------------------------------------------

#[actix_web::test]
async fn an_allow_rule_passes_without_a_session_and_names_nobody() {
    let p = start(|o| o.rules = vec![rule("/public", RuleAction::Allow)]).await;
    let a = traefik(&p, "GET", "/public/logo.png", &[("cookie", &ada())]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-auth-request-user"), None);
    assert_eq!(a.header("cache-control"), Some("no-store"));
}

#[actix_web::test]
async fn a_deny_rule_refuses_even_the_signed_in() {
    let p = start(|o| o.rules = vec![rule("/internal", RuleAction::Deny)]).await;
    assert_eq!(
        traefik(&p, "GET", "/internal", &[("cookie", &ada())])
            .await
            .status,
        403
    );
}

#[actix_web::test]
async fn an_authenticate_rules_requirements_replace_the_sections() {
    let p = start(|o| {
        o.require.insert("role".into(), vec!["admin".into()]);
        o.rules = vec![RuleOptions {
            require: [("groups".to_owned(), vec!["ops".to_owned()])].into(),
            ..rule("/ops", RuleAction::Authenticate)
        }];
    })
    .await;
    assert_eq!(
        traefik(&p, "GET", "/ops/x", &[("cookie", &bob())])
            .await
            .status,
        200
    );
    assert_eq!(
        traefik(&p, "GET", "/ops/x", &[("cookie", &ada())])
            .await
            .status,
        403
    );
    assert_eq!(
        traefik(&p, "GET", "/else", &[("cookie", &bob())])
            .await
            .status,
        403
    );
    assert_eq!(
        traefik(&p, "GET", "/else", &[("cookie", &ada())])
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn require_any_admits_one_group_or_the_other() {
    let p = start(|o| {
        o.require_any = vec![
            [("role".to_owned(), vec!["admin".to_owned()])].into(),
            [("groups".to_owned(), vec!["ops".to_owned()])].into(),
        ];
    })
    .await;
    assert_eq!(
        traefik(&p, "GET", "/", &[("cookie", &ada())]).await.status,
        200
    );
    assert_eq!(
        traefik(&p, "GET", "/", &[("cookie", &bob())]).await.status,
        200
    );
    assert_eq!(
        traefik(&p, "GET", "/", &[("cookie", &eve())]).await.status,
        403
    );
}

#[actix_web::test]
async fn an_api_rule_answers_401_where_redirect_mode_would_redirect() {
    let p = start(|o| {
        o.on_unauthenticated = OnUnauthenticated::Redirect;
        o.rules = vec![RuleOptions {
            api: true,
            ..rule("/api", RuleAction::Authenticate)
        }];
    })
    .await;
    let html = [("accept", "text/html")];
    assert_eq!(traefik(&p, "GET", "/api/items", &html).await.status, 401);
    assert_eq!(traefik(&p, "GET", "/page", &html).await.status, 302);
}

#[actix_web::test]
async fn cors_preflights_pass_only_when_configured() {
    let preflight = [
        ("access-control-request-method", "POST"),
        ("origin", "https://x.test"),
    ];
    let closed = start(|_| {}).await;
    assert_eq!(
        traefik(&closed, "OPTIONS", "/api", &preflight).await.status,
        401
    );
    let open = start(|o| o.allow_cors_preflight = true).await;
    assert_eq!(
        traefik(&open, "OPTIONS", "/api", &preflight).await.status,
        200
    );
    assert_eq!(
        traefik(&open, "OPTIONS", "/api", &[]).await.status,
        401,
        "not a preflight"
    );
}

#[actix_web::test]
async fn a_path_two_readers_could_read_differently_is_refused() {
    let p = start(|o| o.rules = vec![rule("/public", RuleAction::Allow)]).await;
    for uri in [
        "/public/..%2Fadmin",
        "/public/%2e%2e/admin",
        "/public\\..\\admin",
    ] {
        assert_eq!(traefik(&p, "GET", uri, &[]).await.status, 400, "{uri}");
    }
    assert_eq!(
        traefik(&p, "GET", "/public/../admin", &[]).await.status,
        401,
        "resolved first"
    );
}

#[actix_web::test]
async fn an_original_uri_given_twice_is_refused() {
    let p = start(|o| o.rules = vec![rule("/public", RuleAction::Allow)]).await;
    let a = traefik(&p, "GET", "/admin", &[("x-forwarded-uri", "/public")]).await;
    assert_eq!(a.status, 400);
}

#[actix_web::test]
async fn nginx_original_uri_and_method_headers_count_too() {
    let p = start(|o| o.rules = vec![rule("/public", RuleAction::Allow)]).await;
    let a = ask(
        &p,
        "GET",
        VERIFY,
        &[
            ("x-original-uri", "/public/a?b"),
            ("x-original-method", "GET"),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
}

// --- the sign-in start endpoint (nginx's error_page 401 pattern) ----------------------------

#[actix_web::test]
async fn signin_start_sends_the_browser_to_auth_js_with_the_original_url() {
    let mut o = jwt_options();
    o.public_url = Some("https://app.test".into());
    let p = start_with(o, |_| {}).await;
    let a = ask(
        &p,
        "GET",
        "/_authjs/signin?rd=https%3A%2F%2Fapp.test%2Fdash%3Fx%3D1",
        &[],
    )
    .await;
    assert_eq!(a.status, 302);
    assert_eq!(
        a.header("location"),
        Some("https://app.test/api/auth/signin?callbackUrl=https%3A%2F%2Fapp.test%2Fdash%3Fx%3D1")
    );
    let a = ask(
        &p,
        "GET",
        "/_authjs/signin?rd=https%3A%2F%2Fevil.test%2F",
        &[],
    )
    .await;
    assert_eq!(
        a.header("location"),
        Some("https://app.test/api/auth/signin")
    );
}

#[actix_web::test]
async fn signin_start_can_be_turned_off() {
    let p = start(|o| o.signin_path = String::new()).await;
    assert_eq!(
        ask(&p, "GET", "/_authjs/signin?rd=/", &[]).await.status,
        404
    );
}

// --- the signed identity for the app behind ---------------------------------------------------

/// A new EC P-256 key in PEM, written to `dir`.
fn p256_key(dir: &Scratch, name: &str) -> std::path::PathBuf {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    dir.write(name, &key.serialize_pem())
}

fn assertion(
    keys: Vec<std::path::PathBuf>,
) -> authjs_proxy::options::forward_auth::AssertionOptions {
    authjs_proxy::options::forward_auth::AssertionOptions {
        key_file: keys,
        audience: Some("reports-app".into()),
        issuer: Some("https://app.test".into()),
        claims: vec!["role".into()],
        ..Default::default()
    }
}

/// jose's verdict on `jwt` against the JWKS of `p` (`Err` with jose's error code).
async fn jose_verifies(p: &TestProxy, jwt: &str) -> Result<Value, String> {
    let (url, jwt) = (p.url("/_authjs/jwks.json"), jwt.to_owned());
    actix_rt::task::spawn_blocking(move || {
        let out = std::process::Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/e2e/authjs/verify-assertion.mjs"
            ))
            .args([
                url.as_str(),
                "https://app.test",
                "reports-app",
                jwt.as_str(),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() {
            Ok(serde_json::from_str(&text).unwrap())
        } else {
            Err(text)
        }
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn the_assertion_verifies_with_jose_against_the_published_keys() {
    if !common::peer::peer_ready() {
        return;
    }
    let dir = Scratch::new("assertion");
    let key = p256_key(&dir, "k1.pem");
    let p = start(|o| o.assertion = Some(assertion(vec![key]))).await;
    let a = traefik(&p, "GET", "/reports", &[("cookie", &ada())]).await;
    assert_eq!(a.status, 200);
    let jwt = a
        .header("x-auth-request-assertion")
        .expect("an assertion")
        .to_owned();
    let verified = jose_verifies(&p, &jwt).await.expect("jose accepts it");
    let claims = &verified["payload"];
    assert_eq!(claims["sub"], "u-ada");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["aud"], "reports-app");
    let ttl = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(ttl, 60);
    assert_eq!(verified["header"]["alg"], "ES256");
    assert!(
        verified["header"]["kid"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
}

#[actix_web::test]
async fn an_assertion_signed_with_a_rotated_out_key_is_refused() {
    if !common::peer::peer_ready() {
        return;
    }
    let dir = Scratch::new("assertion-rotation");
    let (old, new) = (p256_key(&dir, "old.pem"), p256_key(&dir, "new.pem"));
    let before = start(|o| o.assertion = Some(assertion(vec![old.clone()]))).await;
    let jwt = traefik(&before, "GET", "/", &[("cookie", &ada())])
        .await
        .header("x-auth-request-assertion")
        .unwrap()
        .to_owned();

    let rotating = start(|o| o.assertion = Some(assertion(vec![new.clone(), old]))).await;
    assert!(
        jose_verifies(&rotating, &jwt).await.is_ok(),
        "the old key is still published"
    );
    let fresh = traefik(&rotating, "GET", "/", &[("cookie", &ada())]).await;
    let fresh = fresh.header("x-auth-request-assertion").unwrap().to_owned();
    assert!(
        jose_verifies(&rotating, &fresh).await.is_ok(),
        "the new key signs"
    );

    let after = start(|o| o.assertion = Some(assertion(vec![new]))).await;
    let verdict = jose_verifies(&after, &jwt).await;
    assert_eq!(verdict.unwrap_err(), "refused: ERR_JWKS_NO_MATCHING_KEY");
}

#[actix_web::test]
async fn no_assertion_without_a_session_and_none_unless_configured() {
    let dir = Scratch::new("assertion-none");
    let key = p256_key(&dir, "k.pem");
    let p = start(|o| {
        o.assertion = Some(assertion(vec![key]));
        o.rules = vec![rule("/public", RuleAction::Allow)];
    })
    .await;
    let a = traefik(&p, "GET", "/public/x", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("x-auth-request-assertion"),
        None,
        "an allow rule names nobody"
    );
    let plain = start(|_| {}).await;
    let a = traefik(&plain, "GET", "/", &[("cookie", &ada())]).await;
    assert_eq!(a.header("x-auth-request-assertion"), None);
    let jwks = ask(&plain, "GET", "/_authjs/jwks.json", &[]).await;
    assert_eq!(jwks.status, 200);
}

#[test]
fn a_key_that_is_not_p256_is_refused_naming_the_field() {
    let dir = Scratch::new("assertion-bad");
    let rsa = dir.write(
        "not-a-key.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let err = ForwardAuthOptions {
        enabled: true,
        assertion: Some(assertion(vec![rsa])),
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(err.field, "forward_auth.assertion.key_file");
}

#[actix_web::test]
async fn one_session_reuses_its_assertion_and_another_gets_its_own() {
    let dir = Scratch::new("assertion-reuse");
    let key = p256_key(&dir, "k.pem");
    let p = start(|o| o.assertion = Some(assertion(vec![key]))).await;
    let cookie = ada();
    let first = traefik(&p, "GET", "/a", &[("cookie", &cookie)]).await;
    let second = traefik(&p, "GET", "/b", &[("cookie", &cookie)]).await;
    let other = traefik(&p, "GET", "/a", &[("cookie", &bob())]).await;
    let jwt = |a: &Answer| a.header("x-auth-request-assertion").unwrap().to_owned();
    assert_eq!(jwt(&first), jwt(&second), "signed once for the session");
    assert_ne!(jwt(&first), jwt(&other));
}

// --- rolling sessions -------------------------------------------------------------------------

/// An upstream whose session route rolls the cookie, as Auth.js's does.
fn rolling_upstream() -> FakeUpstream {
    FakeUpstream::start(|req, n| {
        if req.path_and_query.ends_with("/session") {
            Reply::json(r#"{"user":{"name":"Ada"},"expires":"2030-01-01T00:00:00.000Z"}"#)
                .header(
                    "set-cookie",
                    &format!("authjs.session-token=rolled-{n}; Path=/; HttpOnly; SameSite=Lax"),
                )
                .delay(std::time::Duration::from_millis(100))
        } else {
            Reply::status(404)
        }
    })
}

fn plain_cookie(claims: Value) -> String {
    let tok = token::encode_with_secret(
        claims.as_object().unwrap(),
        SECRET,
        "authjs.session-token",
        3600,
    );
    format!("authjs.session-token={tok}")
}

fn options_for(up: &FakeUpstream) -> ProxyOptions {
    let mut o = options(&up.url());
    o.secret = Some(Secret::One(SECRET.into()));
    o
}

#[actix_web::test]
async fn an_old_session_is_rolled_and_its_new_cookie_rides_on_the_200() {
    let up = rolling_upstream();
    let p = start_with(options_for(&up), |o| o.update_age_s = 1).await;
    let cookie = plain_cookie(json!({"sub": "u-ada"}));
    actix_rt::time::sleep(std::time::Duration::from_millis(1100)).await;
    let a = ask(&p, "GET", VERIFY, &[("cookie", &cookie)]).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("set-cookie"),
        Some("authjs.session-token=rolled-0; Path=/; HttpOnly; SameSite=Lax")
    );
    assert_eq!(up.count(), 1);
    assert_eq!(up.last().header("cookie").as_deref(), Some(cookie.as_str()));
}

#[actix_web::test]
async fn a_fresh_session_is_not_rolled() {
    let up = rolling_upstream();
    let p = start_with(options_for(&up), |_| {}).await;
    let a = ask(
        &p,
        "GET",
        VERIFY,
        &[("cookie", &plain_cookie(json!({"sub": "u-ada"})))],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("set-cookie"), None);
    assert_eq!(up.count(), 0, "no request to Auth.js");
}

#[actix_web::test]
async fn concurrent_decisions_for_one_session_roll_it_once() {
    let up = rolling_upstream();
    let p = start_with(options_for(&up), |o| o.update_age_s = 1).await;
    let cookie = plain_cookie(json!({"sub": "u-ada"}));
    actix_rt::time::sleep(std::time::Duration::from_millis(1100)).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (url, cookie) = (p.url(VERIFY), cookie.clone());
            actix_rt::spawn(async move {
                let res = client()
                    .get(url)
                    .insert_header(("cookie", cookie))
                    .send()
                    .await
                    .unwrap();
                res.headers()
                    .get("set-cookie")
                    .map(|v| v.to_str().unwrap().to_owned())
            })
        })
        .collect();
    for t in tasks {
        let cookie = t.await.unwrap();
        assert_eq!(
            cookie.as_deref(),
            Some("authjs.session-token=rolled-0; Path=/; HttpOnly; SameSite=Lax")
        );
    }
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn a_real_auth_js_rolls_an_old_session_into_a_newer_token() {
    if !common::peer::peer_ready() {
        return;
    }
    let peer = common::peer::AuthJs::start(SECRET);
    let mut o = options(&peer.url());
    o.secret = Some(Secret::One(SECRET.into()));
    let p = start_with(o, |o| o.update_age_s = 1).await;
    let mut b = common::peer::Browser::new(format!("http://{}", p.addr));
    let res = b
        .sign_in("/api/auth", "ada@example.com", "analytical")
        .await;
    let old = b
        .cookie("authjs.session-token")
        .unwrap_or_else(|| panic!("{} {}", res.status, res.location()));
    actix_rt::time::sleep(std::time::Duration::from_millis(1100)).await;
    let a = ask(
        &p,
        "GET",
        VERIFY,
        &[("cookie", &format!("authjs.session-token={old}"))],
    )
    .await;
    assert_eq!(a.status, 200);
    let cookies: Vec<&str> = a
        .headers
        .get_all("set-cookie")
        .map(|v| v.to_str().unwrap())
        .collect();
    let new = cookies
        .iter()
        .find_map(|c| c.strip_prefix("authjs.session-token="))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("Auth.js's new cookie in {cookies:?}"));
    assert!(
        cookies
            .iter()
            .all(|c| c.starts_with("authjs.session-token")),
        "only the session's cookies: {cookies:?}"
    );
    assert_ne!(new, old);
    let decode = |t: &str| {
        token::decode_with_secrets(t, &[SECRET.to_owned()], "authjs.session-token").unwrap()
    };
    assert!(decode(new).iat() > decode(&old).iat(), "a newer token");
    assert_eq!(decode(new).sub(), Some("u-ada"));
}

// --- kept identities ---------------------------------------------------------------------------

#[actix_web::test]
async fn a_reload_decides_again_rather_than_serve_a_kept_identity() {
    let proxy = AuthProxy::start();
    proxy.configure(jwt_options()).await.unwrap();
    let g = ForwardAuthOptions {
        enabled: true,
        ..Default::default()
    }
    .validate()
    .unwrap();
    let p = TestProxy::serve_with(proxy.clone(), gate::configure(proxy.clone(), g));
    let cookie = plain_cookie(json!({"sub": "u-ada"}));
    assert_eq!(
        ask(&p, "GET", VERIFY, &[("cookie", &cookie)]).await.status,
        200
    );
    assert_eq!(
        ask(&p, "GET", VERIFY, &[("cookie", &cookie)]).await.status,
        200
    );
    let mut rotated = jwt_options();
    rotated.secret = Some(Secret::One("another-secret".into()));
    proxy.configure(rotated).await.unwrap();
    assert_eq!(
        ask(&p, "GET", VERIFY, &[("cookie", &cookie)]).await.status,
        401
    );
}

// --- what the review of the rules found --------------------------------------------------------

/// What nginx sends with the README's snippet: `GET`, the original URL in `X-Original-URL`.
async fn nginx_asks(p: &TestProxy, url_path: &str, extra: &[(&str, &str)]) -> u16 {
    let original = format!("http://app.test{url_path}");
    let mut headers = vec![("x-original-url", original.as_str()), ("host", "app.test")];
    headers.extend_from_slice(extra);
    ask(p, "GET", VERIFY, &headers).await.status
}

#[actix_web::test]
async fn a_second_source_of_the_original_path_is_refused_not_believed() {
    let p = start(|o| o.rules = vec![rule("/public", RuleAction::Allow)]).await;
    // nginx passes the client's own headers to its sub-request.
    let forged = nginx_asks(&p, "/internal/x", &[("x-forwarded-uri", "/public")]).await;
    assert_eq!(forged, 400);
    let forged_method = ask(
        &p,
        "GET",
        VERIFY,
        &[
            ("x-forwarded-method", "OPTIONS"),
            ("x-original-method", "GET"),
        ],
    )
    .await;
    assert_eq!(forged_method.status, 400);
}

#[actix_web::test]
async fn a_method_scoped_rule_does_not_match_when_nobody_says_the_method() {
    let p = start(|o| {
        o.rules = vec![RuleOptions {
            methods: vec!["GET".into()],
            ..rule("/", RuleAction::Allow)
        }]
    })
    .await;
    assert_eq!(
        nginx_asks(&p, "/reports", &[]).await,
        401,
        "nginx asked with GET, the client maybe not"
    );
    assert_eq!(
        nginx_asks(&p, "/reports", &[("x-original-method", "GET")]).await,
        200
    );
    assert_eq!(
        nginx_asks(&p, "/reports", &[("x-original-method", "HEAD")]).await,
        200,
        "GET covers HEAD"
    );
    assert_eq!(
        nginx_asks(&p, "/reports", &[("x-original-method", "DELETE")]).await,
        401
    );
}

#[actix_web::test]
async fn path_parameters_do_not_hide_a_denied_path() {
    let p = start(|o| {
        o.rules = vec![
            rule("/admin", RuleAction::Deny),
            rule("/public", RuleAction::Allow),
        ]
    })
    .await;
    let cookie = ada();
    let with_cookie = [("cookie", cookie.as_str())];
    assert_eq!(
        traefik(&p, "GET", "/admin;x=1/users", &with_cookie)
            .await
            .status,
        403
    );
    assert_eq!(
        traefik(&p, "GET", "/public/..;/admin", &[]).await.status,
        400
    );
}

#[actix_web::test]
async fn a_denied_path_is_denied_whatever_its_case() {
    let p = start(|o| o.rules = vec![rule("/internal", RuleAction::Deny)]).await;
    assert_eq!(
        traefik(&p, "GET", "/Internal/x", &[("cookie", &ada())])
            .await
            .status,
        403
    );
}

#[actix_web::test]
async fn an_endpoint_address_ending_in_a_slash_is_refused_not_read_as_envoy() {
    let p = start(|o| o.rules = vec![rule("/", RuleAction::Allow)]).await;
    let a = ask(
        &p,
        "GET",
        &format!("{VERIFY}/"),
        &[("x-forwarded-uri", "/admin"), ("x-forwarded-method", "GET")],
    )
    .await;
    assert_eq!(a.status, 400);
}

#[test]
fn an_assertion_claim_may_not_take_a_name_the_assertion_sets() {
    let dir = Scratch::new("assertion-claims");
    let key = p256_key(&dir, "k.pem");
    let mut a = assertion(vec![key]);
    a.claims = vec!["profile.email".into()];
    let err = ForwardAuthOptions {
        enabled: true,
        assertion: Some(a),
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(err.field, "forward_auth.assertion.claims");
}
