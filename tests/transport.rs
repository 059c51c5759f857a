//! Retries that keep their promise, against raw-socket upstreams that fail at every point of
//! an HTTP/1.1 exchange.

mod common;

use std::time::{Duration, Instant};

use common::raw::{Act, RawUpstream, response};
use common::*;

fn quick(upstream: &str) -> authjs_proxy::config::ProxyOptions {
    let mut o = options(upstream);
    o.retry.jitter = false;
    o
}

async fn post(p: &TestProxy, route: &str) -> u16 {
    client()
        .post(p.url(route))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .send_body("csrfToken=abc&email=ada%40example.com")
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn retry_after_zero_never_exceeds_max_attempts() {
    let up = FakeUpstream::start(|_, _| Reply::status(503).header("retry-after", "0"));
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    let res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 503);
    assert_eq!(up.count(), 3, "max_attempts = 3, whatever Retry-After says");
}

#[actix_web::test]
async fn retry_after_beyond_the_max_backoff_relays_the_answer_at_once() {
    let up = FakeUpstream::start(|_, _| Reply::status(503).header("retry-after", "3600"));
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    let res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers().get("retry-after").unwrap(), "3600");
    assert_eq!(up.count(), 1, "no early retry against the upstream's wish");
}

#[actix_web::test]
async fn post_whose_connection_closes_after_the_body_reaches_the_upstream_once() {
    let up = RawUpstream::start(|_, _| Act::CloseAfterBody);
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    assert_eq!(post(&p, "/api/auth/callback/credentials").await, 502);
    assert_eq!(
        up.count(),
        1,
        "a POST that may have been sent is never resent"
    );
}

