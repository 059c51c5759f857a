//! Sign-in protection (issue #24): brute force and e-mail flooding stop at the proxy, shared
//! across replicas through Redis. Credentials sign-ins against a real Auth.js
//! (tests/e2e/authjs), the shared count against a real `redis-server`; e-mail sign-ins against
//! a fake upstream answering as Auth.js's e-mail provider does (the e2e peer has no adapter).

mod common;

use authjs_proxy::config::{ProxyOptions, RedisOptions, Secret};
use authjs_proxy::options::{Budget, SignInProtectionOptions};
use common::peer::*;
use common::redis::Redis;
use common::*;

const SECRET: &str = "sign-in-secret";

fn protection(edit: impl FnOnce(&mut SignInProtectionOptions)) -> SignInProtectionOptions {
    let mut o = SignInProtectionOptions::default();
    edit(&mut o);
    o
}

fn proxy_options(
    upstream: &str,
    redis: Option<&Redis>,
    p: SignInProtectionOptions,
) -> ProxyOptions {
    let mut o = options(upstream);
    o.secret = Some(Secret::One(SECRET.into()));
    o.sign_in_protection = p;
    o.session_cache.redis = redis.map(|r| RedisOptions {
        url: r.url(),
        ..RedisOptions::default()
    });
    o
}

async fn proxy(upstream: &str, redis: Option<&Redis>, p: SignInProtectionOptions) -> TestProxy {
    TestProxy::start(Some(proxy_options(upstream, redis, p))).await
}

/// A browser signing in from `ip` (the trusted front proxy's `X-Forwarded-For`).
fn browser_from(p: &TestProxy, ip: &str) -> Browser {
    let mut b = Browser::new(format!("http://{}", p.addr));
    b.extra.push(("x-forwarded-for", ip.to_owned()));
    b.extra.push(("accept", "text/html".to_owned()));
    b
}

/// One credentials sign-in through the Auth.js form, as the browser posts it.
async fn attempt(b: &mut Browser, email: &str, password: &str) -> Resp {
    let csrf = b.csrf("/api/auth").await;
    b.post(
        "/api/auth/callback/credentials",
        &[
            ("csrfToken", &csrf),
            ("email", email),
            ("password", password),
        ],
    )
    .await
}

fn refused(res: &Resp) -> bool {
    res.status == 302 && res.location().contains("error=RateLimited")
}

fn credentials_failed(res: &Resp) -> bool {
    res.status == 302 && res.location().contains("error=CredentialsSignin")
}

#[actix_web::test]
async fn five_wrong_passwords_lock_that_account_from_that_ip() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy(&peer.url(), None, SignInProtectionOptions::default()).await;
    let mut b = browser_from(&p, "203.0.113.1");
    for i in 0..5 {
        let res = attempt(&mut b, "ada@example.com", "wrong").await;
        assert!(credentials_failed(&res), "failure {i}: {}", res.location());
    }
    let asked = peer.counts().await["POST /api/auth/callback/credentials"].as_u64();
    let res = attempt(&mut b, "ada@example.com", "analytical").await;
    assert!(refused(&res), "{} {}", res.status, res.location());
    let retry: u64 = res
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (500..=600).contains(&retry),
        "locked for about 10 minutes: {retry}"
    );
    assert_eq!(
        peer.counts().await["POST /api/auth/callback/credentials"].as_u64(),
        asked,
        "a refused sign-in never reaches Auth.js"
    );
    assert!(!b.has_cookie("authjs.session-token"));
}

#[actix_web::test]
async fn another_ip_is_not_locked_out_of_the_same_account() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy(&peer.url(), None, SignInProtectionOptions::default()).await;
    let mut attacker = browser_from(&p, "203.0.113.66");
    for _ in 0..5 {
        attempt(&mut attacker, "ada@example.com", "wrong").await;
    }
    let mut ada = browser_from(&p, "198.51.100.7");
    let res = attempt(&mut ada, "ada@example.com", "analytical").await;
    assert_eq!(res.status, 302);
    assert!(ada.has_cookie("authjs.session-token"), "{}", res.location());
}

