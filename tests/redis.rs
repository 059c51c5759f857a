//! Many replicas, one truth: the Redis level of the session cache, against a real
//! `redis-server` started here on a free loopback port (skipped without it locally, a failure
//! under `CI=true`).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use authjs_proxy::config::{ProxyOptions, RedisOptions, Secret};
use authjs_proxy::{AuthProxy, Scheme};
use common::redis::Redis;
use common::*;

const SESSION: &str = r#"{"user":{"name":"Ada Lovelace","email":"ada@example.com"},"expires":"2030-01-01T00:00:00.000Z"}"#;

fn upstream() -> FakeUpstream {
    FakeUpstream::start(|req, _| {
        if req.path_and_query.ends_with("/signout") {
            Reply::status(302).header("location", "/")
        } else if req
            .header("cookie")
            .is_some_and(|c| c.contains("session-token=tok"))
        {
            Reply::json(SESSION)
        } else {
            Reply::json("null")
        }
    })
}

fn replica_options(up: &FakeUpstream, redis: &str) -> ProxyOptions {
    let mut o = options(&up.url());
    o.secret = Some(Secret::One("shared-secret".into()));
    o.session_cache.ttl_ms = 60_000;
    o.session_cache.redis = Some(RedisOptions {
        url: redis.into(),
        ..RedisOptions::default()
    });
    o
}

async fn replica(up: &FakeUpstream, redis: &str) -> AuthProxy {
    let p = AuthProxy::start();
    p.configure(replica_options(up, redis)).await.unwrap();
    p
}

fn ada() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::COOKIE,
        HeaderValue::from_static("authjs.session-token=tok-ada; theme=dark"),
    );
    h
}

async fn name(p: &AuthProxy) -> Option<String> {
    p.get_server_session(&ada(), Scheme::Http)
        .await
        .unwrap()
        .and_then(|s| s.user)
        .and_then(|u| u.name)
}

/// Polls the async `cond` (at most 60 times, 50 ms apart).
async fn eventually_async(mut cond: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..60 {
        if cond().await {
            return true;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Polls `cond` (at most 100 times, 50 ms apart).
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if cond() {
            return true;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[actix_web::test]
async fn a_second_replica_answers_from_redis_without_asking_the_upstream() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = upstream();
    let a = replica(&up, &redis.url()).await;
    let b = replica(&up, &redis.url()).await;
    assert_eq!(name(&a).await.as_deref(), Some("Ada Lovelace"));
    assert!(
        eventually(|| !redis.keys().is_empty()).await,
        "nothing was shared"
    );
    assert_eq!(name(&b).await.as_deref(), Some("Ada Lovelace"));
    assert_eq!(up.count(), 1, "replica B answered from Redis");
}

#[actix_web::test]
async fn a_replica_never_answers_one_host_with_another_hosts_shared_answer() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    // An Auth.js that answers per host (a tenant's own configuration).
    let up = FakeUpstream::start(|req, _| {
        if req
            .header("x-forwarded-host")
            .is_some_and(|h| h.starts_with("tenant1."))
        {
            Reply::json(SESSION)
        } else {
            Reply::json("null")
        }
    });
    let a = replica(&up, &redis.url()).await;
    let b = replica(&up, &redis.url()).await;
    let on = |host: &'static str| {
        let mut h = ada();
        h.insert(header::HOST, HeaderValue::from_static(host));
        h
    };
    let first = a
        .get_server_session(&on("tenant1.example"), Scheme::Http)
        .await;
    assert!(first.unwrap().is_some());
    assert!(
        eventually(|| !redis.keys().is_empty()).await,
        "nothing was shared"
    );
    let other = b
        .get_server_session(&on("tenant2.example"), Scheme::Http)
        .await;
    assert_eq!(other.unwrap(), None);
    assert_eq!(up.count(), 2, "replica B asked for its own host");
}

#[actix_web::test]
async fn a_sign_out_through_one_replica_reaches_the_others() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = upstream();
    let a = replica(&up, &redis.url()).await;
    let b = replica(&up, &redis.url()).await;
    let a_http = TestProxy::serve(a.clone(), |_| {});
    assert!(name(&a).await.is_some());
    assert!(eventually(|| !redis.keys().is_empty()).await);
    assert!(name(&b).await.is_some());
    assert_eq!(up.count(), 1);
    // B has the answer in its local cache now; let its listener subscribe.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let res = client()
        .post(a_http.url("/api/auth/signout"))
        .insert_header(("cookie", "authjs.session-token=tok-ada; theme=dark"))
        .send_body("csrfToken=x")
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(redis.keys().is_empty(), "the shared entry was deleted");
    let before = up.count();
    let asked = eventually_async(async || {
        name(&b).await;
        up.count() > before
    })
    .await;
    assert!(
        asked,
        "replica B kept answering its old copy after the sign-out"
    );
}

