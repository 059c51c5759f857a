//! Route forwarding, header hygiene, retries and reconfiguration, against a recording fake
//! upstream on 127.0.0.1.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use common::*;

const GET_ROUTES: [&str; 10] = [
    "providers",
    "session",
    "csrf",
    "signin",
    "signin/github",
    "signout",
    "callback/github",
    "verify-request",
    "error",
    "webauthn-options/passkey",
];
const POST_ROUTES: [&str; 5] = [
    "signin",
    "signin/github",
    "signout",
    "callback/credentials",
    "session",
];

async fn body_json<S>(res: &mut awc::ClientResponse<S>) -> serde_json::Value
where
    S: futures_util::Stream<Item = Result<web::Bytes, awc::error::PayloadError>> + Unpin,
{
    serde_json::from_slice(&res.body().await.unwrap()).unwrap()
}

#[actix_web::test]
async fn every_get_route_is_forwarded_to_the_same_path_upstream() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    for route in GET_ROUTES {
        let res = p.get(&format!("/api/auth/{route}")).await;
        assert_eq!(res.status(), 200, "GET {route}");
        let rec = up.last();
        assert_eq!(rec.method, Method::GET);
        assert_eq!(rec.path_and_query, format!("/api/auth/{route}"));
    }
    assert_eq!(up.count(), GET_ROUTES.len());
}

#[actix_web::test]
async fn every_post_route_is_forwarded_with_its_body() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    for route in POST_ROUTES {
        let res = client()
            .post(p.url(&format!("/api/auth/{route}")))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .send_body("csrfToken=abc&username=ada")
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "POST {route}");
        let rec = up.last();
        assert_eq!(rec.method, Method::POST);
        assert_eq!(rec.path_and_query, format!("/api/auth/{route}"));
        assert_eq!(&rec.body[..], b"csrfToken=abc&username=ada");
        assert_eq!(rec.header("content-length").as_deref(), Some("26"));
    }
}