#[actix_web::test]
async fn a_success_clears_the_failures_of_that_account_and_ip() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy(&peer.url(), None, SignInProtectionOptions::default()).await;
    let mut b = browser_from(&p, "203.0.113.2");
    for _ in 0..4 {
        assert!(credentials_failed(
            &attempt(&mut b, "ada@example.com", "wrong").await
        ));
    }
    attempt(&mut b, "ada@example.com", "analytical").await;
    b.forget("authjs.session-token");
    for i in 0..4 {
        let res = attempt(&mut b, "ada@example.com", "wrong").await;
        assert!(credentials_failed(&res), "failure {i} after the success");
    }
}

#[actix_web::test]
async fn failures_from_one_ip_lock_that_ip_for_every_account() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy(
        &peer.url(),
        None,
        protection(|o| {
            o.ip_failures = Budget {
                max: 3,
                window_s: 600,
            }
        }),
    )
    .await;
    let mut b = browser_from(&p, "203.0.113.3");
    for account in ["a@example.com", "b@example.com", "c@example.com"] {
        assert!(credentials_failed(&attempt(&mut b, account, "wrong").await));
    }
    assert!(refused(
        &attempt(&mut b, "grace@example.com", "cobol").await
    ));
}

#[actix_web::test]
async fn the_refusal_takes_the_form_the_caller_expects() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy(
        &peer.url(),
        None,
        protection(|o| {
            o.account_ip_failures = Budget {
                max: 1,
                window_s: 600,
            }
        }),
    )
    .await;
    let mut b = browser_from(&p, "203.0.113.4");
    assert!(credentials_failed(
        &attempt(&mut b, "ada@example.com", "wrong").await
    ));
    let csrf = b.csrf("/api/auth").await;
    let form = [
        ("csrfToken", csrf.as_str()),
        ("email", "ada@example.com"),
        ("password", "x"),
    ];

    let browser_post = b
        .send("POST", "/api/auth/callback/credentials", Some(&form), &[])
        .await;
    assert!(refused(&browser_post));

    let sign_in_call = b
        .send(
            "POST",
            "/api/auth/callback/credentials",
            Some(&form),
            &[
                ("x-auth-return-redirect", "1"),
                ("accept", "application/json"),
            ],
        )
        .await;
    assert_eq!(sign_in_call.status, 200);
    let url = sign_in_call.json()["url"].as_str().unwrap().to_owned();
    assert!(url.ends_with("/api/auth/signin?error=RateLimited"), "{url}");
    assert!(sign_in_call.headers.contains_key("retry-after"));

    let mut api = Browser::new(format!("http://{}", p.addr));
    api.extra
        .push(("x-forwarded-for", "203.0.113.4".to_owned()));
    let res = api
        .send(
            "POST",
            "/api/auth/callback/credentials",
            Some(&form),
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(res.status, 429);
    assert!(res.headers.contains_key("retry-after"));
    assert_eq!(res.json()["reason"], "account_ip");
}

#[actix_web::test]
async fn replicas_share_one_count_through_redis_and_keep_no_identifier_in_clear() {
    if !peer_ready() || !Redis::available() {
        return;
    }
    let (peer, redis) = (AuthJs::start(SECRET), Redis::start());
    let a = proxy(
        &peer.url(),
        Some(&redis),
        SignInProtectionOptions::default(),
    )
    .await;
    let b = proxy(
        &peer.url(),
        Some(&redis),
        SignInProtectionOptions::default(),
    )
    .await;
    let (mut on_a, mut on_b) = (
        browser_from(&a, "203.0.113.5"),
        browser_from(&b, "203.0.113.5"),
    );
    for _ in 0..3 {
        assert!(credentials_failed(
            &attempt(&mut on_a, "ada@example.com", "wrong").await
        ));
    }
    for _ in 0..2 {
        assert!(credentials_failed(
            &attempt(&mut on_b, "ada@example.com", "wrong").await
        ));
    }
    assert!(refused(
        &attempt(&mut on_a, "ada@example.com", "analytical").await
    ));

    let keys = redis.cli(&["--raw", "KEYS", "authjs-proxy:signin:*"]);
    assert!(!keys.trim().is_empty());
    for needle in ["ada", "203.0.113.5", "example.com"] {
        assert!(!keys.contains(needle), "{needle} in {keys}");
    }
}

