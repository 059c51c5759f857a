//! Sign-out that signs out: a JWT session signed out through the proxy is refused on every
//! replica until it expires, though Auth.js itself would still accept a copy of the cookie.
//! Against a real Auth.js (tests/e2e/authjs) and a real `redis-server`, both started here on
//! free loopback ports (skipped without them locally, failures under `CI=true`).

mod common;

use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use authjs_proxy::config::{ProxyOptions, RedisOptions, Secret};
use authjs_proxy::gate::{self, ForwardAuthOptions};
use authjs_proxy::options::OnSignOut;
use authjs_proxy::{AuthProxy, Scheme, token};
use common::peer::*;
use common::redis::Redis;
use common::*;

const SECRET: &str = "revocation-secret";
const VERIFY: &str = "/_authjs/verify";
const COOKIE: &str = "authjs.session-token";

fn proxy_options(upstream: &str, redis: Option<&Redis>) -> ProxyOptions {
    let mut o = options(upstream);
    o.secret = Some(Secret::One(SECRET.into()));
    o.session_cache.redis = redis.map(|r| RedisOptions {
        url: r.url(),
        ..RedisOptions::default()
    });
    o
}

/// A replica: the proxy with the forward-auth endpoint mounted.
async fn replica(opts: ProxyOptions) -> TestProxy {
    let proxy = AuthProxy::start();
    proxy.configure(opts).await.expect("valid test options");
    let fa = ForwardAuthOptions {
        enabled: true,
        ..Default::default()
    }
    .validate()
    .expect("valid forward-auth options");
    TestProxy::serve_with(proxy.clone(), gate::configure(proxy, fa))
}

/// Request headers carrying `token` as the session cookie.
fn with_cookie(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::COOKIE,
        HeaderValue::from_str(&format!("{COOKIE}={token}")).unwrap(),
    );
    h
}

