//! A real browser signs in through authjs-proxy: headless Chromium (Debian's `chromium`, driven
//! by `tests/e2e/authjs/browser.mjs` with `puppeteer-core`) in front of a front proxy (nginx on
//! http, Caddy on https with `tls internal`), authjs-proxy (Auth.js's routes and the
//! forward-auth endpoint) and the real Auth.js of the end-to-end suite, guarding a tiny page
//! that shows the identity headers it received.
//!
//! Needs Node (+ `npm ci --prefix tests/e2e/authjs`), `/usr/bin/chromium`, nginx-light and
//! Caddy. Without them the tests say SKIPPED and pass locally; under `CI=true` they fail. A
//! failing test leaves a screenshot and the page's HTML in its temporary folder and prints
//! their paths. Run only these: `cargo test --test browser`.

mod common;

use authjs_proxy::AuthProxy;
use authjs_proxy::config::{ProxyOptions, Secret};
use authjs_proxy::gate::{self, ForwardAuthOptions, OnUnauthenticated};
use common::chromium::{Chromium, Cookie, Landed, chromium_ready};
use common::front::{Front, binary_ready};
use common::peer::{self, AuthJs, peer_ready};
use common::*;

const SECRET: &str = "e2e-browser-secret";
const PLAIN: &str = "authjs.session-token";
const SECURE: &str = "__Secure-authjs.session-token";
/// The protected page the browser asks for.
const PAGE: &str = "/reports?year=2025";