#[actix_web::test]
async fn nothing_readable_is_stored_in_redis() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = upstream();
    let a = replica(&up, &redis.url()).await;
    name(&a).await;
    assert!(eventually(|| !redis.keys().is_empty()).await);
    for key in redis.keys() {
        assert!(!key.contains("tok-ada"), "{key}");
        let value = redis.cli(&["--raw", "GET", &key]);
        for secret in ["ada@example.com", "Ada Lovelace", "tok-ada", "user"] {
            assert!(!value.contains(secret), "{secret} is readable in {key}");
        }
    }
}

#[actix_web::test]
async fn replicas_keep_answering_while_redis_is_down_and_share_again_when_it_is_back() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = upstream();
    let url = redis.url();
    let a = replica(&up, &url).await;
    let b = replica(&up, &url).await;
    let port = redis.stop();
    assert_eq!(name(&a).await.as_deref(), Some("Ada Lovelace"));
    assert_eq!(name(&b).await.as_deref(), Some("Ada Lovelace"));
    assert_eq!(up.count(), 2, "each replica asked the upstream itself");
    let redis = Redis::start_on(port, None);
    // The same replicas reconnect by themselves: a new user's session looked up through A is
    // soon answered to B from Redis again.
    let mut shared = false;
    for n in 0..40 {
        let mut h = HeaderMap::new();
        let cookie = format!("authjs.session-token=tok-user{n}");
        h.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        a.get_server_session(&h, Scheme::Http).await.unwrap();
        let keys = redis.keys().len();
        if keys == 0 {
            actix_rt::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let before = up.count();
        b.get_server_session(&h, Scheme::Http).await.unwrap();
        if up.count() == before {
            shared = true;
            break;
        }
    }
    assert!(shared, "sharing did not resume after Redis came back");
}

#[test]
fn a_wrong_redis_password_stops_the_service_naming_the_field() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start_on(closed_port(), Some("right-password"));
    let listen = format!("127.0.0.1:{}", closed_port());
    let config = format!(
        "[server]\nlisten = \"{listen}\"\nworkers = 1\n[proxy]\nbase_url = \"http://127.0.0.1:1\"\nsession_strategy = \"jwt\"\nsecret = \"s\"\n[proxy.session_cache.redis]\nurl = \"redis://:wrong-password@127.0.0.1:{}/0\"\n",
        redis.port
    );
    let dir = common::Scratch::new("redis-config");
    let path = dir.write("c.toml", &config);
    let out = Command::new(env!("CARGO_BIN_EXE_authjs-proxy"))
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(64),
        "an invalid configuration: {err}"
    );
    assert!(err.contains("session_cache.redis.url"), "{err}");
    assert!(
        !err.contains("wrong-password"),
        "the password was printed: {err}"
    );
}

/// What a cookie holder who can write to Redis could seal before values needed the
/// deployment's key: a value keyed by the cookie bytes and the entry id alone (both known to
/// them: the id is in the key's name).
fn sealed_from_the_cookie_alone(plain: &[u8], material: &[u8], id: &[u8; 32]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(id), material);
    let mut key = [0u8; 32];
    hk.expand(b"authjs-proxy session cache value v1", &mut key)
        .unwrap();
    let nonce = [0u8; 12];
    let ct = aes_gcm::Aes256Gcm::new_from_slice(&key)
        .unwrap()
        .encrypt(
            aes_gcm::Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: id,
            },
        )
        .unwrap();
    [nonce.as_slice(), &ct].concat()
}

