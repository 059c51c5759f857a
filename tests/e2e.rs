//! End to end: a real Auth.js server (tests/e2e/authjs: Express 4 + @auth/express, started
//! here on a free loopback port) driven through authjs-proxy with real HTTP.
//!
//! Needs Node and `npm ci --prefix tests/e2e/authjs`. Without them the tests say so and pass
//! locally; under `CI=true` they fail.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use authjs_proxy::Scheme;
use authjs_proxy::config::{ProxyOptions, Secret};
use authjs_proxy::demo::DemoAuth;
use authjs_proxy::{Token, token};
use common::peer::*;
use common::*;
use serde_json::{Value, json};

const SECRET: &str = "e2e-secret";

fn proxy_options(upstream: &str) -> ProxyOptions {
    let mut o = options(upstream);
    o.secret = Some(Secret::One(SECRET.into()));
    o
}

async fn proxy_for(peer: &AuthJs, edit: impl FnOnce(&mut ProxyOptions)) -> TestProxy {
    let mut o = proxy_options(&peer.url());
    edit(&mut o);
    TestProxy::start(Some(o)).await
}

fn browser(p: &TestProxy) -> Browser {
    Browser::new(format!("http://{}", p.addr))
}

#[actix_web::test]
async fn credentials_sign_in_through_the_proxy_gives_the_same_user_everywhere() {
    if !peer_ready() {
        return;
    }
    let mut peer = AuthJs::start(SECRET);
    let p = proxy_for(&peer, |_| {}).await;
    let mut b = browser(&p);
    let res = b
        .sign_in("/api/auth", "ada@example.com", "analytical")
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), format!("http://{}/dashboard", p.addr));
    assert!(
        res.set_cookie_names()
            .contains(&"authjs.session-token".to_owned())
    );

    let session = b.get("/api/auth/session").await;
    assert_eq!(session.status, 200);
    let user = &session.json()["user"];
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["id"], "u-ada");

    let helper = p
        .proxy
        .get_server_session(&b.headers(), Scheme::Http)
        .await
        .unwrap()
        .unwrap();
    let hu = helper.user.unwrap();
    assert_eq!(hu.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(hu.id.as_deref(), Some("u-ada"));

    // Local decoding needs no upstream: it still works with the peer stopped.
    peer.stop();
    let Some(Token::Claims(c)) = p
        .proxy
        .get_token(&b.headers(), Scheme::Http, false)
        .await
        .unwrap()
    else {
        panic!("the Auth.js cookie did not decode")
    };
    assert_eq!(
        (c.sub(), c.name(), c.email()),
        (Some("u-ada"), Some("Ada Lovelace"), Some("ada@example.com"))
    );
}

#[actix_web::test]
async fn wrong_password_redirect_passes_through_unchanged() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy_for(&peer, |_| {}).await;
    let mut b = browser(&p);
    let res = b.sign_in("/api/auth", "ada@example.com", "wrong").await;
    assert_eq!(res.status, 302);
    assert_eq!(
        res.location(),
        format!(
            "http://{}/api/auth/signin?error=CredentialsSignin&code=credentials",
            p.addr
        )
    );
    assert!(!b.has_cookie("authjs.session-token"));
}

#[actix_web::test]
async fn wrong_csrf_token_redirect_passes_through_unchanged() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy_for(&peer, |_| {}).await;
    let mut b = browser(&p);
    b.csrf("/api/auth").await;
    let res = b
        .post(
            "/api/auth/callback/credentials",
            &[
                ("csrfToken", "forged"),
                ("email", "ada@example.com"),
                ("password", "analytical"),
            ],
        )
        .await;
    assert_eq!(res.status, 302);
    assert_eq!(
        res.location(),
        format!("http://{}/api/auth/signin?error=MissingCSRF", p.addr)
    );
    assert!(!b.has_cookie("authjs.session-token"));
}