/// The protected app: one HTML page showing the identity headers it received.
fn app() -> FakeUpstream {
    FakeUpstream::start(|rec, _| {
        let show = |name: &str| {
            rec.header(name)
                .unwrap_or_default()
                .replace('&', "&amp;")
                .replace('<', "&lt;")
        };
        let body = format!(
            "<!doctype html><title>protected</title><h1>The protected page</h1>\
             <p>path: <span id=path>{}</span></p><dl>\
             <dt>X-Auth-Request-User<dd id=user>{}\
             <dt>X-Auth-Request-Email<dd id=email>{}\
             <dt>X-Auth-Request-Name<dd id=name>{}</dl>",
            rec.path_and_query
                .replace('&', "&amp;")
                .replace('<', "&lt;"),
            show("x-auth-request-user"),
            show("x-auth-request-email"),
            show("x-auth-request-name"),
        );
        Reply::status(200)
            .header("content-type", "text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .body(&body)
    })
}

/// Auth.js, authjs-proxy, the app and a front proxy on loopback; `origin` is what the browser
/// opens.
struct Stack {
    peer: AuthJs,
    _proxy: TestProxy,
    _app: FakeUpstream,
    _front: Front,
    origin: String,
}

impl Stack {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// `GET /api/auth/signin` requests Auth.js has received.
    async fn signin_pages_served(&self) -> u64 {
        self.peer.counts().await["GET /api/auth/signin"]
            .as_u64()
            .unwrap_or(0)
    }
}

/// Whether everything the browser tests need is there (SKIPPED locally, a failure under CI).
fn ready(front: &str, version_arg: &str, install: &str) -> bool {
    peer_ready() && binary_ready(front, version_arg, install) && chromium_ready()
}

async fn proxy_for(
    peer: &AuthJs,
    edit: impl FnOnce(&mut ProxyOptions),
    on_unauthenticated: OnUnauthenticated,
) -> TestProxy {
    let mut o = options(&peer.url());
    o.secret = Some(Secret::One(SECRET.into()));
    // Auth.js builds its URLs (the form's action, redirects) from the public host.
    o.preserve_host = true;
    edit(&mut o);
    let proxy = AuthProxy::start();
    proxy.configure(o).await.expect("valid options");
    let g = ForwardAuthOptions {
        enabled: true,
        on_unauthenticated,
        ..Default::default()
    }
    .validate()
    .expect("valid forward-auth options");
    TestProxy::serve_with(proxy.clone(), gate::configure(proxy, g))
}

/// nginx (`tests/front/nginx-browser.conf`) on `http://127.0.0.1:<port>`; the gate answers 401
/// and nginx sends the browser to sign in.
async fn nginx_stack() -> Option<Stack> {
    if !ready("nginx", "-v", "apt-get install nginx-light") {
        return None;
    }
    let peer = AuthJs::start(SECRET);
    let proxy = proxy_for(&peer, |_| {}, OnUnauthenticated::Status401).await;
    let app = app();
    let front = Front::nginx_from("nginx-browser.conf", proxy.addr, app.addr.port());
    let origin = front.origin();
    Some(Stack {
        peer,
        _proxy: proxy,
        _app: app,
        _front: front,
        origin,
    })
}

/// Caddy (`tests/front/Caddyfile-https`) on `https://localhost:<port>` with its own CA; the
/// proxy trusts Caddy's `X-Forwarded-Proto: https`, the gate redirects browsers to sign in.
async fn caddy_https_stack() -> Option<Stack> {
    if !ready("caddy", "version", "apt-get install caddy") {
        return None;
    }
    let peer = AuthJs::start(SECRET);
    let proxy = proxy_for(
        &peer,
        |o| o.trust_forwarded = true,
        OnUnauthenticated::Redirect,
    )
    .await;
    let app = app();
    let front = Front::caddy_from("Caddyfile-https", proxy.addr, app.addr.port());
    let origin = format!("https://localhost:{}", front.addr.port());
    Some(Stack {
        peer,
        _proxy: proxy,
        _app: app,
        _front: front,
        origin,
    })
}

/// The value of query parameter `name` in `url`.
fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Opens the protected page without a session: the browser must land on Auth.js's sign-in
/// page, served through the front proxy and authjs-proxy, with the page as `callbackUrl`.
async fn lands_on_signin(s: &Stack, b: &mut Chromium) -> Landed {
    let before = s.signin_pages_served().await;
    let l = b.goto(&s.url(PAGE)).await;
    assert_eq!(
        l.chain.first(),
        Some(&s.url(PAGE)),
        "the browser did not ask for the page first: {l:?}"
    );
    assert_eq!(
        l.path(),
        "/api/auth/signin",
        "the protected page did not send the browser to sign in: {l:?}"
    );
    assert!(
        l.url.starts_with(&s.origin),
        "sign-in is not on the public origin: {l:?}"
    );
    assert_eq!(
        query_param(&l.url, "callbackUrl").as_deref(),
        Some(s.url(PAGE).as_str()),
        "sign-in does not lead back to the page: {l:?}"
    );
    assert!(
        l.text.contains("Sign in with Credentials"),
        "not Auth.js's sign-in page: {l:?}"
    );
    assert!(
        s.signin_pages_served().await > before,
        "the sign-in page did not come from Auth.js"
    );
    l
}

/// Fills Auth.js's credentials form and submits it; the browser must land back on the page,
/// which shows `email`.
async fn signs_in(s: &Stack, b: &mut Chromium, email: &str, password: &str) -> Landed {
    lands_on_signin(s, b).await;
    b.fill("#input-email-for-credentials-provider", email).await;
    b.fill("#input-password-for-credentials-provider", password)
        .await;
    let l = b.click("#submitButton").await;
    assert_eq!(
        l.url,
        s.url(PAGE),
        "after signing in, the browser is not back on the page: {l:?}"
    );
    assert_eq!(l.status, 200, "{l:?}");
    assert_eq!(b.text("#email").await, email, "the page's identity: {l:?}");
    l
}

/// Uses Auth.js's sign-out page: the session cookies must leave the jar, and the protected page
/// must send the browser to sign in again.
async fn signs_out(s: &Stack, b: &mut Chromium) {
    let l = b.goto(&s.url("/api/auth/signout")).await;
    assert!(
        l.text.contains("Are you sure you want to sign out?"),
        "not Auth.js's sign-out page: {l:?}"
    );
    let l = b.click("#submitButton").await;
    assert!(l.url.starts_with(&s.origin), "after sign-out: {l:?}");
    let jar = b.cookies().await;
    // On https, a plain-named cookie planted by the test is not Auth.js's to clear.
    let left: Vec<String> = session_cookies(&jar)
        .into_iter()
        .filter(|n| n.starts_with("__Secure-") || s.origin.starts_with("http:"))
        .collect();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "session cookies are still in the jar after sign-out: {jar:?}"
    );
    lands_on_signin(s, b).await;
}

fn named<'a>(jar: &'a [Cookie], name: &str) -> Option<&'a Cookie> {
    jar.iter().find(|c| c.name == name)
}

fn session_cookies(jar: &[Cookie]) -> Vec<String> {
    let mut names: Vec<String> = jar
        .iter()
        .filter(|c| c.name.contains("authjs.session-token"))
        .map(|c| c.name.clone())
        .collect();
    names.sort();
    names
}

// --- the scenarios ----------------------------------------------------------------------------

