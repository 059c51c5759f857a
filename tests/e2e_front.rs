//! End to end with real front proxies: nginx (`auth_request`) and Caddy (`forward_auth`) ask
//! authjs-proxy's forward-auth endpoint about every request, in front of a real Auth.js
//! (tests/e2e/authjs). The proxy configurations are `tests/front/nginx.conf` and
//! `tests/front/Caddyfile`, the same files README.md shows.
//!
//! Needs Node (+ `npm ci --prefix tests/e2e/authjs`), nginx with the auth_request module
//! (Debian `nginx-light`) and Caddy (Debian `caddy`). Without them the tests say SKIPPED and
//! pass locally; under `CI=true` they fail.

mod common;

use authjs_proxy::AuthProxy;
use authjs_proxy::config::{ProxyOptions, SESSION_COOKIE, Secret};
use authjs_proxy::gate::{self, ForwardAuthOptions, OnUnauthenticated};
use authjs_proxy::token;
use common::front::{FRONT_DIR, Front, binary_ready};
use common::peer::{AuthJs, Browser, Resp, peer_ready};
use common::*;

const SECRET: &str = "e2e-front-secret";
const NGINX_INSTALL: &str = "apt-get install nginx-light";
const CADDY_INSTALL: &str = "apt-get install caddy";

/// Auth.js, authjs-proxy (routes + forward-auth) and a front proxy, on loopback.
struct Stack {
    peer: AuthJs,
    proxy: TestProxy,
    front: Front,
}

impl Stack {
    fn browser(&self) -> Browser {
        Browser::new(self.front.origin())
    }

    /// `GET /api/auth/session` requests Auth.js has received so far.
    async fn session_requests(&self) -> u64 {
        self.peer.counts().await["GET /api/auth/session"]
            .as_u64()
            .unwrap_or(0)
    }
}

async fn proxy_for(
    peer: &AuthJs,
    edit: impl FnOnce(&mut ProxyOptions),
    gate_edit: impl FnOnce(&mut ForwardAuthOptions),
) -> TestProxy {
    let mut o = options(&peer.url());
    o.secret = Some(Secret::One(SECRET.into()));
    // Auth.js builds its URLs from the Host it receives: give it the public one.
    o.preserve_host = true;
    edit(&mut o);
    let proxy = AuthProxy::start();
    proxy.configure(o).await.expect("valid options");
    let mut fa = ForwardAuthOptions {
        enabled: true,
        ..Default::default()
    };
    gate_edit(&mut fa);
    let g = fa.validate().expect("valid forward-auth options");
    TestProxy::serve_with(proxy.clone(), gate::configure(proxy, g))
}

async fn nginx_stack(edit: impl FnOnce(&mut ProxyOptions)) -> Option<Stack> {
    nginx_stack_with(edit, |_| {}).await
}

async fn nginx_stack_with(
    edit: impl FnOnce(&mut ProxyOptions),
    gate_edit: impl FnOnce(&mut ForwardAuthOptions),
) -> Option<Stack> {
    if !peer_ready() || !binary_ready("nginx", "-v", NGINX_INSTALL) {
        return None;
    }
    let peer = AuthJs::start(SECRET);
    let proxy = proxy_for(&peer, edit, gate_edit).await;
    let front = Front::nginx(proxy.addr, closed_port());
    Some(Stack { peer, proxy, front })
}

async fn caddy_stack() -> Option<Stack> {
    if !peer_ready() || !binary_ready("caddy", "version", CADDY_INSTALL) {
        return None;
    }
    let peer = AuthJs::start(SECRET);
    let proxy = proxy_for(
        &peer,
        |_| {},
        |g| {
            g.on_unauthenticated = OnUnauthenticated::Redirect;
        },
    )
    .await;
    let front = Front::caddy(proxy.addr, closed_port());
    Some(Stack { peer, proxy, front })
}

fn text(res: &Resp) -> String {
    String::from_utf8_lossy(&res.body).into_owned()
}

async fn signed_in(s: &Stack, email: &str, password: &str) -> Browser {
    let mut b = s.browser();
    let res = b.sign_in("/api/auth", email, password).await;
    assert_eq!(res.status, 302, "sign-in through the front proxy");
    assert!(b.has_cookie(SESSION_COOKIE));
    b
}

