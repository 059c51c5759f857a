//! What the proxy trusts from a client, and what it never lets through: forwarding headers,
//! `Host`, public URLs, HEAD on consuming routes, `Location` rewriting, slow bodies.

mod common;

use std::time::Duration;

use actix_web::http::Method;
use common::*;

/// `GET path` with extra headers; the proxy's status.
async fn get_with(p: &TestProxy, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut req = client().get(p.url(path));
    for (n, v) in headers {
        req = req.insert_header((*n, *v));
    }
    req.send().await.unwrap().status().as_u16()
}

#[actix_web::test]
async fn untrusted_forwarding_headers_never_reach_the_upstream() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.trusted_proxies = vec!["10.0.0.0/8".into()]; // the test client is not a trusted peer
    let p = TestProxy::start(Some(o)).await;
    let sent = [
        ("forwarded", "for=6.6.6.6;proto=https;host=evil.example"),
        ("x-real-ip", "6.6.6.6"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/evil"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-http-method-override", "DELETE"),
        ("x-forwarded-for", "6.6.6.6"),
    ];
    assert_eq!(get_with(&p, "/api/auth/session", &sent).await, 200);
    let rec = up.last();
    for (name, _) in &sent[..7] {
        assert_eq!(rec.header(name), None, "{name} was forwarded");
    }
    assert_eq!(rec.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
}

#[actix_web::test]
async fn method_and_url_overrides_are_never_forwarded_even_from_a_trusted_peer() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await; // loopback: trusted by default
    let sent = [
        ("x-http-method-override", "DELETE"),
        ("x-http-method", "DELETE"),
        ("x-method-override", "DELETE"),
        ("x-original-method", "DELETE"),
        ("x-rewrite-url", "/admin"),
    ];
    assert_eq!(get_with(&p, "/api/auth/session", &sent).await, 200);
    let rec = up.last();
    for (name, _) in &sent {
        assert_eq!(rec.header(name), None, "{name} was forwarded");
    }
}

#[actix_web::test]
async fn a_peer_outside_the_trust_list_cannot_describe_the_original_request() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.trusted_proxies = vec!["10.0.0.0/8".into()];
    let p = TestProxy::start(Some(o)).await;
    let sent = [
        ("x-forwarded-uri", "/admin"),
        ("x-forwarded-method", "DELETE"),
        ("x-original-url", "/admin"),
    ];
    assert_eq!(get_with(&p, "/api/auth/session", &sent).await, 200);
    let rec = up.last();
    for (name, _) in &sent {
        assert_eq!(rec.header(name), None, "{name} was forwarded");
    }
}

#[actix_web::test]
async fn a_trusted_peer_s_forwarded_proto_is_read_like_every_proxy_reads_it() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await; // loopback: trusted by default
    let sent = [
        ("x-forwarded-proto", "HTTPS"),
        ("x-forwarded-uri", "/reports"),
    ];
    assert_eq!(get_with(&p, "/api/auth/session", &sent).await, 200);
    let rec = up.last();
    assert_eq!(rec.header("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(rec.header("x-forwarded-uri").as_deref(), Some("/reports"));
}

#[actix_web::test]
async fn trusted_forwarding_uses_the_element_the_trusted_proxy_appended() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.trust_forwarded = true;
    let p = TestProxy::start(Some(o)).await;
    let headers = [
        ("x-forwarded-proto", "http, https"),
        ("x-forwarded-host", "evil.example, app.example.com"),
        ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
    ];
    assert_eq!(get_with(&p, "/api/auth/session", &headers).await, 200);
    let rec = up.last();
    assert_eq!(rec.header("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(
        rec.header("x-forwarded-host").as_deref(),
        Some("app.example.com")
    );
    assert_eq!(
        rec.header("x-forwarded-for").as_deref(),
        Some("6.6.6.6, 203.0.113.7, 127.0.0.1")
    );
}

#[actix_web::test]
async fn public_url_pins_host_and_proto_whatever_the_client_says() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.public_url = Some("https://app.example.com".into());
    o.preserve_host = true;
    let p = TestProxy::start(Some(o)).await;
    let res = client()
        .post(p.url("/api/auth/signin/email"))
        .insert_header(("host", "evil.example"))
        .insert_header(("x-forwarded-host", "evil.example"))
        .insert_header(("x-forwarded-proto", "http"))
        .send_body("email=victim%40example.com")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rec = up.last();
    assert_eq!(rec.header("host").as_deref(), Some("app.example.com"));
    assert_eq!(
        rec.header("x-forwarded-host").as_deref(),
        Some("app.example.com")
    );
    assert_eq!(rec.header("x-forwarded-proto").as_deref(), Some("https"));
}

