//! get_server_session, the session cache, get_token and the extractors, against a recording
//! fake upstream on 127.0.0.1.

mod common;

use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use authjs_proxy::Scheme;
use authjs_proxy::config::{Secret, SessionStrategy};
use authjs_proxy::token::{Enc, SecretKeys, encode_jwe};
use authjs_proxy::{AuthError, AuthProxy, Claims, Session, Token, UpstreamError};
use common::*;
use serde_json::json;

const SESSION_BODY: &str = r#"{"user":{"name":"Ada","email":"ada@example.com","image":null,"id":"u1","role":"admin"},"expires":"2026-12-27T00:00:00.000Z","accessToken":"abc"}"#;

fn cookie(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
    h
}

/// `cookie(value)` on a request for `host`.
fn cookie_on(value: &str, host: &'static str) -> HeaderMap {
    let mut h = cookie(value);
    h.insert(header::HOST, HeaderValue::from_static(host));
    h
}

/// An upstream that answers a session to every lookup and redirects sign-outs.
fn signout_upstream() -> FakeUpstream {
    FakeUpstream::start(|req, _| {
        if req.path_and_query.ends_with("/signout") {
            Reply::status(302).header("location", "/")
        } else {
            Reply::json(SESSION_BODY)
        }
    })
}

/// Signs `authjs.session-token=t1` out through the proxy (on `host` when given).
async fn sign_out(p: &TestProxy, host: Option<&str>) {
    let mut req = client()
        .post(p.url("/api/auth/signout"))
        .insert_header(("cookie", "authjs.session-token=t1; authjs.csrf-token=x"));
    if let Some(host) = host {
        req = req.insert_header(("host", host));
    }
    let res = req.send_body("csrfToken=x").await.unwrap();
    assert_eq!(res.status(), 302);
}

fn session_upstream() -> FakeUpstream {
    FakeUpstream::start(|req, _| {
        if req
            .header("cookie")
            .is_some_and(|c| c.contains("session-token"))
        {
            Reply::json(SESSION_BODY)
        } else {
            Reply::json("null")
        }
    })
}

async fn configured(
    upstream: &FakeUpstream,
    edit: impl FnOnce(&mut authjs_proxy::config::ProxyOptions),
) -> AuthProxy {
    let proxy = AuthProxy::start();
    let mut o = options(&upstream.url());
    edit(&mut o);
    proxy.configure(o).await.unwrap();
    proxy
}

fn mint(secret: &str, salt: &str) -> String {
    let claims = json!({"sub": "u1", "name": "Ada", "email": "ada@example.com"});
    encode_jwe(
        claims.as_object().unwrap(),
        &SecretKeys::derive(secret, salt),
        Enc::A256CbcHs512,
        3600,
    )
}

#[actix_web::test]
async fn session_is_returned_with_every_field_the_upstream_sent() {
    let up = session_upstream();
    let proxy = configured(&up, |_| {}).await;
    let s = proxy
        .get_server_session(&cookie("authjs.session-token=t1"), Scheme::Http)
        .await
        .unwrap()
        .unwrap();
    let user = s.user.unwrap();
    assert_eq!(user.name.as_deref(), Some("Ada"));
    assert_eq!(user.email.as_deref(), Some("ada@example.com"));
    assert_eq!(user.id.as_deref(), Some("u1"));
    assert_eq!(user.image, None);
    assert_eq!(user.extra["role"], "admin");
    assert_eq!(s.expires.as_deref(), Some("2026-12-27T00:00:00.000Z"));
    assert_eq!(s.extra["accessToken"], "abc");
}

#[actix_web::test]
async fn session_request_carries_only_the_callers_cookies_and_configured_headers() {
    let up = session_upstream();
    let proxy = configured(&up, |o| {
        o.headers.insert("X-API-Key".into(), "k1".into());
    })
    .await;
    let mut h = cookie("authjs.session-token=t1; theme=dark");
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer zzz"),
    );
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    let rec = up.last();
    assert_eq!(rec.method, actix_web::http::Method::GET);
    assert_eq!(rec.path_and_query, "/api/auth/session");
    assert_eq!(
        rec.header("cookie").as_deref(),
        Some("authjs.session-token=t1; theme=dark")
    );
    assert_eq!(
        rec.header("authorization"),
        None,
        "the app's credentials never reach the upstream"
    );
    assert_eq!(rec.header("x-api-key").as_deref(), Some("k1"));
}