#[actix_web::test]
async fn a_value_written_to_redis_without_the_deployment_key_is_never_served() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = upstream();
    let a = replica(&up, &redis.url()).await;
    assert_eq!(name(&a).await.as_deref(), Some("Ada Lovelace"));
    assert!(eventually(|| !redis.keys().is_empty()).await);
    let key = redis.keys().remove(0);
    let hex = key.trim_start_matches("authjs-proxy:");
    let id: [u8; 32] = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    // The lookup's key material: each session cookie's name and value, length-framed; all of
    // it is in the attacker's own request.
    let mut material = Vec::new();
    for field in [&b"authjs.session-token"[..], b"tok-ada"] {
        material.extend_from_slice(&(field.len() as u64).to_le_bytes());
        material.extend_from_slice(field);
    }
    let mut plain = vec![7u8, 0u8]; // asked over http without a Host: "http://"
    plain.extend_from_slice(b"http://");
    plain.extend_from_slice(br#"{"user":{"name":"Mallory Admin","email":"admin@corp.example"}}"#);
    let forged = sealed_from_the_cookie_alone(&plain, &material, &id);
    let mut set = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "-x", "SET", &key])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(set.stdin.as_mut().unwrap(), &forged).unwrap();
    drop(set.stdin.take());
    assert!(set.wait().unwrap().success());

    let b = replica(&up, &redis.url()).await;
    assert_eq!(name(&b).await.as_deref(), Some("Ada Lovelace"));
    assert_eq!(up.count(), 2, "replica B asked the upstream instead");
}

/// Subscribers to the invalidation channel, as Redis counts them.
fn subscribers(redis: &Redis) -> usize {
    redis
        .cli(&["PUBSUB", "NUMSUB", "authjs-proxy:invalidate"])
        .lines()
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[actix_web::test]
async fn a_reload_leaves_no_subscriber_behind() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = upstream();
    let p = replica(&up, &redis.url()).await;
    for _ in 0..4 {
        // Each configuration starts its listener with its first lookup.
        name(&p).await;
        assert!(eventually(|| subscribers(&redis) >= 1).await);
        p.configure(replica_options(&up, &redis.url()))
            .await
            .unwrap();
    }
    name(&p).await;
    assert!(
        eventually(|| subscribers(&redis) == 1).await,
        "{} subscribers for one live configuration",
        subscribers(&redis)
    );
}

#[actix_web::test]
async fn after_its_subscription_was_down_a_replica_drops_its_local_copies() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    // The answer changes while the replica cannot hear about it (a sign-out elsewhere whose
    // invalidation was published while its subscription was down).
    let signed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = signed_out.clone();
    let up = FakeUpstream::start(move |_, _| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::json("null")
        } else {
            Reply::json(SESSION)
        }
    });
    let b = replica(&up, &redis.url()).await;
    assert_eq!(name(&b).await.as_deref(), Some("Ada Lovelace"));
    assert!(eventually(|| subscribers(&redis) == 1).await);
    let port = redis.stop();
    signed_out.store(true, std::sync::atomic::Ordering::SeqCst);
    let redis = Redis::start_on(port, None);
    assert!(
        eventually(|| subscribers(&redis) == 1).await,
        "the replica subscribed again"
    );
    let dropped = eventually_async(async || name(&b).await.is_none()).await;
    assert!(
        dropped,
        "the local copy from before the outage was still served"
    );
}

#[actix_web::test]
async fn a_redis_hit_is_kept_locally_only_for_what_is_left_of_its_ttl() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let up = upstream();
    let mut o = replica_options(&up, &redis.url());
    o.session_cache.ttl_ms = 1000;
    let a = AuthProxy::start();
    a.configure(o.clone()).await.unwrap();
    let b = AuthProxy::start();
    b.configure(o).await.unwrap();
    assert_eq!(name(&a).await.as_deref(), Some("Ada Lovelace"));
    assert!(eventually(|| !redis.keys().is_empty()).await);
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(name(&b).await.as_deref(), Some("Ada Lovelace"));
    assert_eq!(up.count(), 1, "replica B answered from Redis");
    // A second past A's lookup, the answer is a second old: B must ask again, not keep it for a
    // whole TTL of its own.
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(name(&b).await.as_deref(), Some("Ada Lovelace"));
    assert_eq!(up.count(), 2, "B kept a Redis hit past its TTL");
}

