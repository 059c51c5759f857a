//! Operating the service (issue #11): metrics, readiness, reload, request ids, logs, TLS,
//! and `Cache-Control` on auth answers. Certificates are generated at test time (`rcgen`);
//! everything listens on loopback.

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header::HeaderMap;
use actix_web::middleware::from_fn;
use actix_web::test as web_test;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use authjs_proxy::admin::health::Health;
use authjs_proxy::admin::reload::Reloader;
use authjs_proxy::admin::routes::AdminState;
use authjs_proxy::config::FileConfig;
use authjs_proxy::{AuthProxy, Scheme};
use common::service::*;
use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

// ---------------------------------------------------------------- fixtures

/// A scratch directory for `name`, removed when dropped.
fn scratch(name: &str) -> common::Scratch {
    common::Scratch::new(&format!("ops-{name}"))
}

fn write(dir: &Path, file: &str, body: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, body).unwrap();
    p
}

type Ca = CertifiedIssuer<'static, KeyPair>;

fn new_ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf for 127.0.0.1/localhost signed by `ca`: (certificate PEM, key PEM).
fn leaf(ca: &Ca, purpose: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut p =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "authjs-proxy test");
    p.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca_pem) {
        roots.add(c).unwrap();
    }
    roots
}

/// An https client trusting only `ca_pem`, never following redirects.
fn https_client(ca_pem: &str) -> awc::Client {
    awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(20))
        .connector(awc::Connector::new().rustls_0_23(client_tls(ca_pem)))
        .finish()
}

/// A rustls client configuration trusting only `ca_pem`.
fn client_tls(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(ca_pem))
            .with_no_client_auth(),
    )
}

/// An https upstream answering `{"ok":true}`; with `client_ca`, it requires a client
/// certificate signed by it.
struct TlsUpstream {
    addr: SocketAddr,
    seen: Arc<AtomicUsize>,
    handle: ServerHandle,
}