/// The forward-auth decision of `p` for `token`.
async fn decision(p: &TestProxy, token: &str) -> u16 {
    client()
        .get(p.url(VERIFY))
        .insert_header((header::COOKIE, format!("{COOKIE}={token}")))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until `p` decides `want` for `token` (at most 60 times, 50 ms apart).
async fn decides(p: &TestProxy, token: &str, want: u16) -> bool {
    for _ in 0..60 {
        if decision(p, token).await == want {
            return true;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Signs `email` in through `p`: the browser and a copy of its session cookie.
async fn signed_in(p: &TestProxy, email: &str, password: &str) -> (Browser, String) {
    let mut b = Browser::new(format!("http://{}", p.addr));
    let res = b.sign_in("/api/auth", email, password).await;
    assert_eq!(res.status, 302, "sign-in");
    let copy = b.cookie(COOKIE).expect("a session cookie");
    (b, copy)
}

/// Signs the browser out through its proxy (Auth.js's form post, CSRF token included).
async fn sign_out(b: &mut Browser) {
    let csrf = b.csrf("/api/auth").await;
    let res = b.post("/api/auth/signout", &[("csrfToken", &csrf)]).await;
    assert_eq!(res.status, 302, "sign-out");
    assert!(!b.has_cookie(COOKIE), "Auth.js cleared the cookie");
}

fn tools_ready() -> bool {
    peer_ready() && Redis::available()
}

#[actix_web::test]
async fn a_copy_of_a_signed_out_cookie_gets_401_from_forward_auth_on_every_replica() {
    if !tools_ready() {
        return;
    }
    let (redis, peer) = (Redis::start(), AuthJs::start(SECRET));
    let a = replica(proxy_options(&peer.url(), Some(&redis))).await;
    let b = replica(proxy_options(&peer.url(), Some(&redis))).await;
    let (mut browser, copy) = signed_in(&a, "ada@example.com", "analytical").await;
    assert_eq!(decision(&a, &copy).await, 200);
    assert_eq!(decision(&b, &copy).await, 200);

    sign_out(&mut browser).await;

    assert_eq!(
        decision(&a, &copy).await,
        401,
        "on the replica signed out through"
    );
    assert!(decides(&b, &copy, 401).await, "on the other replica");
}

#[actix_web::test]
async fn the_session_route_answers_a_signed_out_copy_as_signed_out_without_asking_auth_js() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = replica(proxy_options(&peer.url(), None)).await;
    let (mut browser, copy) = signed_in(&p, "ada@example.com", "analytical").await;
    sign_out(&mut browser).await;
    let asked = peer.counts().await["GET /api/auth/session"].as_u64();

    let mut thief = Browser::new(format!("http://{}", p.addr));
    thief.set_cookie(COOKIE, &copy);
    let res = thief.get("/api/auth/session").await;

    assert_eq!(res.status, 200);
    assert_eq!(&res.body[..], b"null");
    assert!(
        res.set_cookies()
            .iter()
            .any(|c| c.starts_with(&format!("{COOKIE}=;")) && c.contains("Max-Age=0")),
        "{:?}",
        res.set_cookies()
    );
    assert!(!thief.has_cookie(COOKIE));
    assert_eq!(
        peer.counts().await["GET /api/auth/session"].as_u64(),
        asked,
        "never forwarded: Auth.js would accept the copy and roll it into a fresh token"
    );
}

#[actix_web::test]
async fn get_token_and_get_server_session_refuse_a_signed_out_copy() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = replica(proxy_options(&peer.url(), None)).await;
    let (mut browser, copy) = signed_in(&p, "ada@example.com", "analytical").await;
    let copy_headers = with_cookie(&copy);
    assert!(
        p.proxy
            .get_token(&copy_headers, Scheme::Http, false)
            .await
            .unwrap()
            .is_some()
    );
    sign_out(&mut browser).await;

    let token = p.proxy.get_token(&copy_headers, Scheme::Http, false).await;
    assert_eq!(token.unwrap(), None, "the Claims extractor's source");
    let session = p
        .proxy
        .get_server_session(&copy_headers, Scheme::Http)
        .await;
    assert_eq!(session.unwrap(), None, "the Session extractor's source");
}

#[actix_web::test]
async fn a_replica_started_after_the_sign_out_refuses_the_copy() {
    if !tools_ready() {
        return;
    }
    let (redis, peer) = (Redis::start(), AuthJs::start(SECRET));
    let a = replica(proxy_options(&peer.url(), Some(&redis))).await;
    let (mut browser, copy) = signed_in(&a, "ada@example.com", "analytical").await;
    sign_out(&mut browser).await;

    let late = replica(proxy_options(&peer.url(), Some(&redis))).await;
    assert!(decides(&late, &copy, 401).await);
}

#[actix_web::test]
async fn a_sign_out_auth_js_refused_revokes_nothing() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = replica(proxy_options(&peer.url(), None)).await;
    let (mut browser, copy) = signed_in(&p, "ada@example.com", "analytical").await;
    let res = browser
        .post("/api/auth/signout", &[("csrfToken", "forged")])
        .await;
    assert!(
        browser.has_cookie(COOKIE),
        "Auth.js kept the session: {}",
        res.status
    );
    assert_eq!(decision(&p, &copy).await, 200);
}

#[actix_web::test]
async fn sign_out_everywhere_refuses_every_session_of_that_user_and_no_other() {
    if !tools_ready() {
        return;
    }
    let (redis, peer) = (Redis::start(), AuthJs::start(SECRET));
    let a = replica(proxy_options(&peer.url(), Some(&redis))).await;
    let b = replica(proxy_options(&peer.url(), Some(&redis))).await;
    let (_, laptop) = signed_in(&a, "ada@example.com", "analytical").await;
    let (_, phone) = signed_in(&b, "ada@example.com", "analytical").await;
    let (_, grace) = signed_in(&a, "grace@example.com", "cobol").await;
    // `iat` has a one-second grain: the cut-off must come after both sign-ins.
    actix_rt::time::sleep(Duration::from_millis(1100)).await;

    let cfg = a.proxy.config().unwrap();
    cfg.revocation
        .revoke_subject("u-ada", token::now_secs())
        .await;

    for (who, p) in [("a", &a), ("b", &b)] {
        assert!(decides(p, &laptop, 401).await, "laptop on {who}");
        assert!(decides(p, &phone, 401).await, "phone on {who}");
        assert_eq!(decision(p, &grace).await, 200, "another user on {who}");
    }
    let (_, fresh) = signed_in(&a, "ada@example.com", "analytical").await;
    assert_eq!(
        decision(&b, &fresh).await,
        200,
        "a session begun afterwards"
    );
}

#[actix_web::test]
async fn on_sign_out_subject_also_refuses_tokens_auth_js_rolled_before() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let mut o = proxy_options(&peer.url(), None);
    o.revocation.on_sign_out = OnSignOut::Subject;
    let p = replica(o).await;
    let (mut browser, first) = signed_in(&p, "ada@example.com", "analytical").await;
    actix_rt::time::sleep(Duration::from_millis(1100)).await;
    // The session route rolls the token: a new `jti` for the same session.
    browser.get("/api/auth/session").await;
    let rolled = browser.cookie(COOKIE).unwrap();
    assert_ne!(rolled, first);
    sign_out(&mut browser).await;

    assert_eq!(decision(&p, &first).await, 401);
    assert_eq!(decision(&p, &rolled).await, 401);
}

