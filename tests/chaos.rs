//! Chaos suite: the proxy in front of a fake upstream with a fault injector in between
//! (`common::chaos::Relay`). Each scenario is bounded and stops by itself; they assert counts
//! and outcomes. `figures` (ignored; `benches/chaos.sh`) measures the same scenarios.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderMap, HeaderValue};
use authjs_proxy::config::ProxyOptions;
use authjs_proxy::resilience::BreakerState;
use authjs_proxy::{AuthError, Scheme};
use common::chaos::{Fault, Relay};
use common::*;

/// An upstream answering sessions by cookie value, 200 JSON to everything else.
fn authjs_upstream(carol_signed_out: Arc<AtomicBool>) -> FakeUpstream {
    FakeUpstream::start(move |rec, _| {
        if !rec.path_and_query.ends_with("/session") {
            return Reply::json(r#"{"url":"http://app.test/"}"#);
        }
        let cookie = rec.header("cookie").unwrap_or_default();
        let user = ["alice", "bob", "carol"]
            .into_iter()
            .find(|u| cookie.contains(&format!("authjs.session-token={u}")));
        match user {
            Some("carol") if carol_signed_out.load(Ordering::SeqCst) => Reply::json("null"),
            Some(u) => Reply::json(&format!(
                r#"{{"user":{{"name":"{u}"}},"expires":"2099-01-01T00:00:00.000Z"}}"#
            )),
            None => Reply::json("null"),
        }
    })
}

fn through(relay: &Relay) -> ProxyOptions {
    let mut o = options(&relay.url());
    o.retry.jitter = false;
    o
}

async fn get(p: &TestProxy) -> (u16, Duration) {
    let t = Instant::now();
    let status = client()
        .get(p.url("/api/auth/session"))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    (status, t.elapsed())
}

async fn post(p: &TestProxy, id: usize) -> u16 {
    client()
        .post(p.url("/api/auth/signin/email"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .send_body(format!("id={id}"))
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// How many times the upstream received each POST body.
fn posts_received(up: &FakeUpstream) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in up.records().into_iter().filter(|r| r.method == "POST") {
        *seen
            .entry(String::from_utf8_lossy(&r.body).into_owned())
            .or_default() += 1;
    }
    seen
}

fn breaker(p: &TestProxy) -> BreakerState {
    p.proxy.upstream_health().unwrap().breaker
}

type Timed = Vec<(u16, Duration)>;

/// A steady stream of one GET and one POST every 10 ms for `rounds` rounds; the relay refuses
/// connections from `down_at` for `down_for`. Answers the GETs and the POSTs (by id).
async fn restart_stream(
    p: &TestProxy,
    relay: &Relay,
    rounds: usize,
    down_at: Duration,
    down_for: Duration,
) -> (Timed, Vec<(usize, u16)>) {
    let started = Instant::now();
    let mut gets = Vec::new();
    let mut posts = Vec::new();
    let (mut down, mut back) = (false, false);
    for i in 0..rounds {
        let t = started.elapsed();
        if !down && t >= down_at {
            relay.set(Fault::Refuse);
            down = true;
        }
        if down && !back && t >= down_at + down_for {
            relay.set(Fault::Pass);
            back = true;
        }
        let url = p.url("/api/auth/session");
        gets.push(actix_rt::spawn(async move {
            let t = Instant::now();
            let s = client()
                .get(url)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16());
            (s, t.elapsed())
        }));
        let url = p.url("/api/auth/signin/email");
        posts.push(actix_rt::spawn(async move {
            let s = client()
                .post(url)
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .send_body(format!("id={i}"))
                .await
                .map_or(0, |r| r.status().as_u16());
            (i, s)
        }));
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    if !back {
        relay.set(Fault::Pass);
    }
    let mut g = Vec::new();
    for t in gets {
        g.push(t.await.unwrap());
    }
    let mut q = Vec::new();
    for t in posts {
        q.push(t.await.unwrap());
    }
    (g, q)
}

/// `n` GETs of the session route, `concurrency` at a time.
async fn burst(p: &TestProxy, n: usize, concurrency: usize) -> Timed {
    let mut out = Vec::new();
    for _ in 0..n / concurrency {
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let url = p.url("/api/auth/session");
                actix_rt::spawn(async move {
                    let t = Instant::now();
                    let s = client()
                        .get(url)
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16());
                    (s, t.elapsed())
                })
            })
            .collect();
        for t in tasks {
            out.push(t.await.unwrap());
        }
    }
    out
}