// --- nginx auth_request ---------------------------------------------------------------------

#[actix_web::test]
async fn nginx_anonymous_request_is_401() {
    let Some(s) = nginx_stack(|_| {}).await else {
        return;
    };
    let res = s.browser().get("/reports").await;
    assert_eq!(res.status, 401);
    assert!(!text(&res).contains("app "), "the app was not reached");
}

#[actix_web::test]
async fn nginx_a_client_can_not_name_the_path_the_rules_see() {
    use authjs_proxy::options::forward_auth::{RuleAction, RuleOptions};
    let Some(s) = nginx_stack_with(
        |_| {},
        |g| {
            g.rules = vec![RuleOptions {
                path: Some("/public".into()),
                action: RuleAction::Allow,
                ..Default::default()
            }];
        },
    )
    .await
    else {
        return;
    };
    let mut b = s.browser();
    let res = b
        .send(
            "GET",
            "/reports",
            None,
            &[
                ("x-forwarded-uri", "/public"),
                ("x-original-uri", "/public"),
                ("x-forwarded-method", "OPTIONS"),
            ],
        )
        .await;
    assert_eq!(
        res.status, 401,
        "judged as what nginx says: /reports, no session"
    );
    assert!(!text(&res).contains("app "), "the app was not reached");
    assert_eq!(
        s.browser().get("/public/x").await.status,
        200,
        "the rule itself works"
    );
}

#[actix_web::test]
async fn nginx_sign_in_lets_the_app_see_the_email() {
    let Some(s) = nginx_stack(|_| {}).await else {
        return;
    };
    let mut b = signed_in(&s, "ada@example.com", "analytical").await;
    let res = b.get("/reports").await;
    assert_eq!(res.status, 200);
    assert_eq!(text(&res).trim(), "app /reports email=ada@example.com");
}

#[actix_web::test]
async fn nginx_client_cannot_forge_the_identity_header() {
    let Some(s) = nginx_stack(|_| {}).await else {
        return;
    };
    let mut b = signed_in(&s, "grace@example.com", "cobol").await;
    let res = b
        .send(
            "GET",
            "/reports",
            None,
            &[("x-auth-request-email", "ada@example.com")],
        )
        .await;
    assert_eq!(text(&res).trim(), "app /reports email=grace@example.com");
}

#[actix_web::test]
async fn nginx_claim_rule_forbids_one_user_and_admits_another() {
    let Some(s) = nginx_stack(|_| {}).await else {
        return;
    };
    let mut grace = signed_in(&s, "grace@example.com", "cobol").await;
    assert_eq!(grace.get("/admin/panel").await.status, 403);
    assert_eq!(grace.get("/reports").await.status, 200);
    let mut ada = signed_in(&s, "ada@example.com", "analytical").await;
    let res = ada.get("/admin/panel").await;
    assert_eq!(res.status, 200);
    assert_eq!(text(&res).trim(), "app /admin/panel email=ada@example.com");
}

#[actix_web::test]
async fn nginx_tampered_cookie_is_401() {
    let Some(s) = nginx_stack(|_| {}).await else {
        return;
    };
    let mut b = signed_in(&s, "ada@example.com", "analytical").await;
    let mut value: Vec<char> = b.cookie(SESSION_COOKIE).unwrap().chars().collect();
    let mid = value.len() / 2;
    value[mid] = if value[mid] == 'x' { 'y' } else { 'x' };
    b.set_cookie(SESSION_COOKIE, &value.into_iter().collect::<String>());
    assert_eq!(b.get("/reports").await.status, 401);
}

#[actix_web::test]
async fn nginx_expired_cookie_is_401() {
    let Some(s) = nginx_stack(|_| {}).await else {
        return;
    };
    let claims = serde_json::json!({
        "sub": "u-ada", "email": "ada@example.com", "name": "Ada Lovelace",
        "iat": token::now_secs() - 7200, "exp": token::now_secs() - 3600,
    });
    let keys = token::SecretKeys::derive(SECRET, SESSION_COOKIE);
    let expired =
        token::encode_jwe_raw(claims.as_object().unwrap(), &keys, token::Enc::A256CbcHs512);
    let mut b = s.browser();
    b.set_cookie(SESSION_COOKIE, &expired);
    assert_eq!(b.get("/reports").await.status, 401);
}