#[actix_web::test]
async fn with_redis_down_the_replica_counts_on_its_own() {
    if !peer_ready() || !Redis::available() {
        return;
    }
    let (peer, redis) = (AuthJs::start(SECRET), Redis::start());
    let p = proxy(
        &peer.url(),
        Some(&redis),
        SignInProtectionOptions::default(),
    )
    .await;
    redis.stop();
    let mut b = browser_from(&p, "203.0.113.6");
    for _ in 0..5 {
        assert!(credentials_failed(
            &attempt(&mut b, "ada@example.com", "wrong").await
        ));
    }
    assert!(refused(
        &attempt(&mut b, "ada@example.com", "analytical").await
    ));
}

// --- e-mail sign-in ---------------------------------------------------------------------------

/// Answers `POST signin/{provider}` as Auth.js's e-mail provider does.
fn email_upstream() -> FakeUpstream {
    FakeUpstream::start(|_, _| {
        Reply::status(302).header("location", "http://proxy.test/api/auth/verify-request")
    })
}

async fn ask_link(p: &TestProxy, address: &str, ip: &str) -> u16 {
    client()
        .post(p.url("/api/auth/signin/email"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .insert_header(("x-forwarded-for", ip))
        .send_body(format!("csrfToken=x&email={}", address.replace('@', "%40")))
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn three_links_to_one_address_then_the_next_waits() {
    let up = email_upstream();
    let p = proxy(&up.url(), None, SignInProtectionOptions::default()).await;
    for (i, ip) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().enumerate() {
        assert_eq!(
            ask_link(&p, "victim@example.com", ip).await,
            302,
            "link {i}"
        );
    }
    assert_eq!(
        ask_link(&p, "Victim@Example.com ", "192.0.2.4").await,
        429,
        "same address"
    );
    assert_eq!(up.count(), 3, "the fourth mail is never asked for");
    assert_eq!(ask_link(&p, "other@example.com", "192.0.2.4").await, 302);
}

#[actix_web::test]
async fn one_ip_can_not_mail_the_world() {
    let up = email_upstream();
    let p = proxy(
        &up.url(),
        None,
        protection(|o| {
            o.email_per_ip = Budget {
                max: 2,
                window_s: 600,
            }
        }),
    )
    .await;
    assert_eq!(ask_link(&p, "a@example.com", "192.0.2.9").await, 302);
    assert_eq!(ask_link(&p, "b@example.com", "192.0.2.9").await, 302);
    assert_eq!(ask_link(&p, "c@example.com", "192.0.2.9").await, 429);
}

#[actix_web::test]
async fn protection_off_counts_nothing() {
    let up = email_upstream();
    let p = proxy(&up.url(), None, protection(|o| o.enabled = false)).await;
    for _ in 0..5 {
        assert_eq!(ask_link(&p, "victim@example.com", "192.0.2.1").await, 302);
    }
}

#[actix_web::test]
async fn a_refusal_is_counted_in_the_metrics() {
    let up = email_upstream();
    let p = proxy(
        &up.url(),
        None,
        protection(|o| {
            o.email_per_address = Budget {
                max: 1,
                window_s: 600,
            }
        }),
    )
    .await;
    ask_link(&p, "m@example.com", "192.0.2.1").await;
    assert_eq!(ask_link(&p, "m@example.com", "192.0.2.1").await, 429);
    let text = authjs_proxy::core::obs::metrics::encode();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("authjs_proxy_sign_in_refused_total{") && l.contains("reason=\"address\"")
        })
        .unwrap_or_else(|| panic!("{text}"));
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 1.0, "{line}");
}