#[actix_web::test]
async fn post_whose_connection_closes_after_the_head_reaches_the_upstream_once() {
    let up = RawUpstream::start(|_, _| Act::CloseAfterHead);
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    assert_eq!(post(&p, "/api/auth/signin/email").await, 502);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn get_whose_connection_closes_after_sending_is_retried() {
    let up = RawUpstream::start(|n, _| {
        if n == 0 {
            Act::CloseAfterBody
        } else {
            Act::Reply(response(200, "null"))
        }
    });
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    assert_eq!(p.get("/api/auth/session").await.status(), 200);
    assert_eq!(up.count(), 2);
}

#[actix_web::test]
async fn body_shorter_than_its_content_length_is_a_502_not_a_truncated_200() {
    let up = RawUpstream::start(|_, _| {
        Act::ReplyClose(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"user\":null}".to_vec())
    });
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    let res = client()
        .post(p.url("/api/auth/signout"))
        .send_body("a=1")
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn chunked_body_without_its_last_chunk_is_a_502() {
    let up = RawUpstream::start(|_, _| {
        Act::ReplyClose(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec(),
        )
    });
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    let res = client()
        .post(p.url("/api/auth/signout"))
        .send_body("a=1")
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn complete_chunked_body_is_relayed_whole() {
    let up = RawUpstream::start(|_, _| {
        Act::Reply(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                .to_vec(),
        )
    });
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    for _ in 0..2 {
        let mut res = p.get("/api/auth/csrf").await;
        assert_eq!(res.status(), 200);
        assert_eq!(&res.body().await.unwrap()[..], b"hello world");
    }
    assert_eq!(
        up.connections(),
        1,
        "the connection was reused after a complete body"
    );
}

#[actix_web::test]
async fn truncated_get_answer_is_retried_on_a_fresh_connection() {
    let up = RawUpstream::start(|n, _| {
        if n == 0 {
            Act::ReplyClose(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nnull".to_vec())
        } else {
            Act::Reply(response(200, "{\"user\":{\"name\":\"Ada\"}}"))
        }
    });
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    let mut res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        &res.body().await.unwrap()[..],
        b"{\"user\":{\"name\":\"Ada\"}}"
    );
}

fn interim_then(status_line: &str, body: &str) -> Vec<u8> {
    let mut out = format!("{status_line}\r\n\r\n").into_bytes();
    out.extend(response(200, body));
    out
}

#[actix_web::test]
async fn interim_answers_are_skipped_and_the_final_answer_relayed() {
    for interim in [
        "HTTP/1.1 100 Continue",
        "HTTP/1.1 102 Processing",
        "HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload",
    ] {
        let up = RawUpstream::start(move |_, _| Act::Reply(interim_then(interim, "{\"ok\":1}")));
        let p = TestProxy::start(Some(quick(&up.url()))).await;
        let mut res = p.get("/api/auth/session").await;
        assert_eq!(res.status(), 200, "{interim}");
        assert_eq!(&res.body().await.unwrap()[..], b"{\"ok\":1}", "{interim}");
        let status = client()
            .post(p.url("/api/auth/callback/credentials"))
            .send_body("a=1")
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{interim} before a POST's answer");
        assert_eq!(up.count(), 2, "{interim}: one attempt each");
    }
}

#[actix_web::test]
async fn a_connection_that_sent_an_interim_answer_is_never_reused_for_another_request() {
    // The final answer of the first exchange arrives late, after the interim one. Were the
    // connection pooled, the next request would read that answer as its own.
    let up = RawUpstream::start(|n, _| {
        if n == 0 {
            Act::ReplyInTwo(
                b"HTTP/1.1 103 Early Hints\r\n\r\n".to_vec(),
                Duration::from_millis(300),
                response(200, "{\"user\":{\"name\":\"first\"}}"),
            )
        } else {
            Act::Reply(response(200, "{\"user\":{\"name\":\"second\"}}"))
        }
    });
    let mut o = quick(&up.url());
    o.retry.max_attempts = 1;
    let p = TestProxy::start(Some(o)).await;
    let _ = p.get("/api/auth/csrf").await;
    actix_rt::time::sleep(Duration::from_millis(10)).await;
    let mut second = p.get("/api/auth/providers").await;
    assert_eq!(
        second.status(),
        200,
        "the second request got its own answer"
    );
    let body = second.body().await.unwrap();
    assert!(
        !String::from_utf8_lossy(&body).contains("first"),
        "another exchange's answer was relayed"
    );
}

#[actix_web::test]
async fn switching_protocols_is_an_error_not_an_answer() {
    let up = RawUpstream::start(|_, _| {
        Act::Reply(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n".to_vec())
    });
    let mut o = quick(&up.url());
    o.retry.max_attempts = 1;
    let p = TestProxy::start(Some(o)).await;
    assert_eq!(p.get("/api/auth/session").await.status(), 502);
}

#[actix_web::test]
async fn get_on_a_callback_is_not_retried_after_a_503() {
    let up = FakeUpstream::start(|_, _| Reply::status(503));
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    let res = p
        .get("/api/auth/callback/github?code=one-time&state=s")
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        up.count(),
        1,
        "one-time codes are spent by the first attempt"
    );
}

#[actix_web::test]
async fn get_on_a_callback_is_not_retried_after_the_connection_broke() {
    let up = RawUpstream::start(|_, _| Act::CloseAfterBody);
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    let res = p.get("/api/auth/callback/email?token=t&email=a").await;
    assert_eq!(res.status(), 502);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn get_on_a_callback_is_retried_while_nothing_was_sent() {
    let up = RawUpstream::accept_and_close();
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    let res = p.get("/api/auth/callback/github?code=c").await;
    assert_eq!(res.status(), 502);
    assert_eq!(up.count(), 0, "the upstream never read a request");
    assert!(
        up.connections() >= 1,
        "the proxy did try to connect ({} connections)",
        up.connections()
    );
}

#[actix_web::test]
async fn idle_upstream_connections_are_dropped_before_the_upstream_drops_them() {
    // The upstream closes connections idle for more than 300 ms as the next request arrives
    // (the race Node's 5 s keep-alive timeout causes). With `pool_idle_ms` below that, a POST
    // always gets a fresh connection.
    let up = RawUpstream::start(|_, req| match req.idle_before {
        Some(idle) if idle > Duration::from_millis(300) => Act::CloseAfterHead,
        _ => Act::Reply(response(200, "{}")),
    });
    let mut o = quick(&up.url());
    o.timeouts.pool_idle_ms = 100;
    let p = TestProxy::start(Some(o)).await;
    assert_eq!(post(&p, "/api/auth/signout").await, 200);
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(post(&p, "/api/auth/signout").await, 200);
}

#[actix_web::test]
async fn expect_100_continue_is_answered_locally_and_never_forwarded() {
    let up = FakeUpstream::ok();
    let p = TestProxy::start(Some(quick(&up.url()))).await;
    let res = client()
        .post(p.url("/api/auth/callback/credentials"))
        .insert_header(("expect", "100-continue"))
        .send_body("csrfToken=abc")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(up.count(), 1);
    assert_eq!(up.last().header("expect"), None);
    assert_eq!(&up.last().body[..], b"csrfToken=abc");
}

#[actix_web::test]
async fn a_silent_upstream_answers_within_the_deadline() {
    let up = RawUpstream::start(|_, _| Act::Silent);
    let mut o = quick(&up.url());
    o.timeouts.per_try_ms = 200;
    o.timeouts.request_ms = 600;
    let p = TestProxy::start(Some(o)).await;
    let started = Instant::now();
    let res = p.get("/api/auth/session").await;
    assert_eq!(res.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(up.count() <= 3);
}

/// Every failure point of an upstream exchange, for a GET that may be retried and a POST that
/// may not: the POST reaches the upstream at most once, no attempt count exceeds
/// `max_attempts`, and the client gets one complete answer or an error status in time.
#[actix_web::test]
async fn every_failure_point_keeps_the_retry_promises() {
    let cases: Vec<(&str, Option<Act>)> = vec![
        ("refuse", None),
        ("accept-and-close", None),
        ("close after the head", Some(Act::CloseAfterHead)),
        ("close after the body", Some(Act::CloseAfterBody)),
        (
            "close mid-head",
            Some(Act::ReplyClose(b"HTTP/1.1 200 OK\r\ncontent-le".to_vec())),
        ),
        (
            "close mid-body",
            Some(Act::ReplyClose(
                b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{\"us".to_vec(),
            )),
        ),
        (
            "close mid-chunk",
            Some(Act::ReplyClose(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\n{\"us".to_vec(),
            )),
        ),
        (
            "close after a 1xx",
            Some(Act::ReplyClose(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec())),
        ),
    ];
    for (name, act) in cases {
        for post in [false, true] {
            let (url, up) = match (name, &act) {
                ("refuse", _) => (format!("http://127.0.0.1:{}", closed_port()), None),
                (_, None) => {
                    let up = RawUpstream::accept_and_close();
                    (up.url(), Some(up))
                }
                (_, Some(act)) => {
                    let act = act.clone();
                    let up = RawUpstream::start(move |_, _| act.clone());
                    (up.url(), Some(up))
                }
            };
            let mut o = quick(&url);
            o.timeouts.request_ms = 2000;
            let p = TestProxy::start(Some(o)).await;
            let started = Instant::now();
            let (status, body) = if post {
                let mut res = client()
                    .post(p.url("/api/auth/callback/credentials"))
                    .send_body("csrfToken=x")
                    .await
                    .unwrap();
                (res.status().as_u16(), res.body().await.unwrap())
            } else {
                let mut res = p.get("/api/auth/session").await;
                (res.status().as_u16(), res.body().await.unwrap())
            };
            let what = format!("{name}, {}", if post { "POST" } else { "GET" });
            assert!(
                started.elapsed() < Duration::from_millis(2000 + 1500),
                "{what}: answered after the deadline"
            );
            assert!(
                (500..600).contains(&status),
                "{what}: a broken exchange must be an error, got {status}"
            );
            assert!(
                serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
                "{what}: the error body is complete JSON"
            );
            let received = up.as_ref().map_or(0, RawUpstream::count);
            if post {
                assert!(
                    received <= 1,
                    "{what}: the upstream got the POST {received} times"
                );
            } else {
                assert!(received <= 3, "{what}: {received} attempts > max_attempts");
            }
        }
    }
}