#[actix_web::test]
async fn sign_out_clears_the_cookie_and_the_cached_session() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy_for(&peer, |_| {}).await;
    let mut b = browser(&p);
    b.sign_in("/api/auth", "ada@example.com", "analytical")
        .await;
    assert!(
        p.proxy
            .get_server_session(&b.headers(), Scheme::Http)
            .await
            .unwrap()
            .is_some()
    );
    let csrf = b.csrf("/api/auth").await;
    let res = b.post("/api/auth/signout", &[("csrfToken", &csrf)]).await;
    assert_eq!(res.status, 302);
    assert!(
        res.set_cookies()
            .iter()
            .any(|c| c.starts_with("authjs.session-token=;") && c.contains("Max-Age=0"))
    );
    assert!(!b.has_cookie("authjs.session-token"));
    assert_eq!(
        p.proxy
            .get_server_session(&b.headers(), Scheme::Http)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        p.proxy
            .config()
            .unwrap()
            .session_cache
            .as_ref()
            .unwrap()
            .entry_count(),
        0
    );
}

#[actix_web::test]
async fn large_claim_session_arrives_in_chunks_and_decodes() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy_for(&peer, |_| {}).await;
    let mut b = browser(&p);
    let res = b.sign_in("/api/auth", "big@example.com", "chunky").await;
    assert_eq!(res.status, 302);
    let names = res.set_cookie_names();
    for chunk in ["authjs.session-token.0", "authjs.session-token.1"] {
        assert!(names.contains(&chunk.to_owned()), "{names:?}");
    }
    let session = b.get("/api/auth/session").await;
    assert_eq!(session.json()["user"]["email"], "big@example.com");
    let Some(Token::Claims(c)) = p
        .proxy
        .get_token(&b.headers(), Scheme::Http, false)
        .await
        .unwrap()
    else {
        panic!("chunked token did not decode")
    };
    assert_eq!(c.sub(), Some("u-big"));
    assert_eq!(
        c.get("blob").and_then(Value::as_str).map(str::len),
        Some(6000)
    );
}

#[actix_web::test]
async fn rotated_secrets_decode_tokens_from_both_and_none_from_others() {
    if !peer_ready() {
        return;
    }
    let before = AuthJs::start("old-secret");
    let after = AuthJs::start("new-secret,old-secret");
    let stranger = AuthJs::start("other-secret");
    let p = proxy_for(&after, |o| {
        o.secret = Some(Secret::Many(vec!["new-secret".into(), "old-secret".into()]));
    })
    .await;
    let mut old_user = Browser::new(before.url());
    old_user
        .sign_in("/api/auth", "ada@example.com", "analytical")
        .await;
    let mut new_user = browser(&p);
    new_user
        .sign_in("/api/auth", "grace@example.com", "cobol")
        .await;
    let mut foreign = Browser::new(stranger.url());
    foreign
        .sign_in("/api/auth", "ada@example.com", "analytical")
        .await;

    let sub = |t: Option<Token>| match t {
        Some(Token::Claims(c)) => c.sub().map(str::to_owned),
        _ => None,
    };
    assert_eq!(
        sub(p
            .proxy
            .get_token(&new_user.headers(), Scheme::Http, false)
            .await
            .unwrap())
        .as_deref(),
        Some("u-grace")
    );
    assert_eq!(
        sub(p
            .proxy
            .get_token(&old_user.headers(), Scheme::Http, false)
            .await
            .unwrap())
        .as_deref(),
        Some("u-ada")
    );
    assert_eq!(
        p.proxy
            .get_token(&foreign.headers(), Scheme::Http, false)
            .await
            .unwrap(),
        None
    );
}

#[actix_web::test]
async fn preserve_host_and_forwarded_proto_give_public_urls() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy_for(&peer, |o| {
        o.preserve_host = true;
        o.trust_forwarded = true;
    })
    .await;
    let mut b = browser(&p);
    b.extra = vec![
        ("host", "auth.public.test".into()),
        ("x-forwarded-proto", "https".into()),
    ];
    let providers = b.get("/api/auth/providers").await.json();
    assert_eq!(
        providers["credentials"]["callbackUrl"],
        "https://auth.public.test/api/auth/callback/credentials"
    );
    let res = b
        .sign_in("/api/auth", "ada@example.com", "analytical")
        .await;
    assert_eq!(res.location(), "https://auth.public.test/dashboard");
    assert!(b.has_cookie("__Host-authjs.csrf-token"));
    assert!(b.has_cookie("__Secure-authjs.session-token"));
    let Some(Token::Claims(c)) = p
        .proxy
        .get_token(&b.headers(), Scheme::Http, false)
        .await
        .unwrap()
    else {
        panic!("the __Secure- cookie did not decode with its own salt")
    };
    assert_eq!(c.sub(), Some("u-ada"));
}