#[actix_web::test]
async fn head_answers_with_the_get_status_and_headers_but_no_body() {
    let up = FakeUpstream::start(|_, _| Reply::json(r#"{"user":null}"#).header("x-upstream", "1"));
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let mut res = client()
        .head(p.url("/api/auth/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("x-upstream").unwrap(), "1");
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/json"
    );
    assert!(res.body().await.unwrap().is_empty());
    assert_eq!(up.last().method, Method::GET, "Auth.js is asked with GET");
}

#[actix_web::test]
async fn other_methods_on_a_post_route_get_405_with_allow() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let mut res = client()
        .put(p.url("/api/auth/signin"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get("allow").unwrap(), "GET, HEAD, POST");
    assert_eq!(body_json(&mut res).await["error"], "method not allowed");
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn post_on_a_get_only_route_gets_405_with_allow_get_head() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let res = client()
        .post(p.url("/api/auth/providers"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get("allow").unwrap(), "GET, HEAD");
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn a_header_section_over_node_s_16_kib_is_431_and_never_forwarded() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let big = format!("authjs.session-token={}", "a".repeat(17 * 1024));
    for route in ["session", "csrf", "signin"] {
        let mut res = client()
            .get(p.url(&format!("/api/auth/{route}")))
            .insert_header(("cookie", big.as_str()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 431, "GET {route}");
        assert_eq!(
            body_json(&mut res).await["error"],
            "request header fields too large"
        );
    }
    assert_eq!(up.count(), 0);
    // Just under the limit still goes through.
    let fits = format!("authjs.session-token={}", "a".repeat(15 * 1024));
    let res = client()
        .get(p.url("/api/auth/session"))
        .insert_header(("cookie", fits.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn unknown_sub_paths_get_404_and_are_not_forwarded() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    for path in [
        "/api/auth",
        "/api/auth/",
        "/api/auth/admin",
        "/api/auth/signin/a/b",
        "/api/auth/callback",
    ] {
        let res = p.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn different_base_paths_move_the_route_under_the_target_path() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.local_base_path = "/auth".into();
    o.target_base_path = Some("/api/auth".into());
    let p = TestProxy::start(Some(o)).await;
    let res = p.get("/auth/session").await;
    assert_eq!(res.status(), 200);
    assert_eq!(up.last().path_and_query, "/api/auth/session");
    let res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 404, "the old path is not mounted");
}

#[actix_web::test]
async fn root_target_base_path_joins_with_one_slash() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.target_base_path = Some("/".into());
    let p = TestProxy::start(Some(o)).await;
    p.get("/api/auth/csrf").await;
    assert_eq!(up.last().path_and_query, "/csrf");
}

#[actix_web::test]
async fn query_string_is_forwarded_verbatim() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let q = "callbackUrl=%2Fdash%3Fa%3D1&x=&y=%E2%9C%93&y=2";
    p.get(&format!("/api/auth/signin/github?{q}")).await;
    assert_eq!(
        up.last().path_and_query,
        format!("/api/auth/signin/github?{q}")
    );
}

#[actix_web::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let answer = raw(
        p.addr,
        "GET /api/auth/session HTTP/1.1\r\nHost: proxy.test\r\n\
         Connection: close, x-private\r\nX-Private: drop me\r\nKeep-Alive: timeout=5\r\n\
         TE: trailers\r\nProxy-Authorization: Basic abc\r\nAccept-Encoding: gzip\r\n\
         Upgrade: websocket\r\nX-End-To-End: keep me\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let rec = up.last();
    for h in [
        "x-private",
        "keep-alive",
        "te",
        "proxy-authorization",
        "upgrade",
    ] {
        assert_eq!(rec.header(h), None, "{h} was forwarded");
    }
    let encoding = rec.header("accept-encoding");
    assert!(
        encoding.is_none() || encoding.as_deref() == Some("identity"),
        "the client's accept-encoding was forwarded: {encoding:?}"
    );
    assert_eq!(rec.header("x-end-to-end").as_deref(), Some("keep me"));
}

#[actix_web::test]
async fn x_forwarded_headers_describe_the_client() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.trusted_proxies = vec!["10.0.0.0/8".into()]; // the test client is not a trusted peer
    let p = TestProxy::start(Some(o)).await;
    client()
        .get(p.url("/api/auth/session"))
        .insert_header(("host", "app.example.com"))
        .insert_header(("x-forwarded-for", "203.0.113.7"))
        .insert_header(("x-forwarded-proto", "https"))
        .send()
        .await
        .unwrap();
    let rec = up.last();
    assert_eq!(
        rec.header("x-forwarded-for").as_deref(),
        Some("127.0.0.1"),
        "an untrusted client's X-Forwarded-For is replaced by its address"
    );
    assert_eq!(
        rec.header("x-forwarded-proto").as_deref(),
        Some("http"),
        "untrusted proto is replaced"
    );
    assert_eq!(
        rec.header("x-forwarded-host").as_deref(),
        Some("app.example.com")
    );
}

#[actix_web::test]
async fn trusted_forwarded_proto_is_kept() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.trust_forwarded = true;
    let p = TestProxy::start(Some(o)).await;
    client()
        .get(p.url("/api/auth/session"))
        .insert_header(("x-forwarded-proto", "https"))
        .insert_header(("x-forwarded-host", "public.example.com"))
        .send()
        .await
        .unwrap();
    let rec = up.last();
    assert_eq!(rec.header("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(
        rec.header("x-forwarded-host").as_deref(),
        Some("public.example.com")
    );
}

#[actix_web::test]
async fn host_is_the_upstreams_by_default() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    client()
        .get(p.url("/api/auth/session"))
        .insert_header(("host", "app.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(up.last().header("host"), Some(up.addr.to_string()));
}

#[actix_web::test]
async fn preserve_host_sends_the_clients_host() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.preserve_host = true;
    let p = TestProxy::start(Some(o)).await;
    client()
        .get(p.url("/api/auth/session"))
        .insert_header(("host", "app.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(up.last().header("host").as_deref(), Some("app.example.com"));
}

#[actix_web::test]
async fn configured_headers_override_same_named_client_headers() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.headers.insert("X-API-Key".into(), "from-config".into());
    let p = TestProxy::start(Some(o)).await;
    client()
        .get(p.url("/api/auth/session"))
        .insert_header(("x-api-key", "from-client"))
        .send()
        .await
        .unwrap();
    let rec = up.last();
    assert_eq!(
        rec.headers
            .get_all("x-api-key")
            .map(|v| v.to_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["from-config"]
    );
}

#[actix_web::test]
async fn several_set_cookie_headers_stay_separate_and_in_order() {
    let up = FakeUpstream::start(|_, _| {
        Reply::json("{}")
            .header(
                "set-cookie",
                "authjs.csrf-token=a%7Cb; Path=/; HttpOnly; SameSite=Lax",
            )
            .header("set-cookie", "authjs.callback-url=http%3A%2F%2Fx; Path=/")
            .header(
                "set-cookie",
                "authjs.session-token.0=chunk0; Path=/; HttpOnly",
            )
            .header(
                "set-cookie",
                "authjs.session-token.1=chunk1; Path=/; HttpOnly",
            )
    });
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let res = p.get("/api/auth/csrf").await;
    let cookies: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        cookies,
        vec![
            "authjs.csrf-token=a%7Cb; Path=/; HttpOnly; SameSite=Lax",
            "authjs.callback-url=http%3A%2F%2Fx; Path=/",
            "authjs.session-token.0=chunk0; Path=/; HttpOnly",
            "authjs.session-token.1=chunk1; Path=/; HttpOnly",
        ]
    );
}

#[actix_web::test]
async fn redirects_pass_through_and_are_not_followed() {
    let up = FakeUpstream::start(|_, _| {
        Reply::status(302).header("location", "https://github.com/login/oauth/authorize?x=1")
    });
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let res = client()
        .post(p.url("/api/auth/signin/github"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers().get("location").unwrap(),
        "https://github.com/login/oauth/authorize?x=1"
    );
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn location_on_the_upstream_origin_becomes_the_public_origin() {
    let up = FakeUpstream::start(|req, _| {
        let own = format!("http://{}/dashboard?x=1", req.header("host").unwrap());
        Reply::status(302).header("location", &own)
    });
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let res = client()
        .get(p.url("/api/auth/callback/github"))
        .insert_header(("host", "app.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("location").unwrap(),
        "http://app.example.com/dashboard?x=1"
    );
}

#[actix_web::test]
async fn location_under_the_target_path_moves_under_the_local_path() {
    let up = FakeUpstream::start(|req, _| {
        let host = req.header("host").unwrap();
        let loc = if req.path_and_query.contains("signout") {
            "/api/auth/signin?error=x".to_owned()
        } else {
            format!("http://{host}/api/auth/error?error=Configuration")
        };
        Reply::status(302).header("location", &loc)
    });
    let mut o = options(&up.url());
    o.local_base_path = "/auth".into();
    o.target_base_path = Some("/api/auth".into());
    let p = TestProxy::start(Some(o)).await;
    let res = client()
        .get(p.url("/auth/signin"))
        .insert_header(("host", "app.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("location").unwrap(),
        "http://app.example.com/auth/error?error=Configuration"
    );
    let res = client().post(p.url("/auth/signout")).send().await.unwrap();
    assert_eq!(
        res.headers().get("location").unwrap(),
        "/auth/signin?error=x"
    );
}

#[actix_web::test]
async fn foreign_locations_are_untouched() {
    let up = FakeUpstream::start(|_, _| {
        Reply::status(302).header("location", "https://elsewhere.example/api/auth/x")
    });
    let mut o = options(&up.url());
    o.local_base_path = "/auth".into();
    o.target_base_path = Some("/api/auth".into());
    let p = TestProxy::start(Some(o)).await;
    let res = p.get("/auth/signin").await;
    assert_eq!(
        res.headers().get("location").unwrap(),
        "https://elsewhere.example/api/auth/x"
    );
}

#[actix_web::test]
async fn body_over_the_limit_gets_413_and_is_not_forwarded() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.max_body_bytes = 1024;
    let p = TestProxy::start(Some(o)).await;
    let mut res = client()
        .post(p.url("/api/auth/callback/credentials"))
        .send_body("x".repeat(4096))
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(body_json(&mut res).await["error"], "request body too large");
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn streamed_body_over_the_limit_gets_413() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.max_body_bytes = 1024;
    let p = TestProxy::start(Some(o)).await;
    let chunks = futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(web::Bytes::from(vec![b'x'; 512]))),
    );
    let res = client()
        .post(p.url("/api/auth/callback/credentials"))
        .send_stream(chunks)
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn get_is_retried_until_a_refused_upstream_comes_up() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut o = options(&format!("http://{addr}"));
    o.retry.max_attempts = 20;
    o.retry.initial_backoff_ms = 20;
    o.retry.max_backoff_ms = 40;
    o.retry.jitter = false;
    // Retries alone: with the breaker on, five refusals in a row open the circuit.
    o.circuit_breaker.consecutive_failures = 0;
    let p = TestProxy::start(Some(o)).await;
    let late_start = async {
        actix_rt::time::sleep(Duration::from_millis(150)).await;
        FakeUpstream::start_on(TcpListener::bind(addr).unwrap(), |_, _| Reply::json("null"))
    };
    let request = client().get(p.url("/api/auth/session")).send();
    let (res, up) = futures_util::join!(request, late_start);
    assert_eq!(res.unwrap().status(), 200);
    assert_eq!(up.count(), 1, "refused attempts never reached the upstream");
}

#[actix_web::test]
async fn unreachable_upstream_gives_502_with_a_json_error() {
    let o = options(&format!("http://127.0.0.1:{}", closed_port()));
    let p = TestProxy::start(Some(o)).await;
    let mut res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 502);
    assert_eq!(
        body_json(&mut res).await,
        serde_json::json!({"error": "auth upstream unreachable"})
    );
}

#[actix_web::test]
async fn get_is_retried_on_503_until_it_succeeds() {
    let up = FakeUpstream::start(|_, n| {
        if n < 2 {
            Reply::status(503)
        } else {
            Reply::json("null")
        }
    });
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 200);
    assert_eq!(up.count(), 3);
}

#[actix_web::test]
async fn get_gives_the_last_503_when_retries_run_out() {
    let up = FakeUpstream::start(|_, _| Reply::status(503).body("busy"));
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let mut res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 503);
    assert_eq!(&res.body().await.unwrap()[..], b"busy");
    assert_eq!(up.count(), 3, "max_attempts = 3");
}

#[actix_web::test]
async fn post_that_reached_the_upstream_is_never_sent_twice() {
    let up = FakeUpstream::start(|_, _| Reply::status(503));
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let res = client()
        .post(p.url("/api/auth/callback/credentials"))
        .send_body("a=1")
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn post_timing_out_is_not_retried() {
    let up = FakeUpstream::start(|_, _| Reply::status(200).delay(Duration::from_millis(800)));
    let mut o = options(&up.url());
    o.timeouts.per_try_ms = 200;
    let p = TestProxy::start(Some(o)).await;
    let res = client()
        .post(p.url("/api/auth/signout"))
        .send_body("a=1")
        .await
        .unwrap();
    assert_eq!(res.status(), 504);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn passing_the_deadline_gives_504() {
    let up = FakeUpstream::start(|_, _| Reply::status(200).delay(Duration::from_millis(1500)));
    let mut o = options(&up.url());
    o.timeouts.per_try_ms = 1000;
    o.timeouts.request_ms = 300;
    let p = TestProxy::start(Some(o)).await;
    let mut res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 504);
    assert_eq!(
        body_json(&mut res).await,
        serde_json::json!({"error": "auth upstream timed out"})
    );
}

#[actix_web::test]
async fn unconfigured_runtime_answers_503() {
    let p = TestProxy::start(None).await;
    let mut res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        body_json(&mut res).await,
        serde_json::json!({"error": "auth proxy runtime is not configured"})
    );
}

#[actix_web::test]
async fn reconfigure_sends_traffic_to_the_new_upstream() {
    let first = FakeUpstream::ok();
    let second = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&first.url()))).await;
    p.get("/api/auth/csrf").await;
    let generation = p.proxy.configure(options(&second.url())).await.unwrap();
    assert_eq!(generation, 2);
    p.get("/api/auth/csrf").await;
    assert_eq!((first.count(), second.count()), (1, 1));
}

