//! Database sessions read from the adapter's tables: a real PostgreSQL started here, the real
//! Auth.js peer in its `@auth/pg-adapter` mode writing real session rows, the Prisma and
//! Drizzle presets against those adapters' documented tables. Skipped without PostgreSQL or
//! the peer locally, a failure under `CI=true`.

mod common;

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use authjs_proxy::config::{ProxyOptions, SessionStrategy};
use authjs_proxy::gate::{self, ForwardAuthOptions};
use authjs_proxy::options::{
    PostgresOptions, SchemaFields, SchemaOptions, SchemaPreset, SessionStoreOptions, StoreMode,
};
use authjs_proxy::{AuthProxy, Scheme};
use common::peer::*;
use common::postgres::{DRIZZLE_SCHEMA, PG_ADAPTER_SCHEMA, PRISMA_SCHEMA, Postgres};
use common::*;
use serde_json::{Value, json};

const SECRET: &str = "db-sessions-e2e-secret";
const COOKIE: &str = "authjs.session-token";

/// Options for a proxy in front of `upstream` reading sessions from `pg` with `preset`'s
/// names; the session cache off unless a test turns it on.
fn store_options(upstream: &str, pg: &Postgres, preset: SchemaPreset) -> ProxyOptions {
    let mut o = options(upstream);
    o.session_strategy = Some(SessionStrategy::Database);
    o.session_cache.ttl_ms = 0;
    o.session_store = SessionStoreOptions {
        mode: StoreMode::DatabaseFirst,
        postgres: Some(PostgresOptions {
            url: pg.url(),
            pool_size: 4,
            schema: SchemaOptions(SchemaFields {
                preset,
                ..SchemaFields::default()
            }),
            ..PostgresOptions::default()
        }),
    };
    o
}

/// The proxy with the forward-auth endpoint mounted.
async fn start(opts: ProxyOptions) -> TestProxy {
    let proxy = AuthProxy::start();
    proxy.configure(opts).await.expect("valid test options");
    let g = ForwardAuthOptions {
        enabled: true,
        ..Default::default()
    }
    .validate()
    .unwrap();
    TestProxy::serve_with(proxy.clone(), gate::configure(proxy, g))
}

/// A forward-auth decision for a request carrying `cookie`: status and identity headers.
async fn decide(p: &TestProxy, cookie: &str) -> (u16, HeaderMap) {
    let res = client()
        .get(p.url("/_authjs/verify"))
        .insert_header(("cookie", cookie))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.headers().clone())
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).map(|v| v.to_str().unwrap().to_owned())
}

fn cookie_headers(cookie: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(actix_web::http::header::COOKIE, cookie.parse().unwrap());
    h
}

async fn session_json(p: &TestProxy, cookie: &str) -> Value {
    let s = p
        .proxy
        .get_server_session(&cookie_headers(cookie), Scheme::Http)
        .await
        .unwrap();
    serde_json::to_value(s).unwrap()
}

/// PostgreSQL with the pg-adapter tables, the peer on it, a proxy in front of both.
async fn pg_adapter_setup(
    edit: impl FnOnce(&mut ProxyOptions),
) -> Option<(Postgres, AuthJs, TestProxy)> {
    if !Postgres::available() || !peer_ready() {
        return None;
    }
    let pg = Postgres::start();
    pg.exec(PG_ADAPTER_SCHEMA).await;
    let peer = AuthJs::start_with_database(SECRET, &pg.url());
    let mut o = store_options(&peer.url(), &pg, SchemaPreset::PgAdapter);
    edit(&mut o);
    let p = start(o).await;
    Some((pg, peer, p))
}

/// Signs `email` in through the proxy (a real session row); the session cookie.
async fn sign_in(p: &TestProxy, peer: &AuthJs, email: &str) -> String {
    let mut b = Browser::new(format!("http://{}", p.addr));
    let res = b.sign_in_by_email("/api/auth", peer, email).await;
    assert_eq!(res.status, 302, "the sign-in link was not accepted");
    let token = b
        .cookie(COOKIE)
        .expect("a session cookie after the sign-in link");
    format!("{COOKIE}={token}")
}