async fn sign_in_asking_for_json(b: &mut Browser) -> Resp {
    let csrf = b.csrf("/api/auth").await;
    let form = [
        ("csrfToken", csrf.as_str()),
        ("email", "ada@example.com"),
        ("password", "analytical"),
        ("callbackUrl", "/dashboard"),
    ];
    b.send(
        "POST",
        "/api/auth/callback/credentials",
        Some(&form),
        &[("x-auth-return-redirect", "1")],
    )
    .await
}

#[actix_web::test]
async fn return_redirect_header_gives_json_url_with_cookies() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy_for(&peer, |o| o.preserve_host = true).await;
    let mut b = browser(&p);
    let res = sign_in_asking_for_json(&mut b).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json(),
        json!({"url": format!("http://{}/dashboard", p.addr)})
    );
    assert!(b.has_cookie("authjs.session-token"));
}

#[actix_web::test]
async fn json_url_body_passes_through_unrewritten_without_preserve_host() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy_for(&peer, |_| {}).await;
    let mut b = browser(&p);
    let res = sign_in_asking_for_json(&mut b).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json(),
        json!({"url": format!("{}/dashboard", peer.url())})
    );
    assert_eq!(
        res.location(),
        format!("http://{}/dashboard", p.addr),
        "the Location header is rewritten"
    );
    assert!(b.has_cookie("authjs.session-token"));
}

#[actix_web::test]
async fn different_local_and_target_base_paths_sign_in_end_to_end() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy_for(&peer, |o| {
        o.local_base_path = "/auth".into();
        o.target_base_path = Some("/api/auth".into());
    })
    .await;
    let mut b = browser(&p);
    let bad = b.sign_in("/auth", "ada@example.com", "wrong").await;
    assert_eq!(
        bad.location(),
        format!(
            "http://{}/auth/signin?error=CredentialsSignin&code=credentials",
            p.addr
        ),
        "Location under the upstream path is moved under the local path"
    );
    let res = b.sign_in("/auth", "ada@example.com", "analytical").await;
    assert_eq!(res.status, 302);
    assert_eq!(
        b.get("/auth/session").await.json()["user"]["name"],
        "Ada Lovelace"
    );
}

#[actix_web::test]
async fn upstream_restart_is_ridden_out_without_sending_a_sign_in_twice() {
    if !peer_ready() {
        return;
    }
    let mut peer = AuthJs::start(SECRET);
    let port = peer.port;
    let p = proxy_for(&peer, |o| {
        o.retry.max_attempts = 60;
        o.retry.initial_backoff_ms = 50;
        o.retry.max_backoff_ms = 200;
        o.timeouts.request_ms = 25_000;
        // Retries alone ride out the restart: the breaker would open after five refusals,
        // and the budget would stop retrying a quiet proxy after ten per second.
        o.circuit_breaker.consecutive_failures = 0;
        o.retry.min_per_second = 1000;
    })
    .await;
    let mut reader = browser(&p);
    reader
        .sign_in("/api/auth", "ada@example.com", "analytical")
        .await;
    let mut signer = browser(&p);
    let csrf = signer.csrf("/api/auth").await;

    peer.stop();
    let restart = async {
        actix_rt::time::sleep(Duration::from_millis(800)).await;
        actix_rt::task::spawn_blocking(move || AuthJs::start_on(port, SECRET))
            .await
            .unwrap()
    };
    let read = reader.get("/api/auth/session");
    let form = [
        ("csrfToken", csrf.as_str()),
        ("email", "grace@example.com"),
        ("password", "cobol"),
        ("callbackUrl", "/"),
    ];
    let sign_in = signer.post("/api/auth/callback/credentials", &form);
    let (restarted, session, signed) = futures_util::join!(restart, read, sign_in);
    assert_eq!(session.status, 200);
    assert_eq!(session.json()["user"]["name"], "Ada Lovelace");
    assert_eq!(signed.status, 302);
    assert!(signer.has_cookie("authjs.session-token"));
    assert_eq!(
        restarted.counts().await["POST /api/auth/callback/credentials"],
        1
    );
}