#[actix_web::test]
async fn reconfigure_can_move_the_local_base_path() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let mut o = options(&up.url());
    o.local_base_path = "/auth".into();
    o.target_base_path = Some("/api/auth".into());
    p.proxy.configure(o).await.unwrap();
    assert_eq!(p.get("/auth/csrf").await.status(), 200);
    assert_eq!(p.get("/api/auth/csrf").await.status(), 404);
}

#[actix_web::test]
async fn invalid_reconfigure_is_refused_and_the_old_config_keeps_serving() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let mut bad = options("not a url");
    bad.retry.max_attempts = 3;
    let err = p.proxy.configure(bad).await.unwrap_err();
    assert_eq!(err.field, "base_url");
    let res = p.get("/api/auth/csrf").await;
    assert_eq!(res.status(), 200);
    assert_eq!(up.count(), 1);
    assert_eq!(p.proxy.config().unwrap().generation, 1);
}

const ATTACKS: [&str; 14] = [
    "/api/auth/callback/..",
    "/api/auth/callback/%2e%2e",
    "/api/auth/callback/%2E%2E/%2E%2E/admin",
    "/api/auth/signin/.",
    "/api/auth/../admin",
    "/api/auth/%2e%2e/admin",
    "/api/auth//evil.example/x",
    "/api/auth/callback//evil.example",
    "/api/auth/callback/%2F%2Fevil.example",
    "/api/auth/callback/a%2Fb",
    "/api/auth/callback/user@evil.example",
    "/api/auth/callback/%40evil.example",
    "/api/auth/callback/%5C%5Cevil.example",
    "/api/auth/callback/a\\b",
];