async fn user_id(pg: &Postgres, email: &str) -> String {
    let row = pg
        .client()
        .await
        .query_one("SELECT id::text FROM users WHERE email = $1", &[&email])
        .await
        .unwrap();
    row.get(0)
}

#[actix_web::test]
async fn forward_auth_and_get_server_session_answer_from_the_database_with_auth_js_stopped() {
    let Some((pg, mut peer, p)) = pg_adapter_setup(|_| {}).await else {
        return;
    };
    let cookie = sign_in(&p, &peer, "ada@example.com").await;
    // What Auth.js's own session route answers for this cookie.
    let mut res = client()
        .get(format!("{}/api/auth/session", peer.url()))
        .insert_header(("cookie", cookie.as_str()))
        .send()
        .await
        .unwrap();
    let route: Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
    assert_eq!(route["user"]["email"], "ada@example.com", "{route}");
    peer.stop();

    let (status, headers) = decide(&p, &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "x-auth-request-email").as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(
        header(&headers, "x-auth-request-user"),
        Some(user_id(&pg, "ada@example.com").await)
    );
    // Field by field what the route answered: {user: {name: null, email, image: null}, expires}.
    assert_eq!(session_json(&p, &cookie).await, route);
    assert_eq!(
        route,
        json!({"user": {"name": null, "email": "ada@example.com", "image": null},
               "expires": route["expires"].as_str().unwrap()})
    );
}

#[actix_web::test]
async fn upstream_first_answers_from_the_database_when_auth_js_is_down() {
    let Some((_pg, mut peer, p)) = pg_adapter_setup(|o| {
        o.session_store.mode = StoreMode::UpstreamFirst;
        o.retry.max_attempts = 1;
    })
    .await
    else {
        return;
    };
    let cookie = sign_in(&p, &peer, "grace@example.com").await;
    let before = session_json(&p, &cookie).await;
    assert_eq!(before["user"]["email"], "grace@example.com");
    peer.stop();
    assert_eq!(session_json(&p, &cookie).await, before);
    assert_eq!(decide(&p, &cookie).await.0, 200);
}

#[actix_web::test]
async fn sign_out_through_the_proxy_makes_the_next_decision_401() {
    let Some((_pg, peer, p)) = pg_adapter_setup(|o| o.session_cache.ttl_ms = 60_000).await else {
        return;
    };
    let mut b = Browser::new(format!("http://{}", p.addr));
    b.sign_in_by_email("/api/auth", &peer, "linus@example.com")
        .await;
    let cookie = format!("{COOKIE}={}", b.cookie(COOKIE).unwrap());
    // Cached as signed in.
    assert_eq!(decide(&p, &cookie).await.0, 200);
    assert_eq!(decide(&p, &cookie).await.0, 200);
    let csrf = b.csrf("/api/auth").await;
    let res = b.post("/api/auth/signout", &[("csrfToken", &csrf)]).await;
    assert_eq!(res.status, 302);
    // The same cookie, presented again (another tab, a copy): no session any more.
    assert_eq!(decide(&p, &cookie).await.0, 401);
    assert_eq!(session_json(&p, &cookie).await, Value::Null);
}

