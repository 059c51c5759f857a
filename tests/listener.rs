//! The service's own listener (issue #8): a request head whose lines end in a bare LF is
//! refused with 400 before anything reaches Auth.js, while bodies holding LF bytes and
//! well-formed requests on the same connection are served. Runs the binary on loopback.

mod common;

use common::service::*;
use common::*;
use std::io::Write;
use std::time::Duration;

/// The binary serving `up`, ready; its listen address.
async fn service(up: &FakeUpstream, name: &str) -> (Running, std::net::SocketAddr) {
    service_with(up, name, "").await
}

/// [`service`] with `extra` TOML in its configuration.
async fn service_with(
    up: &FakeUpstream,
    name: &str,
    extra: &str,
) -> (Running, std::net::SocketAddr) {
    let listen = local();
    // The file is read once at start (these tests send no SIGHUP): it goes once the service
    // answers.
    let dir = Scratch::new(&format!("listener-{name}"));
    let path = dir.write("c.toml", &config(&listen, &up.url(), extra));
    let running = Running::start(&path, &[]);
    assert!(answers(&client(), &format!("http://{listen}/healthz"), 200).await);
    (running, listen.parse().unwrap())
}

/// The status codes of the answers in `text`, in order.
fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

#[actix_web::test]
async fn a_head_with_bare_lf_line_endings_gets_400_and_never_reaches_the_upstream() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "bare").await;
    let answer = raw(
        addr,
        "GET /api/auth/session HTTP/1.1\nHost: proxy.test\nConnection: close\n\n",
    )
    .await;
    assert_eq!(statuses(&answer), [400], "{answer:?}");
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn a_bare_lf_inside_a_header_line_cannot_smuggle_another_header() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "smuggle").await;
    let answer = raw(
        addr,
        "GET /api/auth/session HTTP/1.1\r\nHost: proxy.test\r\nX-Note: a\n\
         Cookie: authjs.session-token=planted\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), [400], "{answer:?}");
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn well_formed_requests_pipelined_on_one_connection_are_all_answered() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "pipelined").await;
    let answer = raw(
        addr,
        "GET /api/auth/csrf HTTP/1.1\r\nHost: proxy.test\r\n\r\n\
         GET /api/auth/providers HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), [200, 200], "{answer:?}");
    assert_eq!(up.count(), 2);
}

#[actix_web::test]
async fn a_body_holding_lf_bytes_is_forwarded_intact_and_the_next_head_is_still_checked() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "body").await;
    let answer = raw(
        addr,
        "POST /api/auth/signout HTTP/1.1\r\nHost: proxy.test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\n\
         a=1\n\nb=2\
         GET /api/auth/session HTTP/1.1\nHost: proxy.test\n\n",
    )
    .await;
    assert_eq!(statuses(&answer), [200, 400], "{answer:?}");
    assert_eq!(up.count(), 1);
    assert_eq!(up.last().body, "a=1\n\nb=2".as_bytes());
}

#[actix_web::test]
async fn a_chunked_body_holding_lf_bytes_is_forwarded_intact() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "chunked").await;
    let answer = raw(
        addr,
        "POST /api/auth/signout HTTP/1.1\r\nHost: proxy.test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
         4\r\na=1\n\r\n3\r\nb=2\r\n0\r\n\r\n\
         GET /api/auth/csrf HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), [200, 200], "{answer:?}");
    assert_eq!(up.count(), 2);
    assert_eq!(up.records()[0].body, "a=1\nb=2".as_bytes());
}

#[actix_web::test]
async fn a_bare_lf_in_a_chunked_trailer_cannot_switch_the_check_off() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "trailer").await;
    let answer = raw(
        addr,
        "POST /api/auth/signout HTTP/1.1\r\nHost: proxy.test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\nX\n\r\n\r\n\
         GET /api/auth/session HTTP/1.1\r\nHost: proxy.test\r\nX-Note: a\n\
         Cookie: authjs.session-token=planted\r\n\r\n\
         GET /api/auth/csrf HTTP/1.1\nHost: proxy.test\n\n",
    )
    .await;
    assert_eq!(statuses(&answer), [200, 400], "{answer:?}");
    assert_eq!(up.count(), 1);
    assert_eq!(up.last().path_and_query, "/api/auth/signout");
}

#[actix_web::test]
async fn a_head_inside_a_chunked_trailer_is_not_taken_for_a_request() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "trailer-head").await;
    let answer = raw(
        addr,
        "POST /api/auth/signout HTTP/1.1\r\nHost: proxy.test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\na=1\r\n0\r\nX: a\n\nGET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 70\r\n\r\n\
         GET /api/auth/session?smuggled=2 HTTP/1.1\nHost: proxy.test\nX-Evil: 2\n\n",
    )
    .await;
    assert_eq!(statuses(&answer), [200, 400], "{answer:?}");
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn a_head_longer_than_the_listener_follows_is_refused_with_what_follows_it() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "long").await;
    let big = format!(
        "GET /api/auth/csrf HTTP/1.1\r\nHost: proxy.test\r\nX-Big: {}\r\n\r\n\
         GET /api/auth/session?smuggled=3 HTTP/1.1\nHost: proxy.test\n\n",
        "a".repeat(131_072)
    );
    let answer = raw(addr, &big).await;
    let got = statuses(&answer);
    assert!(got.iter().all(|s| *s >= 400), "{answer:?}");
    assert_eq!(up.count(), 0);
}