#[actix_web::test]
async fn restart_every_get_succeeds_and_no_post_reaches_the_upstream_twice() {
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    let mut o = through(&relay);
    o.retry.max_attempts = 40;
    o.retry.max_backoff_ms = 40;
    // Riding out a 300 ms restart is the retries' job: this scenario keeps the breaker from
    // opening and gives the budget room, so every GET can wait for the upstream.
    o.circuit_breaker.consecutive_failures = 0;
    o.retry.min_per_second = 100_000;
    let p = TestProxy::start(Some(o.clone())).await;
    let (gets, posts) = restart_stream(
        &p,
        &relay,
        60,
        Duration::from_millis(150),
        Duration::from_millis(300),
    )
    .await;
    let deadline = Duration::from_millis(o.timeouts.request_ms);
    for (status, took) in &gets {
        assert_eq!(*status, 200, "every GET succeeds");
        assert!(*took < deadline + Duration::from_secs(1), "{took:?}");
    }
    let received = posts_received(&up);
    assert!(
        received.values().all(|&n| n == 1),
        "no POST reaches the upstream twice: {received:?}"
    );
    for (id, status) in posts {
        assert!(status == 200 || status == 502, "POST {id}: {status}");
        if status == 200 {
            assert_eq!(received.get(&format!("id={id}")), Some(&1), "POST {id}");
        }
    }
}

#[actix_web::test]
async fn blackhole_opens_the_breaker_then_fails_fast_and_in_flight_stays_bounded() {
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::Blackhole);
    let mut o = through(&relay);
    o.timeouts.per_try_ms = 300;
    o.timeouts.request_ms = 3000;
    o.upstream.max_in_flight = 4;
    o.circuit_breaker.open_ms = 60_000;
    let p = TestProxy::start(Some(o)).await;

    // 16 at once: 4 reach the (silent) upstream, 12 are shed.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let url = p.url("/api/auth/session");
            actix_rt::spawn(async move {
                let mut res = client().get(url).send().await.unwrap();
                let retry_after = res.headers().contains_key("retry-after");
                let body = res.body().await.unwrap();
                (res.status().as_u16(), retry_after, body)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let (status, retry_after, body) = t.await.unwrap();
        if status == 503 {
            assert!(retry_after, "a shed request says when to come back");
            assert_eq!(&body[..], br#"{"error":"auth upstream unavailable"}"#);
        }
        statuses.push(status);
    }
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    assert_eq!(count(503), 12, "{statuses:?}");
    assert_eq!(count(504), 4, "{statuses:?}");
    let health = p.proxy.upstream_health().unwrap();
    assert!(health.peak_in_flight <= 4, "{health:?}");
    assert_eq!(health.breaker, BreakerState::Open, "5 timeouts in a row");

    // Open: refused without touching the network.
    let connections = relay.accepted();
    for _ in 0..20 {
        let res = p.get("/api/auth/session").await;
        assert_eq!(res.status(), 503);
        assert!(res.headers().contains_key("retry-after"));
    }
    assert_eq!(relay.accepted(), connections, "no connection while open");
    assert_eq!(p.proxy.upstream_health().unwrap().in_flight, 0);
}

#[actix_web::test]
async fn storm_of_503s_is_not_multiplied_by_max_attempts() {
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::Storm503);
    let mut o = through(&relay);
    o.retry.max_attempts = 5;
    o.retry.initial_backoff_ms = 1;
    o.retry.max_backoff_ms = 5;
    // The budget alone (the breaker would stop the storm after 5 answers).
    o.circuit_breaker.consecutive_failures = 0;
    let (percent, min_per_second) = (o.retry.budget_percent, o.retry.min_per_second);
    let p = TestProxy::start(Some(o)).await;
    let started = Instant::now();
    let requests = 300;
    let results = burst(&p, requests, 10).await;
    assert!(results.iter().all(|r| r.0 == 503), "the 503 is relayed");
    let seconds = started.elapsed().as_secs_f64().ceil() as usize;
    let bound = requests + requests * percent as usize / 100 + min_per_second as usize * seconds;
    let seen = relay.stormed();
    assert!(seen >= requests, "{seen}");
    assert!(
        seen <= bound,
        "upstream saw {seen} requests for {requests} (bound {bound}; without a budget up to {})",
        requests * 5
    );
}