impl TlsUpstream {
    fn start(cert_pem: &str, key_pem: &str, client_ca: Option<&str>) -> Self {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(ca) => builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(ca)),
                    provider(),
                )
                .build()
                .unwrap(),
            ),
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(
                certs(cert_pem),
                PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap(),
            )
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = web::Data::new(seen.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(counter.clone())
                .default_service(web::to(|seen: web::Data<Arc<AtomicUsize>>| async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    HttpResponse::Ok().json(serde_json::json!({ "ok": true }))
                }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen_rustls_0_23(listener, config)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        TlsUpstream { addr, seen, handle }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn count(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Stops the child when the test ends, passed or failed.
/// Sends `req`; answers the status, the headers and the body as JSON (`Null` when not JSON).
async fn exchange(req: awc::ClientRequest) -> (u16, HeaderMap, serde_json::Value) {
    let mut res = req.send().await.unwrap();
    let body = res.body().await.unwrap();
    (
        res.status().as_u16(),
        res.headers().clone(),
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// Prometheus text exposition → `name{labels}` → value. Every sample line must parse.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect("`name value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        out.insert(key.to_owned(), value);
    }
    out
}

// ---------------------------------------------------------------- metrics, readiness, reload

#[actix_web::test]
async fn metrics_are_scraped_and_parsed_after_real_traffic() {
    let up = FakeUpstream::start(|rec, _| {
        if rec.path_and_query.ends_with("/session") {
            Reply::json(r#"{"user":{"name":"Ada"},"expires":"2030-01-01T00:00:00.000Z"}"#)
        } else {
            Reply::json(r#"{"csrfToken":"t"}"#)
                .header("set-cookie", "authjs.csrf-token=t%7Ch; Path=/; HttpOnly")
        }
    });
    let (listen, admin) = (local(), local());
    let dir = scratch("metrics");
    let path = write(
        &dir,
        "c.toml",
        &config(
            &listen,
            &up.url(),
            &format!("[admin]\nlisten = \"{admin}\"\n"),
        ),
    );
    let running = Running::start(&path, &[]);
    let c = client();
    assert!(answers(&c, &format!("http://{admin}/readyz"), 200).await);
    for _ in 0..2 {
        assert_eq!(
            status_of(&c, &format!("http://{listen}/api/auth/csrf")).await,
            Some(200)
        );
    }
    assert_eq!(
        status_of(&c, &format!("http://{listen}/api/auth/session")).await,
        Some(200)
    );
    assert_eq!(
        status_of(&c, &format!("http://{listen}/api/auth/no-such-route-x7")).await,
        Some(404)
    );
    let (status, _, _) = exchange(c.post(format!("http://{admin}/reload"))).await;
    assert_eq!(status, 200);

    let mut res = c
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    let m = parse_metrics(&text);
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("{k} missing in\n{text}"));
    assert_eq!(
        get(r#"authjs_proxy_requests_total{route="auth/csrf",method="GET",status="200"}"#),
        2.0
    );
    assert_eq!(
        get(r#"authjs_proxy_requests_total{route="auth/session",method="GET",status="200"}"#),
        1.0
    );
    assert_eq!(
        get(r#"authjs_proxy_request_duration_seconds_count{route="auth/csrf"}"#),
        2.0
    );
    assert_eq!(
        get(r#"authjs_proxy_upstream_requests_total{outcome="ok"}"#),
        3.0
    );
    assert_eq!(get("authjs_proxy_upstream_duration_seconds_count"), 3.0);
    assert_eq!(get("authjs_proxy_upstream_in_flight"), 0.0);
    assert_eq!(get("authjs_proxy_config_generation"), 2.0);
    assert_eq!(
        get(r#"authjs_proxy_config_reloads_total{result="ok"}"#),
        1.0
    );
    assert_eq!(
        get(&format!(
            "authjs_proxy_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert!(
        !text.contains("no-such-route-x7"),
        "raw paths are never labels"
    );
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let parts: Vec<&str> = line.split(' ').collect();
        assert!(parts[2].starts_with("authjs_proxy_"), "{line}");
        if parts[3] == "counter" {
            assert!(parts[2].ends_with("_total"), "{line}");
        }
    }

    let (clean, stderr) = running.stop().await;
    assert!(clean);
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI escapes when stderr is not a terminal:\n{stderr}"
    );
}

#[actix_web::test]
async fn readiness_flips_on_sigterm_while_the_proxy_keeps_serving() {
    let up = FakeUpstream::ok();
    let (listen, admin) = (local(), local());
    let dir = scratch("drain");
    let path = write(
        &dir,
        "c.toml",
        &config(
            &listen,
            &up.url(),
            &format!("[admin]\nlisten = \"{admin}\"\ndrain_ms = 5000\n"),
        ),
    );
    let running = Running::start(&path, &[]);
    let c = client();
    let readyz = format!("http://{admin}/readyz");
    assert!(answers(&c, &readyz, 200).await, "ready once configured");
    let (_, _, body) = exchange(c.get(&readyz)).await;
    assert_eq!(body["status"], "ready");
    let (status, _, body) = exchange(c.get(format!("http://{admin}/healthz"))).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &serde_json::json!("alive"))
    );

    running.signal("-TERM");
    assert!(answers(&c, &readyz, 503).await, "not ready after SIGTERM");
    let (_, _, body) = exchange(c.get(&readyz)).await;
    assert_eq!(body["reason"], "draining");
    assert_eq!(
        status_of(&c, &format!("http://{listen}/api/auth/csrf")).await,
        Some(200),
        "still serving while draining"
    );
    let (clean, _) = running.stop().await;
    assert!(clean, "the service exits cleanly after the drain");
}

#[actix_web::test]
async fn reload_endpoint_requires_the_admin_token_when_one_is_set() {
    let (first, second) = (FakeUpstream::ok(), FakeUpstream::ok());
    let (listen, admin) = (local(), local());
    let dir = scratch("reload-token");
    let extra = format!("[admin]\nlisten = \"{admin}\"\ntoken = \"t0ken-for-tests\"\n");
    let path = write(&dir, "c.toml", &config(&listen, &first.url(), &extra));
    let running = Running::start(&path, &[]);
    let c = client();
    assert!(answers(&c, &format!("http://{admin}/readyz"), 200).await);
    write(&dir, "c.toml", &config(&listen, &second.url(), &extra));
    let reload = format!("http://{admin}/reload");

    let (status, headers, _) = exchange(c.post(&reload)).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    let (status, _, _) = exchange(
        c.post(&reload)
            .insert_header(("authorization", "Bearer wrong")),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        status_of(&c, &format!("http://{listen}/api/auth/csrf")).await,
        Some(200)
    );
    assert_eq!((first.count(), second.count()), (1, 0), "nothing reloaded");

    let (status, _, body) = exchange(
        c.post(&reload)
            .insert_header(("authorization", "Bearer t0ken-for-tests")),
    )
    .await;
    assert_eq!((status, body["generation"].as_u64()), (200, Some(2)));
    assert_eq!(
        status_of(&c, &format!("http://{listen}/api/auth/csrf")).await,
        Some(200)
    );
    assert_eq!(second.count(), 1, "the reloaded upstream gets the traffic");
    let (clean, stderr) = running.stop().await;
    assert!(clean);
    assert!(
        !stderr.contains("t0ken-for-tests"),
        "the token is never logged"
    );
}

/// Admin routes' state in process, for a `Reloader` reading `path`.
async fn admin_state(path: &Path, token: Option<&str>, loopback: bool) -> AdminState {
    let file = FileConfig::load(path).unwrap();
    let proxy = AuthProxy::start();
    proxy.configure(file.proxy.clone()).await.unwrap();
    AdminState {
        proxy: proxy.clone(),
        health: Health::default(),
        reloader: Arc::new(Reloader::new(
            proxy.clone(),
            Some(path.to_owned()),
            &file,
            None,
            None,
        )),
        token: token.map(str::to_owned),
        loopback,
    }
}

#[actix_web::test]
async fn reload_endpoint_without_token_works_on_loopback_and_keeps_config_on_errors() {
    let dir = scratch("reload-loopback");
    let path = write(
        &dir,
        "c.toml",
        &config(&local(), "http://127.0.0.1:4001", ""),
    );
    let state = admin_state(&path, None, true).await;
    let proxy = state.proxy.clone();
    let app =
        web_test::init_service(App::new().configure(authjs_proxy::admin::routes::configure(state)))
            .await;
    let res = web_test::call_service(
        &app,
        web_test::TestRequest::post().uri("/reload").to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(proxy.config().unwrap().generation, 2);

    write(&dir, "c.toml", &config(&local(), "ftp://nope", ""));
    let res = web_test::call_service(
        &app,
        web_test::TestRequest::post().uri("/reload").to_request(),
    )
    .await;
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = web_test::read_body_json(res).await;
    assert!(
        body["error"].as_str().unwrap().contains("base_url"),
        "{body}"
    );
    assert_eq!(proxy.config().unwrap().generation, 2, "configuration kept");
}

/// A token of `sub`, issued now, in a `Cookie` header.
fn token_of(sub: &str) -> HeaderMap {
    let claims = serde_json::json!({"sub": sub});
    let tok = authjs_proxy::token::encode_with_secret(
        claims.as_object().unwrap(),
        "ops-secret",
        "authjs.session-token",
        3600,
    );
    let mut h = HeaderMap::new();
    h.insert(
        actix_web::http::header::COOKIE,
        format!("authjs.session-token={tok}").parse().unwrap(),
    );
    h
}

#[actix_web::test]
async fn sessions_revoke_signs_a_subject_out_everywhere_and_lists_it() {
    let dir = scratch("revoke");
    let extra = "secret = \"ops-secret\"\n";
    let path = write(
        &dir,
        "c.toml",
        &config(&local(), "http://127.0.0.1:4001", extra),
    );
    let state = admin_state(&path, Some("t0ken"), false).await;
    let proxy = state.proxy.clone();
    let app =
        web_test::init_service(App::new().configure(authjs_proxy::admin::routes::configure(state)))
            .await;
    let (ada, grace) = (token_of("u-ada"), token_of("u-grace"));
    let post = |auth: Option<&str>, body: &str| {
        let mut r = web_test::TestRequest::post()
            .uri("/sessions/revoke")
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_owned());
        if let Some(a) = auth {
            r = r.insert_header(("authorization", a.to_owned()));
        }
        r.to_request()
    };
    let later = authjs_proxy::token::now_secs() + 5;

    let res = web_test::call_service(&app, post(None, r#"{"sub":"u-ada"}"#)).await;
    assert_eq!(res.status(), 401);
    let body = format!(r#"{{"sub":"u-ada","before":{later}}}"#);
    let res = web_test::call_service(&app, post(Some("Bearer t0ken"), &body)).await;
    assert_eq!(res.status(), 200);
    let answer: serde_json::Value = web_test::read_body_json(res).await;
    assert_eq!(
        (answer["sub"].as_str(), answer["before"].as_u64()),
        (Some("u-ada"), Some(later))
    );

    let token = |h: HeaderMap| {
        let proxy = proxy.clone();
        async move { proxy.get_token(&h, Scheme::Http, false).await.unwrap() }
    };
    assert_eq!(token(ada).await, None, "every token of u-ada issued before");
    assert!(token(grace).await.is_some(), "another subject");

    let list = web_test::TestRequest::get()
        .uri("/sessions/revoke")
        .insert_header(("authorization", "Bearer t0ken"))
        .to_request();
    let res = web_test::call_service(&app, list).await;
    assert_eq!(res.status(), 200);
    let listed: serde_json::Value = web_test::read_body_json(res).await;
    assert_eq!(listed["subjects"][0]["sub"], "u-ada");
    assert_eq!(listed["subjects"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn sessions_revoke_refuses_a_bad_body_naming_the_field() {
    let dir = scratch("revoke-bad");
    let path = write(
        &dir,
        "c.toml",
        &config(&local(), "http://127.0.0.1:4001", ""),
    );
    let state = admin_state(&path, None, true).await;
    let app =
        web_test::init_service(App::new().configure(authjs_proxy::admin::routes::configure(state)))
            .await;
    let req = web_test::TestRequest::post()
        .uri("/sessions/revoke")
        .set_payload(r#"{"before":"soon"}"#)
        .to_request();
    let res = web_test::call_service(&app, req).await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = web_test::read_body_json(res).await;
    assert!(
        body["error"].as_str().unwrap().contains("\"sub\""),
        "{body}"
    );
    let req = web_test::TestRequest::delete()
        .uri("/sessions/revoke")
        .to_request();
    let res = web_test::call_service(&app, req).await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get("allow").unwrap(), "GET, POST");
}

#[actix_web::test]
async fn reload_without_a_token_refuses_a_cross_site_browser_request() {
    let dir = scratch("reload-csrf");
    let path = write(
        &dir,
        "c.toml",
        &config(&local(), "http://127.0.0.1:4001", ""),
    );
    let state = admin_state(&path, None, true).await;
    let proxy = state.proxy.clone();
    let app =
        web_test::init_service(App::new().configure(authjs_proxy::admin::routes::configure(state)))
            .await;
    let post = |headers: &[(&'static str, &'static str)]| {
        let mut req = web_test::TestRequest::post()
            .uri("/reload")
            .insert_header(("host", "127.0.0.1:9090"));
        for h in headers {
            req = req.insert_header(*h);
        }
        req.to_request()
    };
    // A page on another site posting to the loopback admin listener (the browser adds these).
    for headers in [
        &[("origin", "https://evil.example")][..],
        &[("origin", "null")],
        &[
            ("origin", "http://127.0.0.1:9090"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[("sec-fetch-site", "same-site")],
    ] {
        let res = web_test::call_service(&app, post(headers)).await;
        assert_eq!(res.status(), 403, "{headers:?}");
    }
    assert_eq!(proxy.config().unwrap().generation, 1, "nothing reloaded");
    // curl, scripts, and the admin listener's own page still reload.
    for headers in [
        &[][..],
        &[
            ("origin", "http://127.0.0.1:9090"),
            ("sec-fetch-site", "same-origin"),
        ],
    ] {
        let res = web_test::call_service(&app, post(headers)).await;
        assert_eq!(res.status(), 200, "{headers:?}");
    }
}

#[actix_web::test]
async fn an_admin_token_added_by_a_reload_guards_the_next_reload() {
    let dir = scratch("reload-adds-token");
    let listen = local();
    let path = write(
        &dir,
        "c.toml",
        &config(&listen, "http://127.0.0.1:4001", ""),
    );
    let state = admin_state(&path, None, true).await;
    let app =
        web_test::init_service(App::new().configure(authjs_proxy::admin::routes::configure(state)))
            .await;
    let reload = || web_test::TestRequest::post().uri("/reload");
    write(
        &dir,
        "c.toml",
        &config(
            &listen,
            "http://127.0.0.1:4001",
            "[admin]\ntoken = \"t0k3n\"\n",
        ),
    );
    let res = web_test::call_service(&app, reload().to_request()).await;
    assert_eq!(res.status(), 200);
    let res = web_test::call_service(&app, reload().to_request()).await;
    assert_eq!(res.status(), 401, "the reloaded token is required now");
    let res = web_test::call_service(
        &app,
        reload()
            .insert_header(("authorization", "Bearer t0k3n"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn a_reload_that_needs_a_restart_is_409_naming_the_keys_and_applies_nothing() {
    let dir = scratch("reload-restart");
    let listen = local();
    let path = write(
        &dir,
        "c.toml",
        &config(&listen, "http://127.0.0.1:4001", ""),
    );
    let state = admin_state(&path, None, true).await;
    let proxy = state.proxy.clone();
    let app =
        web_test::init_service(App::new().configure(authjs_proxy::admin::routes::configure(state)))
            .await;
    // A new upstream (reloadable) together with a new listen address and log format (not).
    let changed = config(
        &local(),
        "http://127.0.0.1:4002",
        "[log]\nformat = \"json\"\n",
    );
    write(&dir, "c.toml", &changed);
    let res = web_test::call_service(
        &app,
        web_test::TestRequest::post().uri("/reload").to_request(),
    )
    .await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = web_test::read_body_json(res).await;
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("server.listen") && error.contains("log.format"),
        "{error}"
    );
    let cfg = proxy.config().unwrap();
    assert_eq!(
        (cfg.generation, cfg.upstream.origin.as_str()),
        (1, "http://127.0.0.1:4001")
    );
}

#[actix_web::test]
async fn get_on_reload_is_405_naming_post() {
    let dir = scratch("reload-get");
    let path = write(
        &dir,
        "c.toml",
        &config(&local(), "http://127.0.0.1:4001", ""),
    );
    let state = admin_state(&path, None, true).await;
    let app =
        web_test::init_service(App::new().configure(authjs_proxy::admin::routes::configure(state)))
            .await;
    let res = web_test::call_service(
        &app,
        web_test::TestRequest::get().uri("/reload").to_request(),
    )
    .await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get("allow").unwrap(), "POST");
}

#[actix_web::test]
async fn reload_endpoint_is_refused_off_loopback_without_a_token() {
    let dir = scratch("reload-open");
    let path = write(
        &dir,
        "c.toml",
        &config(&local(), "http://127.0.0.1:4001", ""),
    );
    let state = admin_state(&path, None, false).await;
    let proxy = state.proxy.clone();
    let app =
        web_test::init_service(App::new().configure(authjs_proxy::admin::routes::configure(state)))
            .await;
    let res = web_test::call_service(
        &app,
        web_test::TestRequest::post().uri("/reload").to_request(),
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(proxy.config().unwrap().generation, 1);
    let res = web_test::call_service(
        &app,
        web_test::TestRequest::get().uri("/metrics").to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn readiness_is_this_replicas_and_reports_the_upstream_breaker_in_the_body() {
    let file = FileConfig::default();
    let proxy = AuthProxy::start();
    let health = Health::default();
    let state = AdminState {
        proxy: proxy.clone(),
        health: health.clone(),
        reloader: Arc::new(Reloader::new(proxy.clone(), None, &file, None, None)),
        token: None,
        loopback: true,
    };
    let app =
        web_test::init_service(App::new().configure(authjs_proxy::admin::routes::configure(state)))
            .await;
    let ready = || web_test::TestRequest::get().uri("/readyz").to_request();
    let res = web_test::call_service(&app, ready()).await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = web_test::read_body_json(res).await;
    assert_eq!(body["reason"], "unconfigured");

    // An upstream that refuses connections: one failure opens the breaker.
    let mut o = options(&format!("http://127.0.0.1:{}", closed_port()));
    o.circuit_breaker.consecutive_failures = 1;
    o.retry.max_attempts = 1;
    proxy.configure(o).await.unwrap();
    let res = web_test::call_service(&app, ready()).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = web_test::read_body_json(res).await;
    assert_eq!(body["upstream"]["breaker"], "closed");

    let _ = proxy
        .get_server_session(&Default::default(), Scheme::Http)
        .await;
    assert_eq!(
        proxy.upstream_health().unwrap().breaker,
        authjs_proxy::resilience::BreakerState::Open
    );
    let res = web_test::call_service(&app, ready()).await;
    assert_eq!(
        res.status(),
        200,
        "an open upstream breaker is not this replica's trouble"
    );
    let body: serde_json::Value = web_test::read_body_json(res).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["upstream"]["breaker"], "open");

    health.start_draining();
    let res = web_test::call_service(&app, ready()).await;
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = web_test::read_body_json(res).await;
    assert_eq!(body["reason"], "draining");
}

// ---------------------------------------------------------------- request ids and logs

/// How an app wraps the request-id middleware.
#[derive(Clone, Copy)]
enum IdWrapper {
    /// `RequestIds`, the `Transform` the binary uses.
    Transform,
    /// `from_fn(middleware)`.
    FromFn,
}

/// The proxy with the request-id middleware wrapped as `how`.
fn serve_with_request_ids(proxy: AuthProxy, how: IdWrapper) -> (SocketAddr, ServerHandle) {
    use actix_web::middleware::Condition;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let from_fn_wrapped = matches!(how, IdWrapper::FromFn);
        App::new()
            .wrap(Condition::new(
                from_fn_wrapped,
                from_fn(authjs_proxy::http::request_id::middleware),
            ))
            .wrap(Condition::new(
                !from_fn_wrapped,
                authjs_proxy::http::request_id::RequestIds,
            ))
            .configure(authjs_proxy::configure(proxy.clone()))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (addr, handle)
}

#[actix_web::test]
async fn request_id_travels_upstream_and_back_through_request_ids() {
    request_id_round_trip(IdWrapper::Transform).await;
}

#[actix_web::test]
async fn request_id_travels_upstream_and_back_through_from_fn() {
    request_id_round_trip(IdWrapper::FromFn).await;
}

async fn request_id_round_trip(how: IdWrapper) {
    let up = FakeUpstream::ok();
    let proxy = AuthProxy::start();
    proxy.configure(options(&up.url())).await.unwrap();
    let (addr, handle) = serve_with_request_ids(proxy, how);
    let c = client();
    let url = format!("http://{addr}/api/auth/csrf");

    let (_, headers, _) =
        exchange(c.get(&url).insert_header(("x-request-id", "client-id-42"))).await;
    assert_eq!(headers.get("x-request-id").unwrap(), "client-id-42");
    assert_eq!(
        up.last().header("x-request-id").as_deref(),
        Some("client-id-42")
    );

    let odd = "has spaces and is not a token";
    let (_, headers, _) = exchange(c.get(&url).insert_header(("x-request-id", odd))).await;
    let generated = headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(generated, odd);
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    assert_eq!(up.last().header("x-request-id"), Some(generated.clone()));

    let (_, headers, _) = exchange(c.get(&url)).await;
    let fresh = headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, generated, "a new id per request");

    let (status, headers, body) = exchange(
        c.get(format!("http://{addr}/api/auth/not-a-route"))
            .insert_header(("x-request-id", "err-7")),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(headers.get("x-request-id").unwrap(), "err-7");
    assert_eq!(
        body["request_id"], "err-7",
        "JSON error bodies carry the id"
    );
    handle.stop(false).await;
}

#[actix_web::test]
async fn json_log_lines_carry_the_request_id_and_never_codes_cookies_or_header_values() {
    let up = FakeUpstream::start(|_, _| Reply::status(302).header("location", "http://app.test/"));
    let listen = local();
    let dir = scratch("json-logs");
    let path = write(
        &dir,
        "c.toml",
        &config(
            &listen,
            &up.url(),
            "[proxy.headers]\nX-Api-Key = \"HEADERVALUE-9\"\n[log]\nformat = \"json\"\n",
        ),
    );
    let running = Running::start(&path, &[]);
    let c = client();
    assert!(answers(&c, &format!("http://{listen}/healthz"), 200).await);
    let (status, _, _) = exchange(
        c.get(format!(
            "http://{listen}/api/auth/callback/github?code=ONE-TIME-CODE-1&state=S"
        ))
        .insert_header(("x-request-id", "trace-me-1"))
        .insert_header(("cookie", "authjs.session-token=COOKIEVALUE-3")),
    )
    .await;
    assert_eq!(status, 302);
    let (clean, stderr) = running.stop().await;
    assert!(clean);

    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["target"] == "authjs_proxy::access" && l["span"]["request_id"] == "trace-me-1")
        .unwrap_or_else(|| panic!("no access line for trace-me-1 in\n{stderr}"));
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["route"], "auth/callback/{provider}");
    assert_eq!(access["status"], 302);
    assert_eq!(access["upstream_attempts"], 1);
    assert!(access["duration_ms"].is_number());
    for secret in ["ONE-TIME-CODE-1", "COOKIEVALUE-3", "HEADERVALUE-9"] {
        assert!(!stderr.contains(secret), "{secret} logged:\n{stderr}");
    }
}

// ---------------------------------------------------------------- Cache-Control

#[actix_web::test]
async fn auth_answers_with_a_cookie_or_a_session_are_private_and_not_stored() {
    let up = FakeUpstream::start(|rec, _| match rec.path_and_query.as_str() {
        "/api/auth/session" => {
            Reply::json(r#"{"user":{"name":"Ada"},"expires":"2030-01-01T00:00:00.000Z"}"#)
        }
        "/api/auth/csrf" => Reply::json(r#"{"csrfToken":"t"}"#)
            .header("cache-control", "public, max-age=600")
            .header("set-cookie", "authjs.csrf-token=t%7Ch; Path=/"),
        "/api/auth/signout" => Reply::json("{}")
            .header("cache-control", "private, no-cache, no-store")
            .header("set-cookie", "authjs.session-token=; Max-Age=0"),
        _ => Reply::json("{}").header("cache-control", "public, max-age=60"),
    });
    let p = TestProxy::start(Some(options(&up.url()))).await;
    let cc = |r: &awc::ClientResponse| {
        r.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let session = p.get("/api/auth/session").await;
    assert_eq!(cc(&session).as_deref(), Some("private, no-store"));
    let csrf = p.get("/api/auth/csrf").await;
    assert_eq!(cc(&csrf).as_deref(), Some("private, no-store"));
    let signout = p.get("/api/auth/signout").await;
    assert_eq!(
        cc(&signout).as_deref(),
        Some("private, no-cache, no-store"),
        "Auth.js's own value stays"
    );
    let providers = p.get("/api/auth/providers").await;
    assert_eq!(
        cc(&providers).as_deref(),
        Some("public, max-age=60"),
        "no cookie, no session: left alone"
    );
}

// ---------------------------------------------------------------- TLS to the upstream

#[actix_web::test]
async fn upstream_with_a_custom_ca_is_trusted_via_ca_file() {
    let ca = new_ca("upstream CA");
    let (cert, key) = leaf(&ca, ExtendedKeyUsagePurpose::ServerAuth);
    let up = TlsUpstream::start(&cert, &key, None);
    let dir = scratch("custom-ca");
    let mut o = options(&up.url());
    o.tls.ca_file = Some(write(&dir, "ca.pem", &ca.pem()));
    let p = TestProxy::start(Some(o)).await;
    assert_eq!(p.get("/api/auth/csrf").await.status(), 200);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn upstream_with_an_unknown_ca_gets_a_clear_502_and_log_line() {
    let ca = new_ca("unknown CA");
    let (cert, key) = leaf(&ca, ExtendedKeyUsagePurpose::ServerAuth);
    let up = TlsUpstream::start(&cert, &key, None);
    let listen = local();
    let dir = scratch("unknown-ca");
    let path = write(&dir, "c.toml", &config(&listen, &up.url(), ""));
    // At `warn` the request id still marks the lines that are written.
    let running = Running(
        Command::new(BIN)
            .args(["--config", path.to_str().unwrap(), "--log-format", "json"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let c = client();
    assert!(answers(&c, &format!("http://{listen}/healthz"), 200).await);
    let (status, _, body) = exchange(
        c.get(format!("http://{listen}/api/auth/csrf"))
            .insert_header(("x-request-id", "tls-fail-1")),
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "auth upstream TLS handshake failed");
    assert_eq!(body["request_id"], "tls-fail-1");
    assert_eq!(up.count(), 0, "no request reached the upstream");
    let (_, stderr) = running.stop().await;
    let line = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "upstream TLS handshake failed")
        .unwrap_or_else(|| panic!("no TLS log line in\n{stderr}"));
    assert!(
        line["reason"].as_str().unwrap().contains("UnknownIssuer"),
        "{line}"
    );
    assert_eq!(line["span"]["request_id"], "tls-fail-1", "{line}");
}

#[actix_web::test]
async fn upstream_requiring_mtls_gets_the_configured_client_certificate() {
    let ca = new_ca("mtls CA");
    let (cert, key) = leaf(&ca, ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf(&ca, ExtendedKeyUsagePurpose::ClientAuth);
    let up = TlsUpstream::start(&cert, &key, Some(&ca.pem()));
    let dir = scratch("mtls");
    let mut o = options(&up.url());
    o.tls.ca_file = Some(write(&dir, "ca.pem", &ca.pem()));

    let without = TestProxy::start(Some(o.clone())).await;
    let mut res = without.get("/api/auth/csrf").await;
    assert_eq!(res.status(), 502);
    let body: serde_json::Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
    assert_eq!(body["error"], "auth upstream TLS handshake failed");
    assert_eq!(up.count(), 0, "refused without a client certificate");

    o.tls.client_cert_file = Some(write(&dir, "client.pem", &client_cert));
    o.tls.client_key_file = Some(write(&dir, "client.key", &client_key));
    let with = TestProxy::start(Some(o)).await;
    assert_eq!(with.get("/api/auth/csrf").await.status(), 200);
    assert_eq!(up.count(), 1);
}

#[actix_web::test]
async fn insecure_skip_verify_reaches_a_loopback_upstream_with_any_certificate() {
    let ca = new_ca("self-made CA");
    let (cert, key) = leaf(&ca, ExtendedKeyUsagePurpose::ServerAuth);
    let up = TlsUpstream::start(&cert, &key, None);
    let mut o = options(&up.url());
    o.tls.insecure_skip_verify = true;
    let p = TestProxy::start(Some(o)).await;
    assert_eq!(p.get("/api/auth/csrf").await.status(), 200);
}

fn check_config(body: &str, name: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = scratch("check");
    let path = write(&dir, &format!("{name}.toml"), body);
    let out = Command::new(BIN)
        .args(["--config", path.to_str().unwrap()])
        .args(args)
        .arg("check-config")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tls_and_admin_settings_are_validated_naming_the_field() {
    let remote = "https://auth.example.com";
    let cases = [
        (
            "insecure-remote",
            config(
                "127.0.0.1:1",
                remote,
                "[proxy.tls]\ninsecure_skip_verify = true\n",
            ),
            "tls.insecure_skip_verify",
        ),
        (
            "cert-without-key",
            config(
                "127.0.0.1:1",
                remote,
                "[proxy.tls]\nclient_cert_file = \"/nonexistent.pem\"\n",
            ),
            "tls.client_key_file",
        ),
        (
            "missing-ca",
            config(
                "127.0.0.1:1",
                remote,
                "[proxy.tls]\nca_file = \"/nonexistent/ca.pem\"\n",
            ),
            "tls.ca_file",
        ),
        (
            "listener-cert",
            config(
                "127.0.0.1:1",
                remote,
                "[server.tls]\ncert_file = \"/nonexistent.pem\"\nkey_file = \"/nonexistent.key\"\n",
            ),
            "server.tls.cert_file",
        ),
        (
            "admin-listen",
            config(
                "127.0.0.1:1",
                remote,
                "[admin]\nlisten = \"nine-thousand\"\n",
            ),
            "admin.listen",
        ),
        (
            "admin-same-port",
            config("127.0.0.1:1", remote, "[admin]\nlisten = \"127.0.0.1:1\"\n"),
            "admin.listen",
        ),
        (
            "log-format",
            config("127.0.0.1:1", remote, "[log]\nformat = \"xml\"\n"),
            "log",
        ),
    ];
    for (name, body, field) in cases {
        let (code, err) = check_config(&body, name, &[]);
        assert_eq!(code, Some(64), "{name}: {err}");
        assert!(
            err.contains("invalid configuration") && err.contains(field),
            "{name}: {err}"
        );
    }
    let (code, err) = check_config(
        &config(
            "127.0.0.1:1",
            remote,
            "[proxy.tls]\ninsecure_skip_verify = true\n",
        ),
        "insecure-allowed",
        &["--allow-insecure"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("NOT verified"), "a loud warning: {err}");
}

// ---------------------------------------------------------------- https listener

async fn whoami(req: HttpRequest) -> HttpResponse {
    match authjs_proxy::get_token(&req, false).await {
        Ok(Some(authjs_proxy::Token::Claims(c))) => HttpResponse::Ok().json(&c.0),
        Ok(_) => HttpResponse::Ok().json(serde_json::Value::Null),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

#[actix_web::test]
async fn https_listener_sends_forwarded_proto_https_and_counts_only_secure_cookies() {
    let ca = new_ca("listener CA");
    let (cert, key) = leaf(&ca, ExtendedKeyUsagePurpose::ServerAuth);
    let dir = scratch("https-inproc");
    let tls = authjs_proxy::config::ServerTlsOptions {
        cert_file: write(&dir, "cert.pem", &cert),
        key_file: write(&dir, "key.pem", &key),
    };
    let store = authjs_proxy::tls::CertStore::load(&tls).unwrap();
    let up = FakeUpstream::ok();
    let secret = "s3cret-for-https-tests";
    let mut o = options(&up.url());
    o.secret = Some(authjs_proxy::config::Secret::One(secret.into()));
    let proxy = AuthProxy::start();
    proxy.configure(o).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .route("/whoami", web::get().to(whoami))
            .configure(authjs_proxy::configure(proxy.clone()))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen_rustls_0_23(listener, store.server_config())
    .unwrap()
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);

    let c = https_client(&ca.pem());
    let (status, _, _) = exchange(c.get(format!("https://{addr}/api/auth/csrf"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        up.last().header("x-forwarded-proto").as_deref(),
        Some("https")
    );

    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "u-secure".into());
    let secure = authjs_proxy::token::try_encode_with_secret(
        &claims,
        secret,
        "__Secure-authjs.session-token",
        3600,
    )
    .unwrap();
    let plain =
        authjs_proxy::token::try_encode_with_secret(&claims, secret, "authjs.session-token", 3600)
            .unwrap();
    let who = |cookie: String| {
        exchange(
            c.get(format!("https://{addr}/whoami"))
                .insert_header(("cookie", cookie)),
        )
    };
    assert_eq!(
        who(format!("__Secure-authjs.session-token={secure}"))
            .await
            .2["sub"],
        "u-secure"
    );
    assert_eq!(
        who(format!("authjs.session-token={plain}")).await.2,
        serde_json::Value::Null,
        "on https only the __Secure- cookie counts"
    );
    handle.stop(false).await;
}

#[actix_web::test]
async fn https_listener_end_to_end_picks_up_a_renewed_certificate_on_reload() {
    let (old_ca, renewed_ca) = (new_ca("old CA"), new_ca("renewed CA"));
    let (cert, key) = leaf(&old_ca, ExtendedKeyUsagePurpose::ServerAuth);
    let dir = scratch("https-reload");
    let cert_file = write(&dir, "cert.pem", &cert);
    let key_file = write(&dir, "key.pem", &key);
    let up = FakeUpstream::ok();
    let (listen, admin) = (local(), local());
    let path = write(
        &dir,
        "c.toml",
        &config(
            &listen,
            &up.url(),
            &format!(
                "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[admin]\nlisten = \"{admin}\"\n",
                cert_file.display(),
                key_file.display()
            ),
        ),
    );
    let running = Running::start(&path, &[]);
    let plain = client();
    assert!(answers(&plain, &format!("http://{admin}/readyz"), 200).await);
    let csrf = format!("https://{listen}/api/auth/csrf");
    assert!(answers(&https_client(&old_ca.pem()), &csrf, 200).await);
    assert_eq!(
        up.last().header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    assert_eq!(
        status_of(&https_client(&renewed_ca.pem()), &csrf).await,
        None,
        "not trusted before the renewal"
    );

    let (cert, key) = leaf(&renewed_ca, ExtendedKeyUsagePurpose::ServerAuth);
    write(&dir, "cert.pem", &cert);
    write(&dir, "key.pem", &key);
    let (status, _, _) = exchange(plain.post(format!("http://{admin}/reload"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        status_of(&https_client(&renewed_ca.pem()), &csrf).await,
        Some(200)
    );
    assert_eq!(
        status_of(&https_client(&old_ca.pem()), &csrf).await,
        None,
        "new connections get the renewed certificate"
    );
    let (clean, _) = running.stop().await;
    assert!(clean);
}

/// The binary serving https with a certificate of a new CA, in front of an upstream that
/// answers 200, up and answering: (the process, its address, the CA, the upstream).
async fn https_service(name: &str) -> (Running, String, Ca, FakeUpstream) {
    let ca = new_ca("listener CA");
    let (cert, key) = leaf(&ca, ExtendedKeyUsagePurpose::ServerAuth);
    let dir = scratch(name);
    let up = FakeUpstream::ok();
    let listen = local();
    let tls = format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        write(&dir, "cert.pem", &cert).display(),
        write(&dir, "key.pem", &key).display()
    );
    let path = write(&dir, "c.toml", &config(&listen, &up.url(), &tls));
    let running = Running::start(&path, &[]);
    let https = https_client(&ca.pem());
    assert!(answers(&https, &format!("https://{listen}/healthz"), 200).await);
    (running, listen, ca, up)
}

#[actix_web::test]
async fn https_listener_refuses_a_head_with_bare_lf_line_endings() {
    let (running, listen, ca, up) = https_service("https-bare-lf").await;

    let tls = client_tls(&ca.pem());
    let answer = actix_rt::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let conn = rustls::ClientConnection::new(tls, "localhost".try_into().unwrap()).unwrap();
        let tcp = std::net::TcpStream::connect(&listen).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        stream
            .write_all(b"GET /api/auth/session HTTP/1.1\nHost: localhost\nConnection: close\n\n")
            .unwrap();
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert_eq!(up.count(), 0);
    drop(running);
}

#[actix_web::test]
async fn forward_auth_decisions_carry_their_own_route_label() {
    let proxy = AuthProxy::start();
    proxy
        .configure(options(&format!("http://127.0.0.1:{}", closed_port())))
        .await
        .unwrap();
    let gate = authjs_proxy::forward_auth::ForwardAuthOptions {
        enabled: true,
        path: "/_authjs/verify-label".into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let app = web_test::init_service(
        App::new()
            .wrap(authjs_proxy::web::access_log::RequestIds)
            .configure(authjs_proxy::forward_auth::configure(proxy.clone(), gate)),
    )
    .await;
    // The endpoint itself, and a path below it (Envoy's path_prefix).
    for uri in ["/_authjs/verify-label", "/_authjs/verify-label/app/reports"] {
        let req = web_test::TestRequest::get().uri(uri).to_request();
        assert_eq!(web_test::call_service(&app, req).await.status(), 401);
    }
    let text = authjs_proxy::core::obs::metrics::encode();
    let m = parse_metrics(&text);
    assert_eq!(
        m.get(r#"authjs_proxy_requests_total{route="forward_auth",method="GET",status="401"}"#),
        Some(&2.0),
        "{text}"
    );
}

/// A file whose secret and forward-auth rule go together: `role` must be `role`.
fn paired_config(listen: &str, admin: &str, secret: &str, role: &str) -> String {
    config(
        listen,
        "http://127.0.0.1:4001",
        &format!(
            "secret = \"{secret}\"\n[admin]\nlisten = \"{admin}\"\n[forward_auth]\nenabled = true\n\
             [forward_auth.require]\nrole = [\"{role}\"]\n"
        ),
    )
}

#[actix_web::test]
async fn a_decision_never_mixes_two_files_secrets_and_rules_during_reloads() {
    let (listen, admin) = (local(), local());
    let dir = scratch("reload-atomic");
    let a = paired_config(&listen, &admin, "secret-of-file-a", "a");
    let b = paired_config(&listen, &admin, "secret-of-file-b", "b");
    let path = write(&dir, "c.toml", &a);
    // Quiet: a few lines per reload would fill a pipe nobody reads.
    let running = Running(
        Command::new(BIN)
            .args(["--config", path.to_str().unwrap()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let c = client();
    assert!(answers(&c, &format!("http://{admin}/readyz"), 200).await);
    // Sealed with file A's secret, carrying file B's role: 403 under A (rule), 401 under B
    // (secret); only A's secret with B's rules would let it through.
    let claims = serde_json::json!({"sub": "u", "role": "b"});
    let token = authjs_proxy::token::encode_jwe(
        claims.as_object().unwrap(),
        &authjs_proxy::token::SecretKeys::derive("secret-of-file-a", "authjs.session-token"),
        authjs_proxy::token::Enc::A256CbcHs512,
        3600,
    );
    let cookie = format!("authjs.session-token={token}");
    let verify = format!("http://{listen}/_authjs/verify");
    let reloads = async {
        for i in 0..150 {
            write(&dir, "c.toml", if i % 2 == 0 { &b } else { &a });
            let (status, _, _) = exchange(c.post(format!("http://{admin}/reload"))).await;
            assert_eq!(status, 200);
        }
    };
    let decisions = async {
        let mut seen = HashMap::new();
        for _ in 0..3000 {
            let (status, _, _) =
                exchange(c.get(&verify).insert_header(("cookie", cookie.as_str()))).await;
            *seen.entry(status).or_insert(0) += 1;
        }
        seen
    };
    let ((), seen) = futures_util::join!(reloads, decisions);
    assert_eq!(seen.get(&200), None, "mixed decisions: {seen:?}");
    assert!(
        seen.contains_key(&403) && seen.contains_key(&401),
        "{seen:?}"
    );
    drop(running);
}

#[actix_web::test]
async fn a_tls_client_is_served_while_hundreds_of_silent_connections_sit_on_the_worker() {
    let (running, listen, ca, _up) = https_service("https-silent").await;
    // 300 connections that never start their handshake, on the one worker.
    let silent: Vec<std::net::TcpStream> = (0..300)
        .map(|_| std::net::TcpStream::connect(&listen).unwrap())
        .collect();
    let fresh = https_client(&ca.pem());
    assert_eq!(
        status_of(&fresh, &format!("https://{listen}/healthz")).await,
        Some(200)
    );
    // Served before any silent connection's handshake time ran out: it did not wait for one
    // of them to be dropped to get its turn.
    let first = &silent[0];
    first.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let still_open = matches!(
        std::io::Read::read(&mut &*first, &mut byte),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    );
    assert!(
        still_open,
        "the new client waited for silent connections to time out"
    );
    drop(silent);
    drop(running);
}

#[actix_web::test]
async fn every_metric_family_is_there_at_zero_from_the_start() {
    let (listen, admin) = (local(), local());
    let dir = scratch("metrics-zero");
    let extra = format!(
        "secret = \"zero-secret\"\n[admin]\nlisten = \"{admin}\"\n[forward_auth]\nenabled = true\n"
    );
    let path = write(
        &dir,
        "c.toml",
        &config(&listen, "http://127.0.0.1:4001", &extra),
    );
    let running = Running::start(&path, &[]);
    let c = client();
    assert!(answers(&c, &format!("http://{admin}/readyz"), 200).await);
    let scrape = || async {
        let mut res = c
            .get(format!("http://{admin}/metrics"))
            .send()
            .await
            .unwrap();
        parse_metrics(std::str::from_utf8(&res.body().await.unwrap()).unwrap())
    };
    let m = scrape().await;
    for sample in [
        "authjs_proxy_circuit_breaker_state",
        r#"authjs_proxy_forward_auth_decisions_total{result="allow"}"#,
        r#"authjs_proxy_forward_auth_decisions_total{result="unauthenticated"}"#,
        r#"authjs_proxy_forward_auth_decisions_total{result="error"}"#,
        r#"authjs_proxy_upstream_requests_total{outcome="ok"}"#,
        r#"authjs_proxy_upstream_requests_total{outcome="unreachable"}"#,
        r#"authjs_proxy_upstream_retries_total{reason="connect"}"#,
        r#"authjs_proxy_session_cache_requests_total{result="hit"}"#,
        r#"authjs_proxy_session_cache_requests_total{result="refused"}"#,
        r#"authjs_proxy_token_decode_total{result="valid"}"#,
        r#"authjs_proxy_config_reloads_total{result="error"}"#,
    ] {
        assert_eq!(m.get(sample), Some(&0.0), "{sample} at zero");
    }
    // A forward-auth decision that decodes a token locally counts as a decode.
    let claims = serde_json::json!({"sub": "u"});
    let token = authjs_proxy::token::encode_jwe(
        claims.as_object().unwrap(),
        &authjs_proxy::token::SecretKeys::derive("zero-secret", "authjs.session-token"),
        authjs_proxy::token::Enc::A256CbcHs512,
        3600,
    );
    let (status, _, _) = exchange(
        c.get(format!("http://{listen}/_authjs/verify"))
            .insert_header(("cookie", format!("authjs.session-token={token}"))),
    )
    .await;
    assert_eq!(status, 200);
    let m = scrape().await;
    assert_eq!(
        m.get(r#"authjs_proxy_token_decode_total{result="valid"}"#),
        Some(&1.0)
    );
    drop(running);
}