#[actix_web::test]
async fn nginx_sign_out_makes_the_app_401_again() {
    let Some(s) = nginx_stack(|_| {}).await else {
        return;
    };
    let mut b = signed_in(&s, "ada@example.com", "analytical").await;
    assert_eq!(b.get("/reports").await.status, 200);
    let csrf = b.csrf("/api/auth").await;
    let res = b.post("/api/auth/signout", &[("csrfToken", &csrf)]).await;
    assert_eq!(res.status, 302);
    assert_eq!(b.get("/reports").await.status, 401);
}

#[actix_web::test]
async fn nginx_decisions_with_the_secret_ask_authjs_nothing() {
    let Some(s) = nginx_stack(|_| {}).await else {
        return;
    };
    let mut b = signed_in(&s, "ada@example.com", "analytical").await;
    let before = s.session_requests().await;
    for _ in 0..10 {
        assert_eq!(b.get("/reports").await.status, 200);
    }
    assert_eq!(s.session_requests().await, before);
}

#[actix_web::test]
async fn nginx_decisions_without_the_secret_ask_authjs_once_per_cache_period() {
    let Some(s) = nginx_stack(|o| {
        o.secret = None;
        o.session_cache.ttl_ms = 60_000;
    })
    .await
    else {
        return;
    };
    let mut b = signed_in(&s, "ada@example.com", "analytical").await;
    let before = s.session_requests().await;
    for _ in 0..10 {
        let res = b.get("/reports").await;
        assert_eq!(res.status, 200);
        assert_eq!(text(&res).trim(), "app /reports email=ada@example.com");
    }
    assert!(s.session_requests().await - before <= 1);
    drop(s.proxy);
}

// --- Caddy forward_auth, redirect mode ------------------------------------------------------

#[actix_web::test]
async fn caddy_browser_signs_in_and_lands_back_on_the_original_url() {
    let Some(s) = caddy_stack().await else {
        return;
    };
    let mut b = s.browser();
    b.extra
        .push(("accept", "text/html,application/xhtml+xml,*/*;q=0.8".into()));
    let original = format!("{}/reports?year=2025", s.front.origin());
    let res = b.get("/reports?year=2025").await;
    assert_eq!(res.status, 302);
    let location = url::Url::parse(&res.location()).unwrap();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        format!("{}/api/auth/signin", s.front.origin())
    );
    let callback = location
        .query_pairs()
        .find(|(k, _)| k == "callbackUrl")
        .map(|(_, v)| v.into_owned())
        .expect("callbackUrl");
    assert_eq!(callback, original);

    let res = b
        .sign_in_to("/api/auth", "ada@example.com", "analytical", &callback)
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), original);
    let res = b.get("/reports?year=2025").await;
    assert_eq!(res.status, 200);
    assert_eq!(
        text(&res).trim(),
        "app /reports?year=2025 email=ada@example.com"
    );
}

#[actix_web::test]
async fn caddy_api_client_gets_401_in_redirect_mode() {
    let Some(s) = caddy_stack().await else {
        return;
    };
    let mut b = s.browser();
    let res = b
        .send("GET", "/reports", None, &[("accept", "application/json")])
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json(), serde_json::json!({"error": "not signed in"}));
}

// --- the README shows what runs here --------------------------------------------------------

/// The part of a template between the readme markers, with README's addresses.
fn readme_part(file: &str) -> String {
    let text = std::fs::read_to_string(std::path::Path::new(FRONT_DIR).join(file)).unwrap();
    let start = text.find("readme:start").unwrap();
    let start = text[start..].find('\n').unwrap() + start + 1;
    let end = text.find("readme:end").unwrap();
    let end = text[..end].rfind('\n').unwrap() + 1;
    let part = &text[start..end];
    let indent = part
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    part.lines()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("{{PROXY}}", "127.0.0.1:3000")
        .replace("{{APP}}", "127.0.0.1:8080")
}

#[test]
fn readme_shows_the_tested_nginx_and_caddy_snippets() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for file in ["nginx.conf", "nginx-browser.conf", "Caddyfile"] {
        let part = readme_part(file);
        assert!(
            readme.contains(&part),
            "README.md does not show tests/front/{file} as tested; expected:\n{part}"
        );
    }
}