/// The shape of a JSON value: leaves replaced by their type.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<_> = m.iter().map(|(k, v)| (k.clone(), shape(v))).collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(keys.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

/// Runs the credentials flow through `p` and records what a client can observe.
async fn transcript(p: &TestProxy) -> Vec<Value> {
    let origin = format!("http://{}", p.addr);
    let mut b = browser(p);
    let mut out = Vec::new();
    let mut step = |name: &str, r: &Resp| {
        let body = if r.body.is_empty() {
            json!("empty")
        } else {
            shape(&r.json())
        };
        out.push(json!({
            "step": name,
            "status": r.status,
            "cookies": r.set_cookie_names(),
            "location": r.location().replace(&origin, "<origin>"),
            "body": body,
        }));
    };
    let r = b.get("/api/auth/csrf").await;
    step("csrf", &r);
    let csrf = r.json()["csrfToken"].as_str().unwrap().to_owned();
    step("providers", &b.get("/api/auth/providers").await);
    step("session before", &b.get("/api/auth/session").await);
    let cb = "/api/auth/callback/credentials";
    step(
        "wrong password",
        &b.post(
            cb,
            &[
                ("csrfToken", &csrf),
                ("email", "ada@example.com"),
                ("password", "x"),
            ],
        )
        .await,
    );
    step(
        "wrong csrf",
        &b.post(
            cb,
            &[
                ("csrfToken", "x"),
                ("email", "ada@example.com"),
                ("password", "analytical"),
            ],
        )
        .await,
    );
    step(
        "sign in",
        &b.post(
            cb,
            &[
                ("csrfToken", &csrf),
                ("email", "ada@example.com"),
                ("password", "analytical"),
                ("callbackUrl", "/dashboard"),
            ],
        )
        .await,
    );
    step("session", &b.get("/api/auth/session").await);
    step(
        "sign out",
        &b.post("/api/auth/signout", &[("csrfToken", &csrf)]).await,
    );
    step("session after", &b.get("/api/auth/session").await);
    out
}

#[actix_web::test]
async fn embedded_demo_upstream_answers_the_flow_like_real_authjs() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let real = proxy_for(&peer, |_| {}).await;
    let demo_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let demo_addr = demo_listener.local_addr().unwrap();
    let demo_server = DemoAuth::new(SECRET, "/api/auth")
        .serve(demo_listener)
        .unwrap();
    actix_rt::spawn(demo_server);
    let demo = TestProxy::start(Some(proxy_options(&format!("http://{demo_addr}")))).await;

    let expected = transcript(&real).await;
    let actual = transcript(&demo).await;
    for (e, a) in expected.iter().zip(&actual) {
        assert_eq!(a, e, "the demo upstream differs from Auth.js");
    }
    assert_eq!(actual.len(), expected.len());
}

#[actix_web::test]
async fn tokens_from_our_encoder_decode_in_authjs() {
    if !peer_ready() {
        return;
    }
    let claims = json!({"sub": "u-1", "name": "Ada", "email": "ada@example.com"});
    let tok = token::encode_with_secret(
        claims.as_object().unwrap(),
        "s3cret",
        "authjs.session-token",
        3600,
    );
    let mut node = Command::new("node")
        .arg("decode.mjs")
        .current_dir(PEER_DIR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = json!({"token": tok, "secret": "s3cret", "salt": "authjs.session-token"});
    node.stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = node.wait_with_output().unwrap();
    let decoded: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decoded["sub"], "u-1");
    assert_eq!(decoded["email"], "ada@example.com");
    assert!(decoded["exp"].as_u64().unwrap() > decoded["iat"].as_u64().unwrap());
}