#[actix_web::test]
async fn an_untrusted_peer_can_not_pick_its_address_by_header() {
    let up = email_upstream();
    let mut o = proxy_options(
        &up.url(),
        None,
        protection(|o| {
            o.email_per_ip = Budget {
                max: 2,
                window_s: 600,
            }
        }),
    );
    o.trusted_proxies = vec!["10.0.0.0/8".into()];
    let p = TestProxy::start(Some(o)).await;
    assert_eq!(ask_link(&p, "a@example.com", "192.0.2.1").await, 302);
    assert_eq!(ask_link(&p, "b@example.com", "192.0.2.2").await, 302);
    assert_eq!(
        ask_link(&p, "c@example.com", "192.0.2.3").await,
        429,
        "one peer, one budget"
    );
}

// --- what the review of the first version found ------------------------------------------------

/// Answers a credentials callback as Auth.js does for a wrong password (slowly, to let
/// concurrent attempts overlap).
fn wrong_password_upstream(delay_ms: u64) -> FakeUpstream {
    FakeUpstream::start(move |_, _| {
        Reply::status(302)
            .header(
                "location",
                "http://proxy.test/api/auth/signin?error=CredentialsSignin&code=credentials",
            )
            .delay(std::time::Duration::from_millis(delay_ms))
    })
}

async fn post_form(p: &TestProxy, path: &str, ct: &str, body: &str, ip: &str) -> u16 {
    client()
        .post(p.url(path))
        .insert_header(("content-type", ct))
        .insert_header(("x-forwarded-for", ip))
        .send_body(body.to_owned())
        .await
        .unwrap()
        .status()
        .as_u16()
}

const FORM: &str = "application/x-www-form-urlencoded";

#[actix_web::test]
async fn a_repeated_field_counts_as_auth_js_reads_it_the_last_one() {
    let up = wrong_password_upstream(0);
    let p = proxy(&up.url(), None, SignInProtectionOptions::default()).await;
    for i in 0..5 {
        let body = format!("email=decoy{i}%40x.test&email=ada%40example.com&password=guess{i}");
        let status = post_form(
            &p,
            "/api/auth/callback/credentials",
            FORM,
            &body,
            "192.0.2.20",
        )
        .await;
        assert_eq!(status, 302, "guess {i}");
    }
    let body = "email=ada%40example.com&password=again";
    let status = post_form(
        &p,
        "/api/auth/callback/credentials",
        FORM,
        body,
        "192.0.2.20",
    )
    .await;
    assert_eq!(status, 429, "ada's budget from that address is spent");
}

#[actix_web::test]
async fn a_type_that_merely_mentions_json_is_read_as_json_as_auth_js_does() {
    let up = email_upstream();
    let p = proxy(&up.url(), None, SignInProtectionOptions::default()).await;
    let ct = "text/plain;x=application/json";
    for i in 0..3 {
        let status = post_form(
            &p,
            "/api/auth/signin/email",
            ct,
            r#"{"email":"v@x.test"}"#,
            &format!("192.0.2.3{i}"),
        )
        .await;
        assert_eq!(status, 302);
    }
    let status = post_form(
        &p,
        "/api/auth/signin/email",
        ct,
        r#"{"email":"V@X.test"}"#,
        "192.0.2.39",
    )
    .await;
    assert_eq!(status, 429);
}