/// Reads `s` (after `got`) until the service closes it or 20 s pass without a byte; answers
/// all that was read and whether the service closed the connection.
fn read_until_closed(s: &mut std::net::TcpStream, mut got: Vec<u8>) -> (String, bool) {
    use std::io::Read;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// On a new connection: one whole request, its answer read, then `then` written; answers
/// everything read afterwards and whether the service closed the connection (20 s bound).
async fn after_one_request(addr: std::net::SocketAddr, then: &'static [u8]) -> (String, bool) {
    use std::io::{Read, Write};
    actix_rt::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        s.write_all(b"GET /api/auth/csrf HTTP/1.1\r\nHost: proxy.test\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // The first answer, whole, before anything else is sent.
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n{") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed before answering");
            got.extend_from_slice(&buf[..n]);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        s.write_all(then).unwrap();
        read_until_closed(&mut s, got)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_later_head_left_incomplete_on_a_kept_alive_connection_is_closed() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "stalled").await;
    let (answers, closed) = after_one_request(addr, b"GET /api/auth/csrf HTTP/1.1\r\nHo").await;
    assert!(
        closed,
        "the connection stayed open; answers so far: {answers:?}"
    );
    assert_eq!(statuses(&answers), [200]);
}

#[actix_web::test]
async fn blank_lines_after_a_request_do_not_hold_the_connection_open() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "blank").await;
    let (answers, closed) = after_one_request(addr, b"\r\n").await;
    assert!(
        closed,
        "the connection stayed open; answers so far: {answers:?}"
    );
    assert_eq!(statuses(&answers), [200]);
}

#[actix_web::test]
async fn each_pipelined_head_gets_its_own_deadline() {
    use std::io::{Read, Write};
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "rearm").await;
    let answers = actix_rt::task::spawn_blocking(move || {
        let pause = |ms| std::thread::sleep(std::time::Duration::from_millis(ms));
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        s.write_all(b"GET /api/auth/csrf HTTP/1.1\r\nHost: p")
            .unwrap();
        pause(3_000);
        // Ends the first head (3 s in) and starts the second.
        s.write_all(b"roxy.test\r\n\r\nGET /api/auth/csrf?second=1 HTTP/1.1\r\nHo")
            .unwrap();
        pause(4_500);
        // 7.5 s after the first head began, 4.5 s after the second did.
        s.write_all(b"st: proxy.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    })
    .await
    .unwrap();
    assert_eq!(statuses(&answers), [200, 200], "{answers:?}");
    assert_eq!(up.last().path_and_query, "/api/auth/csrf?second=1");
}

#[actix_web::test]
async fn a_chunked_body_that_stalls_gets_408_and_its_connection_closed() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service_with(
        &up,
        "stalled-body",
        "[proxy.timeouts]\nclient_body_ms = 1000\n",
    )
    .await;
    let (answer, closed) = actix_rt::task::spawn_blocking(move || {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(
            b"POST /api/auth/signout HTTP/1.1\r\nHost: proxy.test\r\n\
              Transfer-Encoding: chunked\r\n\r\n5\r\nab",
        )
        .unwrap();
        read_until_closed(&mut s, Vec::new())
    })
    .await
    .unwrap();
    assert_eq!(statuses(&answer), [408], "{answer:?}");
    assert!(closed, "the connection stayed open after the 408");
    assert_eq!(up.count(), 0);
}

#[actix_web::test]
async fn a_client_that_hangs_up_gives_back_its_upstream_slot() {
    // The first two requests stall at the upstream; the third is answered at once.
    let up = FakeUpstream::start(|_, n| {
        let reply = Reply::json(r#"{"ok":true}"#);
        if n < 2 {
            reply.delay(Duration::from_secs(8))
        } else {
            reply
        }
    });
    let (_running, addr) = service_with(
        &up,
        "hang-up",
        "[proxy.upstream]\nmax_in_flight = 2\n[proxy.retry]\nmax_attempts = 1\n",
    )
    .await;
    let hung_up = actix_rt::task::spawn_blocking(move || {
        let mut clients = Vec::new();
        for _ in 0..2 {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /api/auth/csrf HTTP/1.1\r\nHost: proxy.test\r\n\r\n")
                .unwrap();
            clients.push(s);
        }
        clients
    })
    .await
    .unwrap();
    // Both stalled requests hold a slot at the upstream; then their clients go away.
    for _ in 0..100 {
        if up.count() == 2 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(up.count(), 2);
    drop(hung_up);
    actix_rt::time::sleep(Duration::from_millis(300)).await;

    let answer = raw(
        addr,
        "GET /api/auth/providers HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), [200], "{answer:?}");
}

#[actix_web::test]
async fn a_client_that_half_closes_after_its_request_still_gets_an_answer_that_is_ready() {
    let up = FakeUpstream::ok();
    let (_running, addr) = service(&up, "half-close").await;
    let answer = actix_rt::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: proxy.test\r\n\r\n")
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut got);
        String::from_utf8_lossy(&got).into_owned()
    })
    .await
    .unwrap();
    assert_eq!(statuses(&answer), [200], "{answer:?}");
}