#[actix_web::test]
async fn storm_of_503s_opens_the_breaker_after_consecutive_failures() {
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::Storm503);
    let mut o = through(&relay);
    o.circuit_breaker.open_ms = 60_000;
    let p = TestProxy::start(Some(o)).await;
    for _ in 0..10 {
        assert_eq!(p.get("/api/auth/session").await.status(), 503);
    }
    // 3 attempts, then 2 more: the fifth failure opens the circuit and stops the retry.
    assert_eq!(relay.stormed(), 5);
    assert_eq!(breaker(&p), BreakerState::Open);
}

#[actix_web::test]
async fn client_errors_never_open_the_breaker() {
    let up = FakeUpstream::start(|_, _| Reply::status(400).body("bad request"));
    let relay = Relay::start(up.addr);
    let p = TestProxy::start(Some(through(&relay))).await;
    for _ in 0..20 {
        assert_eq!(get(&p).await.0, 400);
    }
    assert_eq!(up.count(), 20);
    assert_eq!(breaker(&p), BreakerState::Closed);
}

#[actix_web::test]
async fn cut_mid_response_post_is_sent_once_and_broken_exchanges_count() {
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::CutMidResponse);
    let mut o = through(&relay);
    o.circuit_breaker.open_ms = 60_000;
    let p = TestProxy::start(Some(o)).await;
    assert_eq!(post(&p, 1).await, 502);
    assert_eq!(posts_received(&up).get("id=1"), Some(&1));
    assert_eq!(get(&p).await.0, 502, "three broken attempts");
    assert_eq!(get(&p).await.0, 502, "one more opens the circuit");
    assert_eq!(up.count(), 1 + 3 + 1);
    assert_eq!(breaker(&p), BreakerState::Open);
    assert_eq!(get(&p).await.0, 503);
    assert_eq!(up.count(), 5, "nothing sent while open");
}

#[actix_web::test]
async fn slow_upstream_never_keeps_a_client_past_the_deadline() {
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::Delay(Duration::from_millis(600)));
    let mut o = through(&relay);
    o.timeouts.per_try_ms = 200;
    o.timeouts.request_ms = 700;
    let p = TestProxy::start(Some(o)).await;
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let url = p.url("/api/auth/session");
            let post_url = p.url("/api/auth/signin/email");
            actix_rt::spawn(async move {
                let t = Instant::now();
                let req = if i % 3 == 0 {
                    client()
                        .post(post_url)
                        .insert_header(("content-type", "application/x-www-form-urlencoded"))
                        .send_body(format!("id={i}"))
                        .await
                } else {
                    client().get(url).send().await
                };
                (req.map_or(0, |r| r.status().as_u16()), t.elapsed())
            })
        })
        .collect();
    for t in tasks {
        let (status, took) = t.await.unwrap();
        assert!(status == 504 || status == 503, "{status}");
        assert!(
            took < Duration::from_millis(700 + 800),
            "answered after {took:?}, deadline 700 ms"
        );
    }
    assert!(posts_received(&up).values().all(|&n| n == 1));
}

fn cookie(user: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        actix_web::http::header::COOKIE,
        HeaderValue::from_str(&format!("authjs.session-token={user}")).unwrap(),
    );
    h
}

async fn session_of(p: &TestProxy, user: &str) -> Result<Option<String>, AuthError> {
    p.proxy
        .get_server_session(&cookie(user), Scheme::Http)
        .await
        .map(|s| s.and_then(|s| s.user).and_then(|u| u.name))
}