#[actix_web::test]
async fn an_expired_row_is_no_session_and_stays_in_the_table() {
    let Some((pg, _peer, p)) = pg_adapter_setup(|_| {}).await else {
        return;
    };
    let cookie = sign_in(&p, &_peer, "alan@example.com").await;
    assert_eq!(decide(&p, &cookie).await.0, 200);
    pg.exec("UPDATE sessions SET expires = now() - interval '1 second'")
        .await;
    assert_eq!(decide(&p, &cookie).await.0, 401);
    assert_eq!(session_json(&p, &cookie).await, Value::Null);
    // The proxy only reads: deleting the row stays Auth.js's job.
    let rows: i64 = pg
        .client()
        .await
        .query_one("SELECT count(*) FROM sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}

/// A user and a session row written as the adapter writes them, then the proxy's answer with
/// Auth.js absent.
async fn preset_answers(schema: &str, preset: SchemaPreset, insert: &str) {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    pg.exec(schema).await;
    pg.exec(insert).await;
    let absent = format!("http://127.0.0.1:{}", closed_port());
    let p = start(store_options(&absent, &pg, preset)).await;
    let cookie = format!("{COOKIE}=tok-ada");
    assert_eq!(
        session_json(&p, &cookie).await,
        json!({"user": {"name": "Ada Lovelace", "email": "ada@example.com", "image": null},
               "expires": "2031-02-03T04:05:06.789Z"})
    );
    let (status, headers) = decide(&p, &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "x-auth-request-user").as_deref(),
        Some("cm-ada")
    );
    assert_eq!(
        session_json(&p, &format!("{COOKIE}=tok-nobody")).await,
        Value::Null
    );
    assert_eq!(decide(&p, &format!("{COOKIE}=tok-nobody")).await.0, 401);
}

#[actix_web::test]
async fn the_prisma_preset_reads_the_prisma_adapters_tables() {
    preset_answers(
        PRISMA_SCHEMA,
        SchemaPreset::Prisma,
        r#"INSERT INTO "User" (id, name, email, "updatedAt")
             VALUES ('cm-ada', 'Ada Lovelace', 'ada@example.com', now());
           INSERT INTO "Session" ("sessionToken", "userId", expires, "updatedAt")
             VALUES ('tok-ada', 'cm-ada', '2031-02-03 04:05:06.789', now());"#,
    )
    .await;
}

#[actix_web::test]
async fn the_drizzle_preset_reads_the_drizzle_adapters_tables() {
    preset_answers(
        DRIZZLE_SCHEMA,
        SchemaPreset::Drizzle,
        r#"INSERT INTO "user" (id, name, email) VALUES ('cm-ada', 'Ada Lovelace', 'ada@example.com');
           INSERT INTO "session" ("sessionToken", "userId", expires)
             VALUES ('tok-ada', 'cm-ada', '2031-02-03 04:05:06.789');"#,
    )
    .await;
}

#[actix_web::test]
async fn lookups_that_wait_for_one_connection_each_get_their_own_session() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    pg.exec(PG_ADAPTER_SCHEMA).await;
    users_with_sessions(&pg.client().await, 40).await;
    let absent = format!("http://127.0.0.1:{}", closed_port());
    let mut o = store_options(&absent, &pg, SchemaPreset::PgAdapter);
    if let Some(store) = &mut o.session_store.postgres {
        store.pool_size = 1;
        store.statement_timeout_ms = 10_000;
    }
    let p = start(o).await;
    // Every lookup waits for the one connection, then most of them are answered together.
    let mut tokens: Vec<String> = (1..=40).map(|i| format!("tok-{i}")).collect();
    tokens.extend(["tok-7".into(), "tok-unknown".into(), "tok-40".into()]);
    let cookies: Vec<String> = tokens.iter().map(|t| format!("{COOKIE}={t}")).collect();
    let holder = pg.client().await;
    let answers = decide_all_behind_a_lock(&p, &holder, &cookies, Duration::from_millis(300)).await;
    for (token, (status, headers)) in tokens.iter().zip(answers) {
        let Some(i) = token
            .strip_prefix("tok-")
            .and_then(|i| i.parse::<u32>().ok())
        else {
            assert_eq!(status, 401, "{token} is no session");
            continue;
        };
        assert_eq!(status, 200, "{token}");
        assert_eq!(
            header(&headers, "x-auth-request-user"),
            Some(i.to_string()),
            "{token}"
        );
        assert_eq!(
            header(&headers, "x-auth-request-email"),
            Some(format!("user{i}@example.com")),
            "{token}"
        );
    }
}

/// The fallback: an upstream that knows every cookie under another name ("From Auth.js"), so
/// each answer shows which source gave it.
fn auth_js_under_another_name() -> FakeUpstream {
    FakeUpstream::start(|_, _| {
        Reply::json(
            r#"{"user":{"name":"From Auth.js","email":"ada@example.com"},"expires":"2031-01-01T00:00:00.000Z"}"#,
        )
    })
}