// --- Without Auth.js: a fake upstream that clears the cookie on sign-out as Auth.js does ---

/// An upstream that answers a sign-out as Auth.js does (the session cookie cleared) and any
/// session request with a session.
fn clearing_upstream() -> FakeUpstream {
    FakeUpstream::start(|req, _| {
        if req.path_and_query.ends_with("/signout") {
            Reply::status(302).header("location", "/").header(
                "set-cookie",
                "authjs.session-token=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; \
                 Max-Age=0; HttpOnly; SameSite=Lax",
            )
        } else {
            Reply::json(r#"{"user":{"name":"Ada"},"expires":"2030-01-01T00:00:00.000Z"}"#)
        }
    })
}

fn encoded(max_age: u64) -> String {
    let claims = serde_json::json!({"sub": "u-ada", "name": "Ada"});
    token::encode_with_secret(claims.as_object().unwrap(), SECRET, COOKIE, max_age)
}

async fn post_sign_out(p: &TestProxy, token: &str) -> u16 {
    client()
        .post(p.url("/api/auth/signout"))
        .insert_header((header::COOKIE, format!("{COOKIE}={token}")))
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .send_body("csrfToken=x")
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A replica over `up`, and a token it has seen signed out.
async fn signed_out_copy(up: &FakeUpstream) -> (TestProxy, String) {
    let p = replica(proxy_options(&up.url(), None)).await;
    let copy = encoded(3600);
    assert_eq!(post_sign_out(&p, &copy).await, 302);
    (p, copy)
}

#[actix_web::test]
async fn a_reload_forgets_no_revocation() {
    let up = clearing_upstream();
    let (p, copy) = signed_out_copy(&up).await;
    assert_eq!(decision(&p, &copy).await, 401);

    let mut o = proxy_options(&up.url(), None);
    o.session_cache.ttl_ms = 1234;
    p.proxy.configure(o).await.unwrap();

    assert_eq!(decision(&p, &copy).await, 401);
    assert_eq!(decision(&p, &encoded(3600)).await, 200, "other tokens pass");
}

#[actix_web::test]
async fn revocation_entries_leave_redis_when_their_token_expires() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = clearing_upstream();
    let p = replica(proxy_options(&up.url(), Some(&redis))).await;
    let short = encoded(2);
    assert_eq!(post_sign_out(&p, &short).await, 302);
    let key = "authjs-proxy:revoked:tokens";
    assert_eq!(redis.cli(&["ZCARD", key]).trim(), "1");
    assert_eq!(decision(&p, &short).await, 401);

    let mut gone = false;
    for _ in 0..40 {
        if redis.cli(&["EXISTS", key]).trim() == "0" {
            gone = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the list went with its last token");
}

#[actix_web::test]
async fn revocation_off_keeps_auth_js_behaviour() {
    let up = clearing_upstream();
    let mut o = proxy_options(&up.url(), None);
    o.revocation.enabled = false;
    let p = replica(o).await;
    let copy = encoded(3600);
    assert_eq!(post_sign_out(&p, &copy).await, 302);
    assert_eq!(decision(&p, &copy).await, 200);
}

// --- what the review of the first version found ------------------------------------------------

#[actix_web::test]
async fn a_revoked_token_never_reaches_auth_js_on_any_route() {
    let up = clearing_upstream();
    let (p, copy) = signed_out_copy(&up).await;
    let before = up.count();

    // A sign-in callback with the copy would let Auth.js link an account to its user.
    let res = client()
        .get(p.url("/api/auth/callback/github?code=x&state=y"))
        .insert_header((header::COOKIE, format!("theme=dark; {COOKIE}={copy}")))
        .send()
        .await
        .unwrap();
    assert_eq!(up.count(), before + 1);
    let sent = up.last().header("cookie").unwrap_or_default();
    assert_eq!(sent, "theme=dark", "the session cookie is not forwarded");
    let cleared = res
        .headers()
        .get_all(header::SET_COOKIE)
        .any(|v| v.to_str().unwrap().starts_with(&format!("{COOKIE}=;")));
    assert!(cleared, "and the browser is told to drop it");
}

#[actix_web::test]
async fn a_decoy_secure_cookie_does_not_hide_a_revoked_one() {
    let up = clearing_upstream();
    let (p, copy) = signed_out_copy(&up).await;
    let before = up.count();
    let res = client()
        .get(p.url("/api/auth/session"))
        .insert_header((
            header::COOKIE,
            format!("__Secure-{COOKIE}=decoy; {COOKIE}={copy}"),
        ))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    assert_eq!(&res[..], b"null");
    assert_eq!(up.count(), before, "never forwarded");
}

#[actix_web::test]
async fn without_a_secret_sign_outs_revoke_nothing_so_nobody_can_fill_the_list() {
    let up = clearing_upstream();
    let mut o = proxy_options(&up.url(), None);
    o.secret = None;
    let p = replica(o).await;
    for i in 0..20 {
        assert_eq!(post_sign_out(&p, &format!("junk-{i}")).await, 302);
    }
    assert_eq!(p.proxy.config().unwrap().revocation.list.token_count(), 0);
}

#[actix_web::test]
async fn many_sign_outs_of_one_subject_become_one_cut_off() {
    let up = clearing_upstream();
    let p = replica(proxy_options(&up.url(), None)).await;
    for _ in 0..100 {
        assert_eq!(post_sign_out(&p, &encoded(3600)).await, 302);
    }
    let cfg = p.proxy.config().unwrap();
    assert!(
        cfg.revocation.list.token_count() <= 64,
        "{}",
        cfg.revocation.list.token_count()
    );
    assert_eq!(cfg.revocation.list.subjects(token::now_secs()).len(), 1);
}

#[actix_web::test]
async fn get_token_raw_gives_no_revoked_token() {
    let up = clearing_upstream();
    let (p, copy) = signed_out_copy(&up).await;
    let raw = p
        .proxy
        .get_token(&with_cookie(&copy), Scheme::Http, true)
        .await;
    assert_eq!(raw.unwrap(), None);
}

#[actix_web::test]
async fn a_sign_out_while_redis_is_down_reaches_the_other_replicas_once_it_is_back() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = clearing_upstream();
    let a = replica(proxy_options(&up.url(), Some(&redis))).await;
    let b = replica(proxy_options(&up.url(), Some(&redis))).await;
    let copy = encoded(3600);
    assert_eq!(decision(&b, &copy).await, 200);
    let port = redis.stop();

    assert_eq!(post_sign_out(&a, &copy).await, 302);
    assert_eq!(decision(&a, &copy).await, 401);
    assert_eq!(decision(&b, &copy).await, 200, "B has not heard of it yet");

    let _back = Redis::start_on(port, None);
    let mut heard = false;
    for _ in 0..80 {
        if decision(&b, &copy).await == 401 {
            heard = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(heard, "A sent what Redis missed, and B applied it");
}