#[actix_web::test]
async fn stale_sessions_answer_while_the_upstream_is_down_until_stale_if_error_ms() {
    let carol_signed_out = Arc::new(AtomicBool::new(false));
    let up = authjs_upstream(carol_signed_out.clone());
    let relay = Relay::start(up.addr);
    let mut o = through(&relay);
    o.session_cache.ttl_ms = 100;
    o.session_cache.negative_ttl_ms = 100;
    o.session_cache.stale_if_error_ms = 1500;
    let p = TestProxy::start(Some(o)).await;

    for user in ["alice", "bob", "carol"] {
        assert_eq!(session_of(&p, user).await, Ok(Some(user.into())));
    }
    // Bob signs out through the proxy; Carol's session ends upstream.
    let signout = client()
        .post(p.url("/api/auth/signout"))
        .insert_header(("cookie", "authjs.session-token=bob"))
        .send_body("csrfToken=x")
        .await
        .unwrap();
    assert_eq!(signout.status(), 200);
    carol_signed_out.store(true, Ordering::SeqCst);
    actix_rt::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(session_of(&p, "carol").await, Ok(None));

    relay.set(Fault::Refuse);
    actix_rt::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(session_of(&p, "alice").await, Ok(Some("alice".into())));
    assert_eq!(session_of(&p, "carol").await, Ok(None), "the newer answer");
    assert!(session_of(&p, "bob").await.is_err(), "signed out stays out");

    // Alice's stale copy answers until it is 1.5 s old, then errors; Bob never comes back.
    let (mut stale, mut errors) = (0, 0);
    for _ in 0..60 {
        match session_of(&p, "alice").await {
            Ok(Some(name)) => {
                assert_eq!(errors, 0, "no stale answer after it expired");
                assert_eq!(name, "alice");
                stale += 1;
            }
            Ok(None) => panic!("an error is never 'signed out'"),
            Err(_) => errors += 1,
        }
        assert!(session_of(&p, "bob").await.is_err());
        if errors >= 3 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stale >= 1 && errors >= 3, "stale {stale}, errors {errors}");
}

#[actix_web::test]
async fn recovery_closes_the_breaker_and_traffic_flows() {
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::Refuse);
    let mut o = through(&relay);
    o.circuit_breaker.open_ms = 200;
    let p = TestProxy::start(Some(o)).await;
    for _ in 0..2 {
        assert_eq!(get(&p).await.0, 502);
    }
    assert_eq!(breaker(&p), BreakerState::Open, "5 refused connections");

    // Still down when the circuit half-opens: the probe fails (one attempt) and it re-opens.
    let mut probe_failed = false;
    for _ in 0..100 {
        match get(&p).await.0 {
            503 => actix_rt::time::sleep(Duration::from_millis(20)).await,
            502 => {
                probe_failed = true;
                break;
            }
            other => panic!("{other}"),
        }
    }
    assert!(probe_failed);
    assert_eq!(breaker(&p), BreakerState::Open);

    relay.set(Fault::Pass);
    let mut recovered = false;
    for _ in 0..100 {
        match get(&p).await.0 {
            503 => actix_rt::time::sleep(Duration::from_millis(20)).await,
            200 => {
                recovered = true;
                break;
            }
            other => panic!("{other}"),
        }
    }
    assert!(recovered);
    for _ in 0..20 {
        assert_eq!(get(&p).await.0, 200);
    }
    assert_eq!(
        breaker(&p),
        BreakerState::Closed,
        "no stuck half-open state"
    );
}

#[actix_web::test]
async fn idle_connections_closed_by_the_upstream_are_not_reused() {
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::CloseIdle(Duration::from_millis(150)));
    let mut o = through(&relay);
    o.timeouts.pool_idle_ms = 50;
    let p = TestProxy::start(Some(o)).await;
    for i in 0..4 {
        assert_eq!(get(&p).await.0, 200);
        assert_eq!(post(&p, i).await, 200);
        actix_rt::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(posts_received(&up).values().all(|&n| n == 1));
}

#[actix_web::test]
async fn a_new_configuration_starts_with_a_closed_breaker() {
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::Refuse);
    let mut o = through(&relay);
    o.circuit_breaker.open_ms = 60_000;
    let p = TestProxy::start(Some(o.clone())).await;
    for _ in 0..2 {
        get(&p).await;
    }
    assert_eq!(breaker(&p), BreakerState::Open);
    relay.set(Fault::Pass);
    p.proxy.configure(o).await.unwrap();
    assert_eq!(breaker(&p), BreakerState::Closed);
    assert_eq!(get(&p).await.0, 200);
}