#[actix_web::test]
async fn null_body_means_no_session() {
    let up = session_upstream();
    let proxy = configured(&up, |_| {}).await;
    assert_eq!(
        proxy
            .get_server_session(&HeaderMap::new(), Scheme::Http)
            .await
            .unwrap(),
        None
    );
}

#[actix_web::test]
async fn non_200_answer_is_an_error_not_a_sign_out() {
    let up = FakeUpstream::start(|_, _| Reply::status(403).body(SESSION_BODY));
    let proxy = configured(&up, |_| {}).await;
    assert_eq!(
        proxy
            .get_server_session(&cookie("authjs.session-token=t"), Scheme::Http)
            .await,
        Err(AuthError::BadSessionAnswer { status: 403 })
    );
}

#[actix_web::test]
async fn non_json_200_answer_is_an_error_not_a_sign_out() {
    let up = FakeUpstream::start(|_, _| Reply::status(200).body("<html>maintenance</html>"));
    let proxy = configured(&up, |_| {}).await;
    assert_eq!(
        proxy
            .get_server_session(&cookie("authjs.session-token=t"), Scheme::Http)
            .await,
        Err(AuthError::BadSessionAnswer { status: 200 })
    );
}

#[actix_web::test]
async fn unreachable_upstream_is_an_error_after_the_retries() {
    let proxy = AuthProxy::start();
    proxy
        .configure(options(&format!("http://127.0.0.1:{}", closed_port())))
        .await
        .unwrap();
    let err = proxy
        .get_server_session(&cookie("authjs.session-token=t"), Scheme::Http)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        AuthError::Upstream(UpstreamError::Unreachable { attempts: 3 })
    );
}

#[actix_web::test]
async fn unconfigured_runtime_is_an_error() {
    let proxy = AuthProxy::start();
    assert_eq!(
        proxy
            .get_server_session(&HeaderMap::new(), Scheme::Http)
            .await,
        Err(AuthError::Unconfigured)
    );
}

