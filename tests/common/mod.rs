//! Shared fixtures: a recording fake upstream on 127.0.0.1:0 and a proxy under test.
#![allow(dead_code)]

pub mod chaos;
pub mod chromium;
pub mod front;
pub mod peer;
pub mod postgres;
pub mod raw;
pub mod redis;
pub mod service;

/// Whether the tests run in CI (`CI` set to anything but empty, `false` or `0`): a missing
/// tool is then a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use authjs_proxy::AuthProxy;
use authjs_proxy::config::{ProxyOptions, SessionStrategy};

/// Serves `factory` on `listener` with one worker inside the running actix system; returns the
/// server's handle.
macro_rules! serve_on {
    ($listener:expr, $factory:expr) => {{
        let server = HttpServer::new($factory)
            .workers(1)
            .disable_signals()
            .shutdown_timeout(1)
            .listen($listener)
            .unwrap()
            .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        handle
    }};
}

/// What the fake upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: std::time::Instant,
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// The fake upstream's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }
    pub fn json(body: &str) -> Self {
        Reply::status(200)
            .header("content-type", "application/json")
            .body(body)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn body(mut self, body: &str) -> Self {
        self.body = body.into();
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

type Responder = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

/// A real HTTP server on 127.0.0.1 that records every request and answers with `responder`
/// (called with the request and how many requests came before it).
pub struct FakeUpstream {
    pub addr: SocketAddr,
    records: Arc<Mutex<Vec<Recorded>>>,
    handle: ServerHandle,
}

async fn record(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<(Arc<Mutex<Vec<Recorded>>>, Responder)>,
) -> HttpResponse {
    let rec = Recorded {
        at: std::time::Instant::now(),
        method: req.method().clone(),
        path_and_query: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: req.headers().clone(),
        body,
    };
    let reply = {
        let mut records = state.0.lock().unwrap();
        let n = records.len();
        records.push(rec.clone());
        (state.1)(&rec, n)
    };
    if !reply.delay.is_zero() {
        actix_rt::time::sleep(reply.delay).await;
    }
    let mut res = HttpResponse::build(StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in &reply.headers {
        res.append_header((k.as_str(), v.as_str()));
    }
    res.body(reply.body)
}

impl FakeUpstream {
    pub fn start(responder: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), responder)
    }

    pub fn start_on(
        listener: TcpListener,
        responder: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let records: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let state = web::Data::new((records.clone(), Arc::new(responder) as Responder));
        let addr = listener.local_addr().unwrap();
        let handle = serve_on!(listener, move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .default_service(web::to(record))
        });
        FakeUpstream {
            addr,
            records,
            handle,
        }
    }

    /// An upstream answering 200 `{"ok":true}` to everything.
    pub fn ok() -> Self {
        Self::start(|_, _| Reply::json(r#"{"ok":true}"#))
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn records(&self) -> Vec<Recorded> {
        self.records.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.records.lock().unwrap().len()
    }

    pub fn last(&self) -> Recorded {
        self.records()
            .last()
            .cloned()
            .expect("upstream received nothing")
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Options pointing at `upstream`, with quick retries for tests.
pub fn options(upstream: &str) -> ProxyOptions {
    let mut o = ProxyOptions::new(upstream, SessionStrategy::Jwt);
    o.retry.initial_backoff_ms = 10;
    o.retry.max_backoff_ms = 50;
    o.timeouts.connect_ms = 500;
    o.timeouts.per_try_ms = 2000;
    o.timeouts.request_ms = 5000;
    o
}

/// A proxy under test: the runtime and an HTTP server with the routes mounted.
pub struct TestProxy {
    pub proxy: AuthProxy,
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl TestProxy {
    /// Starts the runtime, applies `opts` (when given) and serves on 127.0.0.1:0.
    pub async fn start(opts: Option<ProxyOptions>) -> Self {
        let proxy = AuthProxy::start();
        if let Some(o) = opts {
            proxy.configure(o).await.expect("valid test options");
        }
        Self::serve(proxy, |_| {})
    }

    /// Serves `proxy` with extra app routes added by `extra`.
    pub fn serve(proxy: AuthProxy, extra: fn(&mut web::ServiceConfig)) -> Self {
        Self::serve_with(proxy, extra)
    }

    /// Like [`TestProxy::serve`], with `extra` a closure (e.g. `authjs_proxy::gate::configure`).
    pub fn serve_with(
        proxy: AuthProxy,
        extra: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let p = proxy.clone();
        let handle = serve_on!(listener, move || {
            App::new()
                .configure(extra.clone())
                .configure(authjs_proxy::configure(p.clone()))
        });
        TestProxy {
            proxy,
            addr,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path` on the proxy, with the test client.
    pub async fn get(&self, path: &str) -> awc::ClientResponse {
        client().get(self.url(path)).send().await.unwrap()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// An HTTP client that never follows redirects.
pub fn client() -> awc::Client {
    awc::Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(20))
        .finish()
}

/// Sends a raw HTTP/1.1 request (for paths a URL parser would refuse or normalise) and
/// returns the status code.
pub async fn raw_status(addr: SocketAddr, method: &str, target: &str) -> u16 {
    let (method, target) = (method.to_owned(), target.to_owned());
    actix_rt::task::spawn_blocking(move || raw_status_blocking(addr, &method, &target))
        .await
        .unwrap()
}

fn raw_status_blocking(addr: SocketAddr, method: &str, target: &str) -> u16 {
    let text = raw_exchange(
        addr,
        &format!("{method} {target} HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n\r\n"),
    );
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Writes `request` as is on a new connection and reads the answer until the server closes.
pub fn raw_exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// [`raw_exchange`] off the async runtime.
pub async fn raw(addr: SocketAddr, request: &str) -> String {
    let request = request.to_owned();
    actix_rt::task::spawn_blocking(move || raw_exchange(addr, &request))
        .await
        .unwrap()
}

/// A scratch directory of its own, removed with everything in it when dropped: tests write
/// configurations, keys and tokens there, and none may outlive the test.
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    /// A new empty directory named after `name`, this process and a counter.
    pub fn new(name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("authjs-proxy-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `body` to `file` in the directory; its path.
    pub fn write(&self, file: &str, body: &str) -> std::path::PathBuf {
        let p = self.0.join(file);
        std::fs::write(&p, body).unwrap();
        p
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One file in a [`Scratch`] directory of its own; both go when it is dropped.
pub struct ScratchFile {
    _dir: Scratch,
    path: std::path::PathBuf,
}

impl ScratchFile {
    /// `body` written to `file` in a new scratch directory named after `name`.
    pub fn new(name: &str, file: &str, body: &str) -> Self {
        let dir = Scratch::new(name);
        let path = dir.write(file, body);
        ScratchFile { _dir: dir, path }
    }
}

impl std::ops::Deref for ScratchFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::path::Path> for ScratchFile {
    fn as_ref(&self) -> &std::path::Path {
        &self.path
    }
}