fn p99(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get((v.len() * 99).div_ceil(100).saturating_sub(1))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn line(name: &str, results: &[(u16, Duration)], upstream: usize) {
    let ok = results.iter().filter(|r| r.0 == 200).count();
    println!(
        "{name:<38} success {:>5.1} %  p99 {:>7.1} ms  upstream/request {:>5.2}  ({} requests)",
        100.0 * ok as f64 / results.len().max(1) as f64,
        p99(results.iter().map(|r| r.1).collect()),
        upstream as f64 / results.len().max(1) as f64,
        results.len()
    );
}

/// Figures for README (`benches/chaos.sh`): success rate, p99 latency and upstream requests
/// per client request per scenario, and the fast-fail latency with the circuit open.
#[actix_web::test]
#[ignore = "measurement, run by benches/chaos.sh"]
async fn figures() {
    // Healthy.
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    let p = TestProxy::start(Some(options(&relay.url()))).await;
    let r = burst(&p, 2000, 16).await;
    line("healthy", &r, up.count());

    // Restart: 300 ms refused under a steady stream (GETs reported).
    for (name, tolerant) in [
        ("restart 300 ms, defaults", false),
        ("restart 300 ms, breaker off", true),
    ] {
        let up = FakeUpstream::ok();
        let relay = Relay::start(up.addr);
        let mut o = options(&relay.url());
        o.retry.max_attempts = 40;
        o.retry.max_backoff_ms = 40;
        if tolerant {
            o.circuit_breaker.consecutive_failures = 0;
            o.retry.min_per_second = 100_000;
        }
        let p = TestProxy::start(Some(o)).await;
        let (gets, _) = restart_stream(
            &p,
            &relay,
            100,
            Duration::from_millis(300),
            Duration::from_millis(300),
        )
        .await;
        let upstream = up.records().iter().filter(|r| r.method == "GET").count();
        line(name, &gets, upstream);
    }

    // Blackhole: the circuit opens, then the fast-fail latency.
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::Blackhole);
    let mut o = options(&relay.url());
    o.timeouts.per_try_ms = 300;
    o.circuit_breaker.open_ms = 60_000;
    let p = TestProxy::start(Some(o)).await;
    let opening = burst(&p, 8, 8).await;
    line(
        "blackhole, until the circuit opens",
        &opening,
        relay.blackholed(),
    );
    let open = burst(&p, 2000, 16).await;
    line("blackhole, circuit open", &open, 0);
    let mut fast: Vec<Duration> = open.iter().map(|r| r.1).collect();
    fast.sort();
    println!(
        "{:<38} p50 {:>6.2} ms  p99 {:>6.2} ms  (connect timeout 500 ms, per-try 300 ms)",
        "  fast-fail latency, circuit open",
        fast[fast.len() / 2].as_secs_f64() * 1000.0,
        p99(fast.clone()),
    );

    // 503 storm: with and without the budget, breaker off; then the defaults.
    for (name, budget, breaker_on) in [
        ("503 storm, budget 20 % + 10/s", true, false),
        ("503 storm, no budget", false, false),
        ("503 storm, defaults (breaker on)", true, true),
    ] {
        let up = FakeUpstream::ok();
        let relay = Relay::start(up.addr);
        relay.set(Fault::Storm503);
        let mut o = options(&relay.url());
        o.retry.initial_backoff_ms = 1;
        o.retry.max_backoff_ms = 5;
        if !breaker_on {
            o.circuit_breaker.consecutive_failures = 0;
        }
        if !budget {
            o.retry.budget_percent = 1000;
            o.retry.min_per_second = 1_000_000;
        }
        let p = TestProxy::start(Some(o)).await;
        let r = burst(&p, 2000, 16).await;
        line(name, &r, relay.stormed());
    }

    // Slow: answers 600 ms late, per-try 200 ms, deadline 700 ms.
    let up = FakeUpstream::ok();
    let relay = Relay::start(up.addr);
    relay.set(Fault::Delay(Duration::from_millis(600)));
    let mut o = options(&relay.url());
    o.timeouts.per_try_ms = 200;
    o.timeouts.request_ms = 700;
    o.circuit_breaker.consecutive_failures = 0;
    let p = TestProxy::start(Some(o)).await;
    let r = burst(&p, 64, 16).await;
    line("slow, deadline 700 ms, breaker off", &r, up.count());
}