#[actix_web::test]
async fn repeated_lookups_for_one_cookie_hit_the_cache() {
    let up = session_upstream();
    let proxy = configured(&up, |_| {}).await;
    for _ in 0..100 {
        let s = proxy
            .get_server_session(&cookie("authjs.session-token=t1"), Scheme::Http)
            .await
            .unwrap();
        assert!(s.is_some());
    }
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn different_session_cookies_are_cached_apart() {
    let up = session_upstream();
    let proxy = configured(&up, |_| {}).await;
    proxy
        .get_server_session(&cookie("authjs.session-token=a"), Scheme::Http)
        .await
        .unwrap();
    proxy
        .get_server_session(&cookie("authjs.session-token=b"), Scheme::Http)
        .await
        .unwrap();
    assert_eq!(up.count(), 2);
}

#[actix_web::test]
async fn one_cookie_on_two_hosts_is_cached_apart() {
    // An Auth.js that answers per host (a tenant's own configuration).
    let up = FakeUpstream::start(|req, _| {
        let host = req.header("x-forwarded-host").unwrap_or_default();
        if host.starts_with("tenant1.") {
            Reply::json(SESSION_BODY)
        } else {
            Reply::json("null")
        }
    });
    let proxy = configured(&up, |_| {}).await;
    let on = |host| cookie_on("authjs.session-token=a", host);
    let first = proxy
        .get_server_session(&on("tenant1.example"), Scheme::Http)
        .await
        .unwrap();
    assert!(first.is_some());
    let other = proxy
        .get_server_session(&on("tenant2.example"), Scheme::Http)
        .await
        .unwrap();
    assert_eq!(other, None);
    assert_eq!(up.count(), 2);
}

#[actix_web::test]
async fn unrelated_cookies_do_not_split_the_cache_entry() {
    let up = session_upstream();
    let proxy = configured(&up, |_| {}).await;
    proxy
        .get_server_session(&cookie("authjs.session-token=a; theme=dark"), Scheme::Http)
        .await
        .unwrap();
    proxy
        .get_server_session(&cookie("theme=light; authjs.session-token=a"), Scheme::Http)
        .await
        .unwrap();
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn zero_ttl_disables_the_cache() {
    let up = session_upstream();
    let proxy = configured(&up, |o| o.session_cache.ttl_ms = 0).await;
    proxy
        .get_server_session(&cookie("authjs.session-token=a"), Scheme::Http)
        .await
        .unwrap();
    proxy
        .get_server_session(&cookie("authjs.session-token=a"), Scheme::Http)
        .await
        .unwrap();
    assert_eq!(up.count(), 2);
}

#[actix_web::test]
async fn no_session_answers_expire_sooner_than_sessions() {
    let up = FakeUpstream::start(|req, _| {
        if req.header("cookie").is_some_and(|c| c.contains("=good")) {
            Reply::json(SESSION_BODY)
        } else {
            Reply::json("null")
        }
    });
    let proxy = configured(&up, |o| {
        o.session_cache.ttl_ms = 60_000;
        o.session_cache.negative_ttl_ms = 50;
    })
    .await;
    let good = cookie("authjs.session-token=good");
    let bad = cookie("authjs.session-token=bad");
    proxy.get_server_session(&good, Scheme::Http).await.unwrap();
    proxy.get_server_session(&bad, Scheme::Http).await.unwrap();
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    proxy.get_server_session(&good, Scheme::Http).await.unwrap();
    proxy.get_server_session(&bad, Scheme::Http).await.unwrap();
    let asked: Vec<String> = up
        .records()
        .iter()
        .map(|r| r.header("cookie").unwrap())
        .collect();
    assert_eq!(
        asked,
        vec![
            "authjs.session-token=good",
            "authjs.session-token=bad",
            "authjs.session-token=bad"
        ]
    );
}

#[actix_web::test]
async fn concurrent_lookups_share_one_upstream_request() {
    let up =
        FakeUpstream::start(|_, _| Reply::json(SESSION_BODY).delay(Duration::from_millis(200)));
    let proxy = configured(&up, |_| {}).await;
    let h = cookie("authjs.session-token=same");
    let lookups = (0..20).map(|_| proxy.get_server_session(&h, Scheme::Http));
    let results = futures_util::future::join_all(lookups).await;
    assert!(results.iter().all(|r| matches!(r, Ok(Some(_)))));
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn server_errors_are_not_cached() {
    let up = FakeUpstream::start(|_, n| {
        if n < 3 {
            Reply::status(500)
        } else {
            Reply::json(SESSION_BODY)
        }
    });
    let proxy = configured(&up, |_| {}).await;
    let h = cookie("authjs.session-token=t");
    for _ in 0..3 {
        assert_eq!(
            proxy.get_server_session(&h, Scheme::Http).await,
            Err(AuthError::BadSessionAnswer { status: 500 })
        );
    }
    assert!(
        proxy
            .get_server_session(&h, Scheme::Http)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(up.count(), 4);
}

#[actix_web::test]
async fn sign_out_through_the_proxy_drops_the_cached_session() {
    let up = signout_upstream();
    let proxy = configured(&up, |_| {}).await;
    let p = TestProxy::serve(proxy.clone(), |_| {});
    let h = cookie("authjs.session-token=t1");
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    assert_eq!(up.count(), 1);
    sign_out(&p, None).await;
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    assert_eq!(up.count(), 3, "the session was asked again after sign-out");
}

#[actix_web::test]
async fn sign_out_through_another_host_drops_the_cached_session() {
    let up = signout_upstream();
    let proxy = configured(&up, |_| {}).await;
    let p = TestProxy::serve(proxy.clone(), |_| {});
    let h = cookie_on("authjs.session-token=t1", "www.example.test");
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    assert_eq!(up.count(), 1);
    sign_out(&p, Some("app.example.test")).await;
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    assert_eq!(up.count(), 3, "the session was asked again after sign-out");
}

#[actix_web::test]
async fn sign_out_over_https_drops_the_session_cached_over_http() {
    let up = signout_upstream();
    let proxy = configured(&up, |_| {}).await;
    let p = TestProxy::serve(proxy.clone(), |_| {});
    let h = cookie("authjs.session-token=t1");
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    assert_eq!(up.count(), 1);
    // The sign-out comes through a trusted front proxy that terminated TLS.
    let res = client()
        .post(p.url("/api/auth/signout"))
        .insert_header(("cookie", "authjs.session-token=t1; authjs.csrf-token=x"))
        .insert_header(("x-forwarded-proto", "https"))
        .send_body("csrfToken=x")
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    assert_eq!(
        up.count(),
        3,
        "the http entry was dropped by the https sign-out"
    );
}

#[actix_web::test]
async fn another_cookie_s_sign_out_leaves_a_lookup_in_flight_cacheable() {
    let up = FakeUpstream::start(|req, _| {
        if req.path_and_query.ends_with("/signout") {
            Reply::status(302).header("location", "/")
        } else {
            Reply::json(SESSION_BODY).delay(Duration::from_millis(300))
        }
    });
    let proxy = configured(&up, |_| {}).await;
    let p = TestProxy::serve(proxy.clone(), |_| {});
    let h = cookie("authjs.session-token=t2");
    let lookup = proxy.get_server_session(&h, Scheme::Http);
    let other_sign_out = async {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
        sign_out(&p, None).await; // t1, not t2
    };
    let (found, ()) = futures_util::join!(lookup, other_sign_out);
    assert!(found.unwrap().is_some());
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    let lookups = up
        .records()
        .iter()
        .filter(|r| r.path_and_query.ends_with("/session"))
        .count();
    assert_eq!(lookups, 1, "t2's answer was cached despite t1's sign-out");
}

#[actix_web::test]
async fn a_sign_out_is_remembered_however_many_other_cookies_are_signed_out() {
    let up = FakeUpstream::start(|req, _| {
        if req.path_and_query.ends_with("/signout") {
            Reply::status(302).header("location", "/")
        } else {
            Reply::json(SESSION_BODY)
        }
    });
    let proxy = configured(&up, |o| o.session_cache.max_entries = 4).await;
    let p = TestProxy::serve(proxy.clone(), |_| {});
    let h = cookie("authjs.session-token=t1");
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    sign_out(&p, None).await;
    // Many other sign-outs: far more than the cache holds entries.
    for i in 0..200 {
        let res = client()
            .post(p.url("/api/auth/signout"))
            .insert_header(("cookie", format!("authjs.session-token=other-{i}")))
            .send_body("csrfToken=x")
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
    }
    let before = up.count();
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    assert_eq!(
        up.count(),
        before + 1,
        "t1 was asked again, never answered from before its sign-out"
    );
}

#[actix_web::test]
async fn a_stale_answer_is_never_served_for_another_host() {
    let up = FakeUpstream::start(|req, n| {
        if n > 0 {
            Reply::status(503)
        } else if req
            .header("x-forwarded-host")
            .is_some_and(|h| h.starts_with("tenant1."))
        {
            Reply::json(r#"{"user":{"name":"Ada"},"expires":"2999-01-01T00:00:00.000Z"}"#)
        } else {
            Reply::json("null")
        }
    });
    let proxy = configured(&up, |o| {
        o.session_cache.ttl_ms = 1;
        o.session_cache.negative_ttl_ms = 1;
        o.retry.max_attempts = 1;
    })
    .await;
    let on = |host| cookie_on("authjs.session-token=a", host);
    let first = proxy
        .get_server_session(&on("tenant1.example"), Scheme::Http)
        .await;
    assert!(first.unwrap().is_some());
    actix_rt::time::sleep(Duration::from_millis(20)).await;
    // The upstream now fails: tenant1 may get its last good answer, tenant2 may not.
    let same = proxy
        .get_server_session(&on("tenant1.example"), Scheme::Http)
        .await;
    assert!(same.unwrap().is_some());
    let other = proxy
        .get_server_session(&on("tenant2.example"), Scheme::Http)
        .await;
    assert!(other.is_err());
}

#[actix_web::test]
async fn reconfigure_drops_every_cached_session() {
    let up = session_upstream();
    let proxy = configured(&up, |_| {}).await;
    let h = cookie("authjs.session-token=t1");
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    proxy.configure(options(&up.url())).await.unwrap();
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    assert_eq!(up.count(), 2);
}

#[actix_web::test]
async fn get_token_decodes_the_cookie_locally_without_asking_the_upstream() {
    let up = session_upstream();
    let proxy = configured(&up, |o| o.secret = Some(Secret::One("s3cret".into()))).await;
    let tok = mint("s3cret", "authjs.session-token");
    let got = proxy
        .get_token(
            &cookie(&format!("authjs.session-token={tok}")),
            Scheme::Http,
            false,
        )
        .await
        .unwrap();
    let Some(Token::Claims(c)) = got else {
        panic!("expected claims, got {got:?}")
    };
    assert_eq!(
        (c.sub(), c.name(), c.email()),
        (Some("u1"), Some("Ada"), Some("ada@example.com"))
    );
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn get_token_reads_the_secure_cookie_with_its_own_salt() {
    let up = session_upstream();
    let proxy = configured(&up, |o| o.secret = Some(Secret::One("s3cret".into()))).await;
    let tok = mint("s3cret", "__Secure-authjs.session-token");
    let got = proxy
        .get_token(
            &cookie(&format!("__Secure-authjs.session-token={tok}")),
            Scheme::Http,
            false,
        )
        .await
        .unwrap();
    assert!(matches!(got, Some(Token::Claims(_))));
}

#[actix_web::test]
async fn get_token_reassembles_chunked_cookies() {
    let up = session_upstream();
    let proxy = configured(&up, |o| o.secret = Some(Secret::One("s3cret".into()))).await;
    let tok = mint("s3cret", "authjs.session-token");
    let (a, b) = tok.split_at(tok.len() / 2);
    let h = cookie(&format!(
        "authjs.session-token.1={b}; authjs.session-token.0={a}"
    ));
    assert!(matches!(
        proxy.get_token(&h, Scheme::Http, false).await.unwrap(),
        Some(Token::Claims(_))
    ));
    assert_eq!(
        proxy.get_token(&h, Scheme::Http, true).await.unwrap(),
        Some(Token::Raw(tok))
    );
}

#[actix_web::test]
async fn get_token_falls_back_to_a_bearer_token() {
    let up = session_upstream();
    let proxy = configured(&up, |o| o.secret = Some(Secret::One("s3cret".into()))).await;
    let tok = mint("s3cret", "authjs.session-token");
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {tok}")).unwrap(),
    );
    assert!(matches!(
        proxy.get_token(&h, Scheme::Http, false).await.unwrap(),
        Some(Token::Claims(_))
    ));
}

#[actix_web::test]
async fn on_https_get_token_decodes_a_bearer_token_only_with_the_secure_cookies_salt() {
    let up = session_upstream();
    let proxy = configured(&up, |o| o.secret = Some(Secret::One("s3cret".into()))).await;
    let bearer = |tok: String| {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {tok}")).unwrap(),
        );
        h
    };
    let plain = bearer(mint("s3cret", "authjs.session-token"));
    let secure = bearer(mint("s3cret", "__Secure-authjs.session-token"));
    assert_eq!(
        proxy.get_token(&plain, Scheme::Https, false).await.unwrap(),
        None
    );
    assert!(matches!(
        proxy
            .get_token(&secure, Scheme::Https, false)
            .await
            .unwrap(),
        Some(Token::Claims(_))
    ));
}

#[actix_web::test]
async fn get_token_is_none_for_a_tampered_token() {
    let up = session_upstream();
    let proxy = configured(&up, |o| o.secret = Some(Secret::One("s3cret".into()))).await;
    let mut tok = mint("s3cret", "authjs.session-token");
    // A character in the middle of the ciphertext (every one of its bits counts).
    let mid = tok.len() / 2;
    let swap = if tok.as_bytes()[mid] == b'A' {
        "B"
    } else {
        "A"
    };
    tok.replace_range(mid..=mid, swap);
    let got = proxy
        .get_token(
            &cookie(&format!("authjs.session-token={tok}")),
            Scheme::Http,
            false,
        )
        .await;
    assert_eq!(got, Ok(None));
}

#[actix_web::test]
async fn get_token_without_a_secret_asks_for_one() {
    let up = session_upstream();
    let proxy = configured(&up, |_| {}).await;
    let err = proxy
        .get_token(&cookie("authjs.session-token=x"), Scheme::Http, false)
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::NoSecret);
    assert!(
        err.to_string()
            .contains("configure a secret or ask for the raw token")
    );
}

#[actix_web::test]
async fn raw_token_needs_no_secret() {
    let up = session_upstream();
    let proxy = configured(&up, |_| {}).await;
    let got = proxy
        .get_token(&cookie("authjs.session-token=opaque"), Scheme::Http, true)
        .await
        .unwrap();
    assert_eq!(got, Some(Token::Raw("opaque".into())));
}

#[actix_web::test]
async fn database_strategy_token_is_the_upstream_session() {
    let up = session_upstream();
    let proxy = configured(&up, |o| {
        o.session_strategy = Some(SessionStrategy::Database)
    })
    .await;
    let h = cookie("authjs.session-token=db-id");
    let Some(Token::Session(s)) = proxy.get_token(&h, Scheme::Http, false).await.unwrap() else {
        panic!("expected the session")
    };
    assert_eq!(s.user.unwrap().name.as_deref(), Some("Ada"));
    assert_eq!(
        proxy.get_token(&h, Scheme::Http, true).await.unwrap(),
        Some(Token::Raw("db-id".into()))
    );
}

#[actix_web::test]
async fn configured_cookie_name_is_the_only_one_read() {
    let up = session_upstream();
    let proxy = configured(&up, |o| {
        o.secret = Some(Secret::One("s3cret".into()));
        o.cookie_name = Some("my.session".into());
    })
    .await;
    let tok = mint("s3cret", "my.session");
    let h = cookie(&format!("authjs.session-token={tok}; my.session={tok}"));
    assert!(matches!(
        proxy.get_token(&h, Scheme::Http, false).await.unwrap(),
        Some(Token::Claims(_))
    ));
    let other = cookie(&format!("authjs.session-token={tok}"));
    assert_eq!(
        proxy.get_token(&other, Scheme::Http, false).await.unwrap(),
        None
    );
}

async fn me(session: Session) -> HttpResponse {
    HttpResponse::Ok().body(session.user.and_then(|u| u.name).unwrap_or_default())
}

async fn maybe_me(session: Option<Session>) -> HttpResponse {
    HttpResponse::Ok().body(if session.is_some() {
        "signed in"
    } else {
        "anonymous"
    })
}

async fn claims(claims: Claims) -> HttpResponse {
    HttpResponse::Ok().body(claims.sub().unwrap_or_default().to_owned())
}

async fn helper(req: HttpRequest) -> HttpResponse {
    match authjs_proxy::get_server_session(&req).await {
        Ok(s) => HttpResponse::Ok().json(s),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

fn app_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(me))
        .route("/maybe", web::get().to(maybe_me))
        .route("/claims", web::get().to(claims))
        .route("/helper", web::get().to(helper));
}

#[actix_web::test]
async fn session_extractor_gives_the_user_to_a_handler() {
    let up = session_upstream();
    let p = TestProxy::serve(configured(&up, |_| {}).await, app_routes);
    let mut res = client()
        .get(p.url("/me"))
        .insert_header(("cookie", "authjs.session-token=t"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(&res.body().await.unwrap()[..], b"Ada");
}

#[actix_web::test]
async fn session_extractor_rejects_with_401_json_when_signed_out() {
    let up = session_upstream();
    let p = TestProxy::serve(configured(&up, |_| {}).await, app_routes);
    let mut res = p.get("/me").await;
    assert_eq!(res.status(), 401);
    let body: serde_json::Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
    assert_eq!(body, json!({"error": "not signed in"}));
}

#[actix_web::test]
async fn optional_session_extractor_lets_anonymous_requests_through() {
    let up = session_upstream();
    let p = TestProxy::serve(configured(&up, |_| {}).await, app_routes);
    let mut res = p.get("/maybe").await;
    assert_eq!(&res.body().await.unwrap()[..], b"anonymous");
    let mut res = client()
        .get(p.url("/maybe"))
        .insert_header(("cookie", "authjs.session-token=t"))
        .send()
        .await
        .unwrap();
    assert_eq!(&res.body().await.unwrap()[..], b"signed in");
}

#[actix_web::test]
async fn claims_extractor_decodes_the_cookie_in_a_handler() {
    let up = session_upstream();
    let proxy = configured(&up, |o| o.secret = Some(Secret::One("s3cret".into()))).await;
    let p = TestProxy::serve(proxy, app_routes);
    let tok = mint("s3cret", "authjs.session-token");
    let mut res = client()
        .get(p.url("/claims"))
        .insert_header(("cookie", format!("authjs.session-token={tok}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(&res.body().await.unwrap()[..], b"u1");
    assert_eq!(p.get("/claims").await.status(), 401);
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn helper_reports_an_unreachable_upstream_as_502() {
    let proxy = AuthProxy::start();
    proxy
        .configure(options(&format!("http://127.0.0.1:{}", closed_port())))
        .await
        .unwrap();
    let p = TestProxy::serve(proxy, app_routes);
    let res = client()
        .get(p.url("/helper"))
        .insert_header(("cookie", "authjs.session-token=t"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
}

#[actix_web::test]
async fn signed_jwt_cookie_decodes_when_jws_is_configured() {
    let up = session_upstream();
    let proxy = configured(&up, |o| {
        o.jws = Some(authjs_proxy::config::JwsOptions {
            algorithms: vec!["HS256".into()],
            key: Some("jws-key".into()),
            audience: vec![],
            issuer: vec![],
        });
    })
    .await;
    let signed = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "u-jws", "exp": authjs_proxy::token::now_secs() + 60}),
        &jsonwebtoken::EncodingKey::from_secret(b"jws-key"),
    )
    .unwrap();
    let got = proxy
        .get_token(
            &cookie(&format!("authjs.session-token={signed}")),
            Scheme::Http,
            false,
        )
        .await
        .unwrap();
    let Some(Token::Claims(c)) = got else {
        panic!("expected claims, got {got:?}")
    };
    assert_eq!(c.sub(), Some("u-jws"));
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "u-jws"}),
        &jsonwebtoken::EncodingKey::from_secret(b"other-key"),
    )
    .unwrap();
    let got = proxy
        .get_token(
            &cookie(&format!("authjs.session-token={forged}")),
            Scheme::Http,
            false,
        )
        .await;
    assert_eq!(got, Ok(None));
}

#[actix_web::test]
async fn jws_configuration_mixing_algorithm_families_is_refused() {
    let up = session_upstream();
    let proxy = AuthProxy::start();
    let mut o = options(&up.url());
    o.jws = Some(authjs_proxy::config::JwsOptions {
        algorithms: vec!["HS256".into(), "RS256".into()],
        key: Some("k".into()),
        audience: vec![],
        issuer: vec![],
    });
    assert_eq!(proxy.configure(o).await.unwrap_err().field, "jws");
}

#[test]
fn raw_token_debug_output_hides_the_token() {
    let printed = format!("{:?}", Token::Raw("secret-session-value".into()));
    assert!(!printed.contains("secret-session-value"), "{printed}");
}

#[actix_web::test]
async fn token_actor_encodes_tokens_it_then_decodes() {
    use authjs_proxy::actors::token::{Decode, Encode};
    let up = session_upstream();
    let proxy = configured(&up, |o| o.secret = Some(Secret::One("s3cret".into()))).await;
    let keys = proxy.config().unwrap().keys.clone().unwrap();
    let claims = json!({"sub": "u-9"}).as_object().unwrap().clone();
    let token = proxy
        .tokens()
        .send(Encode {
            keys: keys.clone(),
            claims,
            salt: "authjs.session-token".into(),
            max_age: 60,
        })
        .await
        .unwrap()
        .unwrap();
    let decoded = proxy
        .tokens()
        .send(Decode {
            keys,
            token,
            salts: vec!["authjs.session-token".into()],
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decoded.sub(), Some("u-9"));
}

/// `expires` as Auth.js writes it (`Date.toISOString()`), `secs` from now.
fn expires_in(secs: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    at.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
    ))
    .unwrap()
}

#[actix_web::test]
async fn a_stale_answer_is_never_served_past_the_session_s_own_expiry() {
    let body = format!(
        r#"{{"user":{{"name":"Ada"}},"expires":"{}"}}"#,
        expires_in(2)
    );
    // The first answer is a session expiring in 2 s; every later one fails.
    let up = FakeUpstream::start(move |_, n| {
        if n == 0 {
            Reply::json(&body)
        } else {
            Reply::status(503)
        }
    });
    let proxy = configured(&up, |o| {
        o.session_cache.ttl_ms = 300;
        o.session_cache.stale_if_error_ms = 60_000;
        o.retry.max_attempts = 1;
        o.circuit_breaker.consecutive_failures = 0;
    })
    .await;
    let h = cookie("authjs.session-token=t1");
    assert!(
        proxy
            .get_server_session(&h, Scheme::Http)
            .await
            .unwrap()
            .is_some()
    );
    actix_rt::time::sleep(Duration::from_millis(400)).await;
    let stale = proxy.get_server_session(&h, Scheme::Http).await;
    assert!(
        stale.unwrap().is_some(),
        "served stale while the session lasts"
    );
    actix_rt::time::sleep(Duration::from_millis(3000)).await;
    assert!(
        proxy.get_server_session(&h, Scheme::Http).await.is_err(),
        "an expired session is an error, never a stale answer"
    );
}