async fn attacks_never_leave_the_target_path(target: &str) {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.target_base_path = Some(target.into());
    let p = TestProxy::start(Some(o)).await;
    for path in ATTACKS {
        let status = raw_status(p.addr, "GET", path).await;
        assert!(status == 400 || status == 404, "{path} answered {status}");
    }
    let status = raw_status(p.addr, "GET", "http://evil.example/api/auth/session").await;
    assert!(status != 0);
    for rec in up.records() {
        let prefix = if target == "/" {
            "/session"
        } else {
            "/api/auth/session"
        };
        assert_eq!(
            rec.path_and_query, prefix,
            "only the absolute-form session request may arrive"
        );
    }
}

#[actix_web::test]
async fn traversal_and_authority_attacks_never_reach_another_path() {
    attacks_never_leave_the_target_path("/api/auth").await;
}

#[actix_web::test]
async fn traversal_attacks_are_refused_with_a_root_target_path() {
    attacks_never_leave_the_target_path("/").await;
}

#[actix_web::test]
async fn embedded_app_serves_its_own_routes_beside_the_auth_routes() {
    let up = FakeUpstream::ok();
    let proxy = authjs_proxy::AuthProxy::start();
    proxy.configure(options(&up.url())).await.unwrap();
    let p = TestProxy::serve(proxy, |cfg| {
        cfg.route(
            "/hello",
            web::get().to(|| async { HttpResponse::Ok().body("hi") }),
        )
        .route(
            "/api/other",
            web::get().to(|| async { HttpResponse::Ok().body("other") }),
        );
    });
    let mut res = p.get("/hello").await;
    assert_eq!(&res.body().await.unwrap()[..], b"hi");
    let mut res = p.get("/api/other").await;
    assert_eq!(&res.body().await.unwrap()[..], b"other");
    let res = p.get("/nowhere").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(p.get("/api/auth/csrf").await.status(), 200);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn response_body_is_relayed_byte_for_byte() {
    let up = FakeUpstream::start(|_, _| {
        Reply::json(r#"{"user":{"name":"Ada"},"expires":"2026-12-27T00:00:00.000Z"}"#)
    });
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let mut res = p.get("/api/auth/session").await;
    let body = res.body().await.unwrap();
    assert_eq!(
        &body[..],
        br#"{"user":{"name":"Ada"},"expires":"2026-12-27T00:00:00.000Z"}"#
    );
}

#[actix_web::test]
async fn app_routes_registered_after_the_auth_routes_still_answer() {
    let up = FakeUpstream::ok();
    let proxy = authjs_proxy::AuthProxy::start();
    proxy.configure(options(&up.url())).await.unwrap();
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .configure(authjs_proxy::configure(proxy))
            .route(
                "/after",
                web::get().to(|| async { HttpResponse::Ok().body("after") }),
            ),
    )
    .await;
    let req = actix_web::test::TestRequest::get()
        .uri("/after")
        .to_request();
    let body = actix_web::test::call_and_read_body(&app, req).await;
    assert_eq!(&body[..], b"after");
    let req = actix_web::test::TestRequest::get()
        .uri("/api/auth/csrf")
        .to_request();
    assert_eq!(actix_web::test::call_service(&app, req).await.status(), 200);
    assert_eq!(up.count(), 1);
}

/// An upstream answering 503 with `Retry-After: retry_after` once, then 200; the proxy's
/// status and what the upstream received.
async fn first_503_then_ok(retry_after: &'static str, max_backoff_ms: u64) -> (u16, Vec<Recorded>) {
    let up = FakeUpstream::start(move |_, n| {
        if n == 0 {
            Reply::status(503).header("retry-after", retry_after)
        } else {
            Reply::json("null")
        }
    });
    let mut o = options(&up.url());
    o.retry.max_backoff_ms = max_backoff_ms;
    let p = TestProxy::start(Some(o)).await;
    let res = p.get("/api/auth/session").await;
    (res.status().as_u16(), up.records())
}

#[actix_web::test]
async fn retry_after_on_503_delays_the_next_attempt() {
    let (status, recs) = first_503_then_ok("1", 1500).await;
    assert_eq!(status, 200);
    assert_eq!(recs.len(), 2);
    assert!(
        recs[1].at - recs[0].at >= Duration::from_millis(1000),
        "Retry-After: 1 was not honoured"
    );
}

#[actix_web::test]
async fn configure_message_sent_to_the_runtime_actor_replaces_the_configuration() {
    use authjs_proxy::actors::runtime::{Configure, CurrentConfig};
    let first = FakeUpstream::ok();
    let second = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&first.url()))).await;
    let runtime = p.proxy.runtime();
    let generation = runtime
        .send(Configure(options(&second.url())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(generation, 2);
    let current = runtime.send(CurrentConfig).await.unwrap().unwrap();
    assert_eq!(current.upstream.origin, second.url());
    p.get("/api/auth/csrf").await;
    assert_eq!((first.count(), second.count()), (0, 1));
}

#[actix_web::test]
async fn the_upstream_gets_its_own_authority_as_host_unless_the_host_is_preserved() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let res = client()
        .get(p.url("/api/auth/csrf"))
        .insert_header(("host", "app.public.test"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let authority = up.url().trim_start_matches("http://").to_owned();
    assert_eq!(
        up.last().header("host").as_deref(),
        Some(authority.as_str())
    );
    assert_eq!(
        up.last().header("x-forwarded-host").as_deref(),
        Some("app.public.test")
    );

    let mut o = options(&up.url());
    o.preserve_host = true;
    let kept = TestProxy::start(Some(o)).await;
    client()
        .get(kept.url("/api/auth/csrf"))
        .insert_header(("host", "app.public.test"))
        .send()
        .await
        .unwrap();
    assert_eq!(up.last().header("host").as_deref(), Some("app.public.test"));
}