#[actix_web::test]
async fn http_nginx_browser_signs_in_and_the_page_shows_its_identity() {
    let Some(s) = nginx_stack().await else {
        return;
    };
    let mut b = Chromium::launch("nginx-sign-in", false);
    signs_in(&s, &mut b, "ada@example.com", "analytical").await;
    assert_eq!(b.text("#user").await, "u-ada");
    assert_eq!(b.text("#name").await, "Ada Lovelace");
    assert_eq!(b.text("#path").await, PAGE);

    let jar = b.cookies().await;
    assert_eq!(session_cookies(&jar), [PLAIN], "{jar:?}");
    let session = named(&jar, PLAIN).unwrap();
    assert!(session.http_only, "{session:?}");
    assert_eq!(session.same_site, "Lax", "{session:?}");
    assert!(!session.secure, "an http session cookie is not Secure");

    // A second visit goes straight to the page.
    let l = b.goto(&s.url(PAGE)).await;
    assert_eq!(l.chain, [s.url(PAGE)], "{l:?}");
    assert_eq!(b.text("#email").await, "ada@example.com");
}

#[actix_web::test]
async fn sign_out_page_ends_the_session_in_the_browser() {
    let Some(s) = nginx_stack().await else {
        return;
    };
    let mut b = Chromium::launch("sign-out", false);
    signs_in(&s, &mut b, "grace@example.com", "cobol").await;
    signs_out(&s, &mut b).await;
}
#[actix_web::test]
async fn https_caddy_browser_gets_secure_cookies_ignores_plain_ones_and_signs_out() {
    let Some(s) = caddy_https_stack().await else {
        return;
    };
    // A valid session of Ada's, as Auth.js issues it on http: under the plain name.
    let mut code = peer::Browser::new(s.peer.url());
    code.sign_in("/api/auth", "ada@example.com", "analytical")
        .await;
    let planted = code
        .cookie(PLAIN)
        .expect("Auth.js issued a plain session cookie");

    let mut b = Chromium::launch("https-caddy", true);
    b.set_cookie(&s.origin, PLAIN, &planted).await;
    // On https only the __Secure- cookie counts: the planted one does not sign anyone in.
    signs_in(&s, &mut b, "grace@example.com", "cobol").await;
    assert_eq!(b.text("#user").await, "u-grace");

    let jar = b.cookies().await;
    let secure = named(&jar, SECURE).unwrap_or_else(|| panic!("no {SECURE}: {jar:?}"));
    assert!(secure.secure && secure.http_only, "{secure:?}");
    assert!(
        named(&jar, "__Host-authjs.csrf-token").is_some(),
        "no __Host- CSRF cookie: {jar:?}"
    );
    assert_eq!(
        named(&jar, PLAIN).map(|c| c.value.as_str()),
        Some(planted.as_str()),
        "Auth.js set a plain-named session cookie on https: {jar:?}"
    );
    assert_eq!(session_cookies(&jar), [SECURE, PLAIN], "{jar:?}");
    assert_eq!(secure.same_site, "Lax", "{secure:?}");

    // Clearing a __Secure- cookie takes a Secure Set-Cookie: the browser drops it on sign-out.
    signs_out(&s, &mut b).await;
}

#[actix_web::test]
async fn big_session_in_chunked_cookies_is_recognised() {
    let Some(s) = nginx_stack().await else {
        return;
    };
    let mut b = Chromium::launch("big-session", false);
    signs_in(&s, &mut b, "big@example.com", "chunky").await;
    assert_eq!(b.text("#user").await, "u-big");
    let jar = b.cookies().await;
    let chunks = session_cookies(&jar);
    assert!(
        chunks.len() >= 2 && chunks.iter().all(|n| n.starts_with(&format!("{PLAIN}."))),
        "the session is not chunked: {chunks:?}"
    );
    // Recognised again on the next visit, from the chunks alone.
    let l = b.goto(&s.url(PAGE)).await;
    assert_eq!(l.chain, [s.url(PAGE)], "{l:?}");
    assert_eq!(b.text("#email").await, "big@example.com");
}

#[test]
fn a_failing_browser_test_leaves_a_screenshot_and_the_html() {
    if !chromium_ready() {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let mut b = Chromium::launch("artifacts", false);
            tx.send(b.dir.clone()).unwrap();
            b.goto("data:text/html,<h1>The page at the failure</h1>")
                .await;
            panic!("a deliberate failure, to check what a failing browser test leaves behind");
        })
    })
    .join();
    assert!(failed.is_err(), "the deliberate failure did not fail");
    let dir = rx.recv().unwrap();
    let png = std::fs::read(dir.join("failure.png")).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let html = std::fs::read_to_string(dir.join("failure.html")).expect("the page's HTML");
    assert!(html.contains("The page at the failure"), "{html}");
    assert!(!dir.join("profile").exists(), "the browser profile is left");
    std::fs::remove_dir_all(&dir).unwrap();
}