#[actix_web::test]
async fn public_url_is_the_origin_of_rewritten_locations() {
    // A Location on the upstream's own origin (as Auth.js builds it from the Host it got).
    let up = FakeUpstream::start(|req, _| {
        let origin = format!("http://{}", req.header("host").unwrap());
        Reply::status(302).header("location", &format!("{origin}/api/auth/error?error=x"))
    });
    let mut o = options(&up.url());
    o.public_url = Some("https://app.example.com".into());
    let p = TestProxy::start(Some(o)).await;
    let res = client()
        .get(p.url("/api/auth/signin"))
        .insert_header(("host", "evil.example"))
        .send()
        .await
        .unwrap();
    let location = res.headers().get("location").unwrap().to_str().unwrap();
    assert_eq!(location, "https://app.example.com/api/auth/error?error=x");
}

#[actix_web::test]
async fn invalid_host_values_get_400_and_are_not_forwarded() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    for host in [
        "evil.example#",
        "u@evil.example",
        "a b",
        "",
        "evil.example/x",
        "h:port",
    ] {
        let request =
            format!("GET /api/auth/signin HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let answer = raw(p.addr, &request).await;
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "Host {host:?}: {answer}"
        );
    }
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn absolute_form_target_authority_wins_over_host() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.preserve_host = true;
    let p = TestProxy::start(Some(o)).await;
    let request = "GET http://app.example.com/api/auth/session HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
    let answer = raw(p.addr, request).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(up.last().header("host").as_deref(), Some("app.example.com"));
}

#[actix_web::test]
async fn header_names_with_underscores_are_not_forwarded() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    assert_eq!(
        get_with(
            &p,
            "/api/auth/session",
            &[("x_user", "admin"), ("x-ok", "1")]
        )
        .await,
        200
    );
    assert_eq!(up.last().header("x_user"), None);
    assert_eq!(up.last().header("x-ok").as_deref(), Some("1"));
}

#[actix_web::test]
async fn percent_encoded_action_is_not_the_action() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    assert_eq!(raw_status(p.addr, "GET", "/api/auth/%73ession").await, 404);
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn head_on_a_callback_gets_405_and_never_reaches_the_upstream() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    for route in ["callback/email?token=t&email=a", "signin/github"] {
        let res = client()
            .head(p.url(&format!("/api/auth/{route}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{route}");
        assert_eq!(res.headers().get("allow").unwrap(), "GET, POST");
    }
    assert_eq!(up.count(), 0, "a link scanner's HEAD spends no magic link");
}

#[actix_web::test]
async fn head_is_answered_on_side_effect_free_routes() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(options(&up.url()))).await;
    for route in [
        "providers",
        "session",
        "csrf",
        "signin",
        "signout",
        "error",
        "verify-request",
        "webauthn-options/passkey",
    ] {
        let res = client()
            .head(p.url(&format!("/api/auth/{route}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{route}");
        assert_eq!(up.last().method, Method::GET);
    }
}

#[actix_web::test]
async fn app_redirects_stay_where_they_are_with_a_root_target_path() {
    let up = FakeUpstream::start(|req, _| {
        let to = if req.path_and_query.contains("signout") {
            "/dashboard"
        } else {
            "/error?error=Configuration"
        };
        Reply::status(302).header("location", to)
    });
    let mut o = options(&up.url());
    o.target_base_path = Some("/".into());
    let p = TestProxy::start(Some(o)).await;
    let res = client()
        .post(p.url("/api/auth/signout"))
        .send_body("csrfToken=x")
        .await
        .unwrap();
    assert_eq!(res.headers().get("location").unwrap(), "/dashboard");
    let res = p.get("/api/auth/signin").await;
    assert_eq!(
        res.headers().get("location").unwrap(),
        "/api/auth/error?error=Configuration"
    );
}

#[actix_web::test]
async fn a_client_that_stops_sending_its_body_gets_408_while_others_are_served() {
    let up = FakeUpstream::ok();
    let mut o = options(&up.url());
    o.timeouts.client_body_ms = 300;
    let p = TestProxy::start(Some(o)).await;
    let stalled = raw(
        p.addr,
        "POST /api/auth/signout HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 1000\r\n\r\nx",
    );
    let others = async {
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        p.get("/api/auth/csrf").await.status().as_u16()
    };
    let (answer, other) = futures_util::join!(stalled, others);
    assert_eq!(other, 200);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(up.count(), 1, "only the other request reached the upstream");
}