/// Twenty wrong-password sign-ins of one account from `ip` at once, spread over `replicas`.
async fn guesses_at_once(replicas: &[&TestProxy], ip: &'static str) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let url = replicas[i % replicas.len()].url("/api/auth/callback/credentials");
            actix_rt::spawn(async move {
                client()
                    .post(url)
                    .insert_header(("content-type", FORM))
                    .insert_header(("x-forwarded-for", ip))
                    .send_body(format!("email=ada%40example.com&password=guess{i}"))
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[actix_web::test]
async fn concurrent_failures_can_not_all_pass_one_check() {
    let up = wrong_password_upstream(300);
    let p = proxy(&up.url(), None, SignInProtectionOptions::default()).await;
    guesses_at_once(&[&p], "192.0.2.40").await;
    assert_eq!(
        up.count(),
        5,
        "the budget, not the concurrency, says how many guesses"
    );
}

#[actix_web::test]
async fn a_credentials_provider_with_its_own_id_is_protected() {
    let up = wrong_password_upstream(0);
    let p = proxy(
        &up.url(),
        None,
        protection(|o| o.credentials_providers = vec!["password".into()]),
    )
    .await;
    for _ in 0..5 {
        post_form(
            &p,
            "/api/auth/callback/password",
            FORM,
            "email=a%40x.test&password=x",
            "192.0.2.50",
        )
        .await;
    }
    let status = post_form(
        &p,
        "/api/auth/callback/password",
        FORM,
        "email=a%40x.test&password=x",
        "192.0.2.50",
    )
    .await;
    assert_eq!(status, 429);
}

#[actix_web::test]
async fn a_link_auth_js_did_not_send_costs_nothing() {
    // A forged CSRF token: Auth.js refuses, sends no mail.
    let up = FakeUpstream::start(|_, _| {
        Reply::status(302).header("location", "http://proxy.test/api/auth/signin?csrf=true")
    });
    let p = proxy(&up.url(), None, SignInProtectionOptions::default()).await;
    for _ in 0..6 {
        let status = post_form(
            &p,
            "/api/auth/signin/email",
            FORM,
            "email=victim%40x.test",
            "192.0.2.60",
        )
        .await;
        assert_eq!(
            status, 302,
            "nobody can spend a victim's budget without a valid request"
        );
    }
    assert_eq!(up.count(), 6);
}

#[actix_web::test]
async fn the_account_wide_budget_spares_an_address_that_never_failed() {
    let up = wrong_password_upstream(0);
    let p = proxy(
        &up.url(),
        None,
        protection(|o| {
            o.account_failures = Budget {
                max: 2,
                window_s: 3600,
            }
        }),
    )
    .await;
    let body = "email=ada%40example.com&password=x";
    let path = "/api/auth/callback/credentials";
    assert_eq!(post_form(&p, path, FORM, body, "192.0.2.70").await, 302);
    assert_eq!(post_form(&p, path, FORM, body, "192.0.2.71").await, 302);
    assert_eq!(
        post_form(&p, path, FORM, body, "192.0.2.70").await,
        429,
        "a failing address slows down"
    );
    assert_eq!(
        post_form(&p, path, FORM, body, "192.0.2.99").await,
        302,
        "ada's own address is not"
    );
}

#[actix_web::test]
async fn addresses_in_one_ipv6_64_share_a_budget() {
    let up = email_upstream();
    let p = proxy(
        &up.url(),
        None,
        protection(|o| {
            o.email_per_ip = Budget {
                max: 2,
                window_s: 600,
            }
        }),
    )
    .await;
    assert_eq!(ask_link(&p, "a@example.com", "2001:db8:1:2::1").await, 302);
    assert_eq!(
        ask_link(&p, "b@example.com", "2001:db8:1:2:ffff::9").await,
        302
    );
    assert_eq!(
        ask_link(&p, "c@example.com", "2001:db8:1:2::abcd").await,
        429
    );
    assert_eq!(
        ask_link(&p, "c@example.com", "2001:db8:1:3::1").await,
        302,
        "another /64"
    );
}

#[actix_web::test]
async fn concurrent_failures_can_not_all_pass_one_check_across_replicas() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = wrong_password_upstream(300);
    let a = proxy(&up.url(), Some(&redis), SignInProtectionOptions::default()).await;
    let b = proxy(&up.url(), Some(&redis), SignInProtectionOptions::default()).await;
    guesses_at_once(&[&a, &b], "192.0.2.41").await;
    assert_eq!(up.count(), 5);
}

// --- the issue's own scenarios, against the real Auth.js ---------------------------------------

#[actix_web::test]
async fn fifty_wrong_passwords_from_one_address_reach_auth_js_five_times() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy(&peer.url(), None, SignInProtectionOptions::default()).await;
    let mut b = browser_from(&p, "203.0.113.80");
    let mut refused_forms = 0;
    for _ in 0..50 {
        let res = attempt(&mut b, "ada@example.com", "wrong").await;
        refused_forms += usize::from(refused(&res));
    }
    let reached = peer.counts().await["POST /api/auth/callback/credentials"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        reached, 5,
        "the budget, and nothing past it, reaches Auth.js"
    );
    assert_eq!(refused_forms, 45);
}

#[actix_web::test]
async fn the_right_password_is_refused_during_the_lockout_and_succeeds_after_it() {
    if !peer_ready() {
        return;
    }
    let peer = AuthJs::start(SECRET);
    let p = proxy(&peer.url(), None, protection(|o| o.lockout_s = 2)).await;
    let mut b = browser_from(&p, "203.0.113.81");
    for _ in 0..5 {
        assert!(credentials_failed(
            &attempt(&mut b, "ada@example.com", "wrong").await
        ));
    }
    assert!(refused(
        &attempt(&mut b, "ada@example.com", "analytical").await
    ));
    actix_rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    let res = attempt(&mut b, "ada@example.com", "analytical").await;
    assert_eq!(res.status, 302);
    assert!(b.has_cookie("authjs.session-token"), "{}", res.location());
}

#[actix_web::test]
async fn e_mail_links_to_one_address_stop_at_the_budget_while_another_address_still_gets_one() {
    if !peer_ready() || !common::postgres::Postgres::available() {
        return;
    }
    let pg = common::postgres::Postgres::start();
    pg.exec(common::postgres::PG_ADAPTER_SCHEMA).await;
    let peer = AuthJs::start_with_database(SECRET, &pg.url());
    let mut o = proxy_options(&peer.url(), None, SignInProtectionOptions::default());
    o.session_strategy = Some(authjs_proxy::config::SessionStrategy::Database);
    let p = TestProxy::start(Some(o)).await;
    let mut b = browser_from(&p, "203.0.113.82");
    for i in 0..3 {
        let csrf = b.csrf("/api/auth").await;
        let res = b
            .post(
                "/api/auth/signin/email",
                &[("csrfToken", &csrf), ("email", "victim@example.com")],
            )
            .await;
        assert!(
            res.location().contains("verify-request"),
            "link {i}: {}",
            res.location()
        );
    }
    let sent = peer.counts().await["POST /api/auth/signin/email"].as_u64();
    let csrf = b.csrf("/api/auth").await;
    let res = b
        .post(
            "/api/auth/signin/email",
            &[("csrfToken", &csrf), ("email", "victim@example.com")],
        )
        .await;
    assert!(refused(&res), "{} {}", res.status, res.location());
    assert_eq!(
        peer.counts().await["POST /api/auth/signin/email"].as_u64(),
        sent,
        "no fourth mail"
    );
    let csrf = b.csrf("/api/auth").await;
    let res = b
        .post(
            "/api/auth/signin/email",
            &[("csrfToken", &csrf), ("email", "other@example.com")],
        )
        .await;
    assert!(
        res.location().contains("verify-request"),
        "{}",
        res.location()
    );
}