/// `n` users with one session each (`tok-<i>`, user id `i`), written as the pg-adapter writes
/// them, through `client`.
async fn users_with_sessions(client: &tokio_postgres::Client, n: u32) {
    let mut rows = String::new();
    for i in 1..=n {
        rows += &format!(
            "INSERT INTO users (name, email) VALUES ('User {i}', 'user{i}@example.com');
             INSERT INTO sessions (\"userId\", expires, \"sessionToken\")
               VALUES ({i}, now() + interval '1 day', 'tok-{i}');"
        );
    }
    client.batch_execute(&rows).await.unwrap();
}

/// Asks for every cookie in `cookies` at once while `sessions` is locked for 300 ms by
/// `holder` (so the lookups wait for the store's connections, and go together).
async fn decide_all_behind_a_lock(
    p: &TestProxy,
    holder: &tokio_postgres::Client,
    cookies: &[String],
    hold: Duration,
) -> Vec<(u16, HeaderMap)> {
    holder
        .batch_execute("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let lookups = cookies.iter().map(|c| decide(p, c));
    let release = async {
        actix_rt::time::sleep(hold).await;
        holder.batch_execute("COMMIT").await.unwrap();
    };
    let (answers, ()) =
        futures_util::future::join(futures_util::future::join_all(lookups), release).await;
    answers
}

#[actix_web::test]
async fn a_token_the_database_can_not_hold_fails_no_other_lookup_asked_with_it() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    // A database in LATIN1: a token with an emoji can not be compared there, and the
    // statement holding it is refused whole.
    pg.exec(
        "CREATE DATABASE latin TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'",
    )
    .await;
    let url = format!("{}/latin", pg.url().rsplit_once('/').unwrap().0);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    actix_rt::spawn(async move {
        let _ = connection.await;
    });
    client.batch_execute(PG_ADAPTER_SCHEMA).await.unwrap();
    users_with_sessions(&client, 10).await;
    let absent = format!("http://127.0.0.1:{}", closed_port());
    let mut o = store_options(&absent, &pg, SchemaPreset::PgAdapter);
    if let Some(store) = &mut o.session_store.postgres {
        store.url = url.clone();
        store.pool_size = 1;
        store.statement_timeout_ms = 10_000;
    }
    let p = start(o).await;
    let mut cookies: Vec<String> = (1..=10).map(|i| format!("{COOKIE}=tok-{i}")).collect();
    cookies.push(format!("{COOKIE}=%F0%9F%98%80"));
    cookies.push(format!("{COOKIE}=%00tok-1"));
    let holder = {
        let (c, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        actix_rt::spawn(async move {
            let _ = connection.await;
        });
        c
    };
    let answers = decide_all_behind_a_lock(&p, &holder, &cookies, Duration::from_millis(300)).await;
    for (i, (status, headers)) in answers.iter().take(10).enumerate() {
        let i = i + 1;
        assert_eq!(*status, 200, "tok-{i} was failed by another lookup");
        assert_eq!(header(headers, "x-auth-request-user"), Some(i.to_string()));
    }
    assert_ne!(answers[10].0, 200, "the emoji token is no session");
    assert_eq!(answers[11].0, 401, "a token with a NUL is no session");
}

#[actix_web::test]
async fn a_statement_that_fails_for_many_lookups_counts_once_against_the_breaker() {
    if !Postgres::available() {
        return;
    }
    let pg = Postgres::start();
    pg.exec(PG_ADAPTER_SCHEMA).await;
    users_with_sessions(&pg.client().await, 10).await;
    let up = auth_js_under_another_name();
    let mut o = store_options(&up.url(), &pg, SchemaPreset::PgAdapter);
    o.circuit_breaker.consecutive_failures = 3;
    o.circuit_breaker.open_ms = 60_000;
    if let Some(store) = &mut o.session_store.postgres {
        store.pool_size = 1;
        store.statement_timeout_ms = 300;
    }
    let p = start(o).await;
    // Ten lookups, two statements (one alone, then nine together), both cancelled by the
    // statement timeout behind the lock: two failures, not ten.
    let cookies: Vec<String> = (1..=10).map(|i| format!("{COOKIE}=tok-{i}")).collect();
    let holder = pg.client().await;
    let answers = decide_all_behind_a_lock(&p, &holder, &cookies, Duration::from_millis(900)).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "the fallback answered"
    );
    assert!(up.count() >= 10);
    let asked = up.count();
    assert_eq!(
        session_json(&p, &format!("{COOKIE}=tok-3")).await["user"]["name"],
        "User 3",
        "the circuit stayed closed: the database answers again"
    );
    assert_eq!(up.count(), asked);
}

#[actix_web::test]
async fn postgres_stopped_mid_run_falls_back_to_the_upstream_then_recovers() {
    if !Postgres::available() {
        return;
    }
    let mut pg = Postgres::start();
    pg.exec(PG_ADAPTER_SCHEMA).await;
    pg.exec(
        "INSERT INTO users (name, email) VALUES ('Ada Lovelace', 'ada@example.com');
         INSERT INTO sessions (\"userId\", expires, \"sessionToken\")
           VALUES (1, now() + interval '1 day', 'tok-ada');",
    )
    .await;
    let up = auth_js_under_another_name();
    let mut o = store_options(&up.url(), &pg, SchemaPreset::PgAdapter);
    o.circuit_breaker.consecutive_failures = 2;
    o.circuit_breaker.open_ms = 200;
    o.circuit_breaker.half_open_probes = 1;
    let p = start(o).await;
    let cookie = format!("{COOKIE}=tok-ada");
    let name = async |p: &TestProxy| session_json(p, &cookie).await["user"]["name"].clone();
    assert_eq!(name(&p).await, "Ada Lovelace");
    assert_eq!(up.count(), 0);

    pg.stop();
    for _ in 0..4 {
        assert_eq!(name(&p).await, "From Auth.js");
    }
    assert_eq!(decide(&p, &cookie).await.0, 200);
    assert!(up.count() >= 5);

    pg.restart();
    let mut recovered = false;
    for _ in 0..100 {
        if name(&p).await == "Ada Lovelace" {
            recovered = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recovered,
        "the store never answered again after PostgreSQL came back"
    );
    let asked = up.count();
    assert_eq!(name(&p).await, "Ada Lovelace");
    assert_eq!(
        up.count(),
        asked,
        "the upstream was asked although the store answered"
    );
}

#[actix_web::test]
async fn a_table_name_that_is_not_an_identifier_is_refused_naming_the_field() {
    let proxy = AuthProxy::start();
    let mut o = options("http://127.0.0.1:9");
    o.session_strategy = Some(SessionStrategy::Database);
    o.session_store.postgres = Some(PostgresOptions {
        url: "postgres://app:hunter2@db.internal/auth".into(),
        schema: SchemaOptions(SchemaFields {
            sessions_table: Some("sessions; DROP TABLE users".into()),
            ..SchemaFields::default()
        }),
        ..PostgresOptions::default()
    });
    let e = proxy.configure(o).await.unwrap_err();
    assert_eq!(e.field, "session_store.postgres.schema.sessions_table");
    assert!(!e.to_string().contains("hunter2"));
}

/// `check-config --connect` on a file whose session store is `url`: exit code and stdout.
async fn check_connect(url: &str) -> (Option<i32>, String) {
    let dir = Scratch::new("db-check");
    let body = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\n[proxy]\nbase_url = \"http://127.0.0.1:{}\"\n\
         session_strategy = \"database\"\n[proxy.session_store.postgres]\nurl = \"{url}\"\n\
         schema = \"pg-adapter\"\n",
        closed_port(),
        closed_port()
    );
    let path = dir.write("c.toml", &body);
    let out = actix_rt::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_authjs-proxy"))
            .args([
                "--config",
                path.to_str().unwrap(),
                "check-config",
                "--connect",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[actix_web::test]
async fn check_config_connect_says_whether_the_session_store_answered() {
    if !Postgres::available() {
        return;
    }
    let mut pg = Postgres::start();
    pg.exec(PG_ADAPTER_SCHEMA).await;
    let (_, out) = check_connect(&pg.url()).await;
    let line = out
        .lines()
        .find(|l| l.starts_with("postgres"))
        .unwrap_or_default();
    assert!(line.contains("answered the session lookup"), "{out}");
    pg.stop();
    let (code, out) = check_connect(&pg.url()).await;
    let line = out
        .lines()
        .find(|l| l.starts_with("postgres"))
        .unwrap_or_default();
    assert!(line.contains("NOT REACHED"), "{out}");
    assert_eq!(code, Some(1));
}