#[actix_web::test]
async fn a_write_that_lands_after_a_sign_out_never_brings_the_old_answer_back() {
    use authjs_proxy::cache::redis::SharedLevel;
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let level = SharedLevel::new(
        &RedisOptions {
            url: redis.url(),
            timeout_ms: 500,
            ..RedisOptions::default()
        },
        Some("shared-secret"),
    )
    .unwrap();
    let material = b"the cookie's bytes";
    let id = level.id(material);
    let ttl = Duration::from_secs(60);
    level.put(&id, material, b"before", ttl).await;
    assert_eq!(
        level.get(&id, material).await.map(|(v, _)| v),
        Some(b"before".to_vec())
    );
    // A sign-out deletes the entry; a write from a lookup that was fetched before it (another
    // replica's, delayed) lands afterwards.
    level.invalidate(&id).await;
    level.put(&id, material, b"before", ttl).await;
    assert_eq!(
        level.get(&id, material).await,
        None,
        "the signed-out answer came back"
    );
}

#[actix_web::test]
async fn a_lookup_in_flight_during_a_sign_out_leaves_no_replica_answering_the_old_session() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start();
    let signed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = signed_out.clone();
    let up = FakeUpstream::start(move |req, _| {
        if req.path_and_query.ends_with("/signout") {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Reply::status(302).header("location", "/")
        } else if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::json("null")
        } else {
            // The old answer, slow to come.
            Reply::json(SESSION).delay(Duration::from_millis(400))
        }
    });
    let a = replica(&up, &redis.url()).await;
    let b = replica(&up, &redis.url()).await;
    let a_http = TestProxy::serve(a.clone(), |_| {});
    let in_flight = name(&a);
    let sign_out = async {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
        let res = client()
            .post(a_http.url("/api/auth/signout"))
            .insert_header(("cookie", "authjs.session-token=tok-ada; theme=dark"))
            .send_body("csrfToken=x")
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
    };
    let (old, ()) = futures_util::join!(in_flight, sign_out);
    assert_eq!(
        old.as_deref(),
        Some("Ada Lovelace"),
        "its own caller gets it"
    );
    // Whatever the in-flight lookup wrote has landed by now.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        name(&b).await,
        None,
        "replica B answered the signed-out session"
    );
    assert_eq!(
        name(&a).await,
        None,
        "replica A answered the signed-out session"
    );
}

#[test]
fn check_config_connect_says_which_dependency_answered() {
    if !Redis::available() {
        return;
    }
    let redis = Redis::start_on(closed_port(), Some("right-password"));
    let up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = up.local_addr().unwrap();
    drop(up); // nothing listens there
    let config = |password: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\nworkers = 1\n[proxy]\nbase_url = \"http://{upstream}\"\nsession_strategy = \"jwt\"\nsecret = \"s\"\n[proxy.session_cache.redis]\nurl = \"redis://:{password}@127.0.0.1:{}/0\"\n",
            closed_port(),
            redis.port
        )
    };
    let dir = common::Scratch::new("redis-connect");
    let check = |path: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_authjs-proxy"))
            .args([
                "--config",
                path.to_str().unwrap(),
                "check-config",
                "--connect",
            ])
            .output()
            .unwrap()
    };
    // Wrong password: 64, the field named, the password never printed.
    let out = check(&dir.write("wrong.toml", &config("wrong-password")));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{text}");
    assert!(
        text.contains("redis")
            && text.contains("REFUSED")
            && text.contains("session_cache.redis.url"),
        "{text}"
    );
    assert!(!text.contains("wrong-password"), "{text}");
    assert!(text.contains("NOT REACHED"), "the upstream is down: {text}");
    // Right password: Redis answers; the upstream still does not (exit 1).
    let out = check(&dir.write("right.toml", &config("right-password")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("redis (proxy.session_cache.redis): answered PING"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "upstream http://{upstream}/api/auth/providers: NOT REACHED"
        )),
        "{stdout}"
    );
}
