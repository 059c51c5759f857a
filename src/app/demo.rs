//! Demo mode: an embedded Auth.js-compatible upstream and the proxy in front of it.
//!
//! The embedded upstream answers the credentials sign-in flow the way `@auth/core` 0.41 does
//! (same routes, status codes, cookie names and body shapes; real Auth.js-format tokens), so a
//! newcomer can try the proxy with nothing else installed. It is not an identity provider:
//! its users and secret are fixed demo values.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpResponseBuilder, HttpServer};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::core::cookies::{CHUNK_SIZE, cookie_value, is_session_cookie, request_cookies};
use crate::core::token::{self, Enc, SaltKeys, SecretKeys};
use crate::options::{
    ProxyOptions, SECURE_SESSION_COOKIE, SESSION_COOKIE, Secret, SessionStrategy,
};
use crate::proxy::routes::suffix_below;
use crate::runtime::handle::AuthProxy;

/// A demo account.
#[derive(Debug, Clone, Copy)]
pub struct DemoUser {
    /// User id (`sub`).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Email, used to sign in.
    pub email: &'static str,
    /// Password.
    pub password: &'static str,
}

/// The demo accounts (the same as the end-to-end suite's Auth.js peer).
pub const DEMO_USERS: [DemoUser; 2] = [
    DemoUser {
        id: "u-ada",
        name: "Ada Lovelace",
        email: "ada@example.com",
        password: "analytical",
    },
    DemoUser {
        id: "u-grace",
        name: "Grace Hopper",
        email: "grace@example.com",
        password: "cobol",
    },
];

/// The demo upstream's secret (the proxy gets it too, to decode tokens locally).
pub const DEMO_SECRET: &str = "authjs-proxy-demo-secret-not-for-production";

/// Session lifetime, as Auth.js's default (30 days).
const MAX_AGE_SECS: u64 = token::DEFAULT_MAX_AGE_SECS;

/// The embedded Auth.js-compatible upstream.
#[derive(Debug, Clone)]
pub struct DemoAuth {
    secret: String,
    base_path: String,
}

impl DemoAuth {
    /// An upstream mounted at `base_path`, signing with `secret`.
    pub fn new(secret: &str, base_path: &str) -> Self {
        DemoAuth {
            secret: secret.to_owned(),
            base_path: crate::core::path::normalize_path(base_path),
        }
    }

    /// Mounts the upstream's routes (for `App::configure`).
    pub fn configure(self) -> impl Fn(&mut web::ServiceConfig) + Clone {
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(web::Data::new(self.clone()))
                .default_service(web::to(handle));
        }
    }

    /// Serves the upstream on `listener` (in the current actix system).
    pub fn serve(self, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
        Ok(
            HttpServer::new(move || App::new().configure(self.clone().configure()))
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1)
                .listen(listener)?
                .run(),
        )
    }
}

/// Cookie names and attributes for one request: `__Secure-`/`__Host-` names on https.
struct Names {
    csrf: &'static str,
    callback: &'static str,
    session: &'static str,
    attrs: &'static str,
}

fn names(secure: bool) -> Names {
    if secure {
        Names {
            csrf: "__Host-authjs.csrf-token",
            callback: "__Secure-authjs.callback-url",
            session: SECURE_SESSION_COOKIE,
            attrs: "Path=/; HttpOnly; Secure; SameSite=Lax",
        }
    } else {
        Names {
            csrf: "authjs.csrf-token",
            callback: "authjs.callback-url",
            session: SESSION_COOKIE,
            attrs: "Path=/; HttpOnly; SameSite=Lax",
        }
    }
}

fn pct(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%2E", ".")
        .replace("%5F", "_")
        .replace("%7E", "~")
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system random source is available");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The state Auth.js's `init` derives from a request.
struct Ctx {
    url: String,
    names: Names,
    csrf_token: String,
    csrf_from_cookie: bool,
    callback_url: String,
    cookies: Vec<String>,
}

fn redirect_target(url: &str, base: &str) -> String {
    if url.starts_with('/') && !url.starts_with("//") {
        format!("{base}{url}")
    } else if url::Url::parse(url).is_ok_and(|u| u.origin().ascii_serialization() == base) {
        url.to_owned()
    } else {
        base.to_owned()
    }
}

impl DemoAuth {
    fn ctx(&self, req: &HttpRequest, params: &HashMap<String, String>) -> Ctx {
        let headers = req.headers();
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        // Like @auth/express: the Host header (not X-Forwarded-Host) and X-Forwarded-Proto.
        let host = get("host").unwrap_or("localhost");
        let proto = get("x-forwarded-proto").unwrap_or("http");
        let origin = format!("{proto}://{host}");
        let names = names(proto == "https");
        let mut cookies = Vec::new();
        let existing = cookie_value(headers, names.csrf).and_then(|v| {
            let (token, hash) = v.split_once('|')?;
            (sha256_hex(&format!("{token}{}", self.secret)) == hash).then(|| token.to_owned())
        });
        let csrf_from_cookie = existing.is_some();
        let csrf_token = existing.unwrap_or_else(|| {
            let token = random_hex();
            let hash = sha256_hex(&format!("{token}{}", self.secret));
            cookies.push(format!(
                "{}={}; {}",
                names.csrf,
                pct(&format!("{token}|{hash}")),
                names.attrs
            ));
            token
        });
        let from_cookie = cookie_value(headers, names.callback);
        let callback_url = match params.get("callbackUrl") {
            Some(p) => redirect_target(p, &origin),
            None => from_cookie.clone().unwrap_or_else(|| origin.clone()),
        };
        if from_cookie.as_deref() != Some(callback_url.as_str()) {
            cookies.push(format!(
                "{}={}; {}",
                names.callback,
                pct(&callback_url),
                names.attrs
            ));
        }
        let base = if self.base_path == "/" {
            ""
        } else {
            self.base_path.as_str()
        };
        Ctx {
            url: format!("{origin}{base}"),
            names,
            csrf_token,
            csrf_from_cookie,
            callback_url,
            cookies,
        }
    }
}

fn params(req: &HttpRequest, body: &Bytes) -> HashMap<String, String> {
    let mut p: HashMap<String, String> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let from_body: HashMap<String, String> = if is_json {
        serde_json::from_slice::<Map<String, Value>>(body)
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        serde_urlencoded::from_bytes(body).unwrap_or_default()
    };
    p.extend(from_body);
    p
}

fn no_store(res: &mut HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "private, no-cache, no-store"))
        .insert_header((header::EXPIRES, "0"))
        .insert_header((header::PRAGMA, "no-cache"));
}

fn with_cookies(mut res: HttpResponseBuilder, cookies: &[String]) -> HttpResponseBuilder {
    for c in cookies {
        res.append_header((header::SET_COOKIE, c.as_str()));
    }
    res
}

fn redirect(req: &HttpRequest, ctx: &Ctx, location: &str) -> HttpResponse {
    let wants_json = req
        .headers()
        .get("x-auth-return-redirect")
        .is_some_and(|v| v == "1");
    let status = if wants_json {
        StatusCode::OK
    } else {
        StatusCode::FOUND
    };
    let mut res = with_cookies(HttpResponse::build(status), &ctx.cookies);
    res.insert_header((header::LOCATION, location));
    if wants_json {
        res.json(json!({ "url": location }))
    } else {
        res.insert_header((header::CONTENT_TYPE, "")).finish()
    }
}

fn iso_8601(secs: u64) -> String {
    let t = time::OffsetDateTime::UNIX_EPOCH + Duration::from_secs(secs);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
    ))
    .unwrap_or_default()
}

fn http_date(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    header::HttpDate::from(t).to_string()
}

/// Set-Cookie lines for a session token: one cookie, or chunks `NAME.0..` above 3936 chars,
/// clearing whichever form the request had that is not written now.
fn session_cookies(headers: &HeaderMap, names: &Names, value: &str, exp: u64) -> Vec<String> {
    let attrs = names.attrs.replacen(
        "Path=/;",
        &format!("Path=/; Expires={};", http_date(exp)),
        1,
    );
    let written: Vec<(String, &str)> = if value.len() <= CHUNK_SIZE {
        vec![(names.session.to_owned(), value)]
    } else {
        value
            .as_bytes()
            .chunks(CHUNK_SIZE)
            .enumerate()
            .map(|(i, c)| {
                (
                    format!("{}.{i}", names.session),
                    std::str::from_utf8(c).unwrap_or_default(),
                )
            })
            .collect()
    };
    let mut out: Vec<String> = clear_session(headers, names)
        .into_iter()
        .filter(|c| !written.iter().any(|(n, _)| c.starts_with(&format!("{n}="))))
        .collect();
    out.extend(written.iter().map(|(n, v)| format!("{n}={v}; {attrs}")));
    out
}

/// Set-Cookie lines removing every session cookie (and chunk) the request carried.
fn clear_session(headers: &HeaderMap, names: &Names) -> Vec<String> {
    let session = [names.session.to_owned()];
    request_cookies(headers)
        .map(|(n, _)| n)
        .filter(|n| is_session_cookie(n, &session))
        .map(|n| {
            format!(
                "{}=; Max-Age=0; {}",
                String::from_utf8_lossy(n),
                names.attrs
            )
        })
        .collect()
}

async fn handle(req: HttpRequest, body: Bytes, auth: web::Data<DemoAuth>) -> HttpResponse {
    let Some(suffix) = suffix_below(req.path(), &auth.base_path) else {
        return HttpResponse::NotFound().finish();
    };
    let params = params(&req, &body);
    let mut ctx = auth.ctx(&req, &params);
    let m = req.method().clone();
    match (m, suffix) {
        (Method::GET, "csrf") => {
            let mut res = with_cookies(HttpResponse::Ok(), &ctx.cookies);
            no_store(&mut res);
            res.json(json!({ "csrfToken": ctx.csrf_token }))
        }
        (Method::GET, "providers") => HttpResponse::Ok().json(json!({
            "credentials": {
                "id": "credentials",
                "name": "Credentials",
                "type": "credentials",
                "signinUrl": format!("{}/signin/credentials", ctx.url),
                "callbackUrl": format!("{}/callback/credentials", ctx.url),
            }
        })),
        (Method::GET, "session") => auth.session(&req, ctx),
        (Method::POST, "callback/credentials") => {
            if !csrf_ok(&ctx, &params) {
                let to = format!("{}/signin?error=MissingCSRF", ctx.url);
                return redirect(&req, &ctx, &to);
            }
            let user = DEMO_USERS.iter().find(|u| {
                params.get("email").map(String::as_str) == Some(u.email)
                    && params.get("password").map(String::as_str) == Some(u.password)
            });
            let Some(user) = user else {
                let to = format!(
                    "{}/signin?error=CredentialsSignin&code=credentials",
                    ctx.url
                );
                return redirect(&req, &ctx, &to);
            };
            let claims = json!({ "name": user.name, "email": user.email, "sub": user.id });
            let keys = SecretKeys::derive(&auth.secret, ctx.names.session);
            let tok = token::encode_jwe(
                claims.as_object().expect("object"),
                &keys,
                Enc::A256CbcHs512,
                MAX_AGE_SECS,
            );
            let exp = token::now_secs() + MAX_AGE_SECS;
            let set = session_cookies(req.headers(), &ctx.names, &tok, exp);
            ctx.cookies.extend(set);
            let to = ctx.callback_url.clone();
            redirect(&req, &ctx, &to)
        }
        (Method::POST, "signout") => {
            if !csrf_ok(&ctx, &params) {
                let to = format!("{}/signin?error=MissingCSRF", ctx.url);
                return redirect(&req, &ctx, &to);
            }
            let cleared = clear_session(req.headers(), &ctx.names);
            ctx.cookies.extend(cleared);
            let to = ctx.callback_url.clone();
            redirect(&req, &ctx, &to)
        }
        (Method::GET, "signin" | "signout" | "error" | "verify-request") => {
            let page = format!(
                "<!DOCTYPE html><html><body><h1>authjs-proxy demo</h1>\
                 <form method=\"post\" action=\"{}/callback/credentials\">\
                 <input type=\"hidden\" name=\"csrfToken\" value=\"{}\">\
                 <input name=\"email\"><input name=\"password\" type=\"password\">\
                 <button>Sign in</button></form></body></html>",
                ctx.url, ctx.csrf_token
            );
            with_cookies(HttpResponse::Ok(), &ctx.cookies)
                .content_type("text/html; charset=utf-8")
                .body(page)
        }
        _ => HttpResponse::BadRequest().json("Bad request."),
    }
}

fn csrf_ok(ctx: &Ctx, params: &HashMap<String, String>) -> bool {
    ctx.csrf_from_cookie && params.get("csrfToken") == Some(&ctx.csrf_token)
}

impl DemoAuth {
    fn session(&self, req: &HttpRequest, mut ctx: Ctx) -> HttpResponse {
        let headers = req.headers();
        let found = cookie_value(headers, ctx.names.session);
        let keys = SaltKeys::derive(std::slice::from_ref(&self.secret), ctx.names.session);
        let decoded = found
            .as_deref()
            .map(|t| token::decode_jwe(t, &keys, token::now_secs()));
        let body = match decoded {
            Some(Ok(claims)) => {
                let mut fresh = claims.0.clone();
                for k in ["iat", "exp", "jti"] {
                    fresh.remove(k);
                }
                let tok =
                    token::encode_jwe(&fresh, &keys.secrets[0], Enc::A256CbcHs512, MAX_AGE_SECS);
                let exp = token::now_secs() + MAX_AGE_SECS;
                ctx.cookies
                    .extend(session_cookies(headers, &ctx.names, &tok, exp));
                let mut user = Map::new();
                for (from, to) in [("name", "name"), ("email", "email"), ("picture", "image")] {
                    if let Some(v) = claims.get(from) {
                        user.insert(to.into(), v.clone());
                    }
                }
                if let Some(sub) = claims.sub() {
                    user.insert("id".into(), sub.into());
                }
                json!({ "user": user, "expires": iso_8601(exp) })
            }
            Some(Err(_)) => {
                ctx.cookies.extend(clear_session(headers, &ctx.names));
                Value::Null
            }
            None => Value::Null,
        };
        let mut res = with_cookies(HttpResponse::Ok(), &ctx.cookies);
        no_store(&mut res);
        res.json(body)
    }
}

/// Proxy options for a demo upstream at `upstream`: `/api/auth`, JWT strategy, the demo secret.
pub fn demo_options(upstream: &str) -> ProxyOptions {
    let mut o = ProxyOptions::new(upstream, SessionStrategy::Jwt);
    o.secret = Some(Secret::One(DEMO_SECRET.into()));
    o
}

async fn whoami(req: HttpRequest) -> HttpResponse {
    let session = crate::session::get_server_session(&req).await;
    let token = crate::session::get_token(&req, false).await;
    match (session, token) {
        (Ok(session), Ok(token)) => HttpResponse::Ok().json(json!({
            "get_server_session": session,
            "get_token": match token {
                Some(crate::core::session::Token::Claims(c)) => Value::Object(c.0),
                _ => Value::Null,
            },
        })),
        (Err(e), _) | (_, Err(e)) => actix_web::ResponseError::error_response(&e),
    }
}

/// Runs the demo: the embedded upstream on a free loopback port, the proxy on `listen` under
/// `/api/auth` (plus `GET /whoami` showing both helpers), until Ctrl-C.
pub async fn run(listen: &str) -> std::io::Result<()> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "listen: expected host:port",
        )
    })?;
    let upstream_listener = TcpListener::bind("127.0.0.1:0")?;
    let upstream_addr = upstream_listener.local_addr()?;
    let upstream = DemoAuth::new(DEMO_SECRET, "/api/auth").serve(upstream_listener)?;
    let upstream_handle = upstream.handle();
    actix_rt::spawn(upstream);

    let proxy = AuthProxy::start();
    proxy
        .configure(demo_options(&format!("http://{upstream_addr}")))
        .await
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let p = proxy.clone();
    let server = HttpServer::new(move || {
        App::new()
            .route("/whoami", web::get().to(whoami))
            .configure(crate::web::configure(p.clone()))
    })
    .workers(2)
    .bind(addr)?;
    let public = server
        .addrs()
        .first()
        .map(|a| a.to_string())
        .unwrap_or_else(|| listen.to_owned());
    println!("{}", instructions(&public, &upstream_addr.to_string()));
    let result = server.run().await;
    upstream_handle.stop(true).await;
    result
}

fn instructions(proxy: &str, upstream: &str) -> String {
    let u = DEMO_USERS[0];
    format!(
        "authjs-proxy demo
  proxy:    http://{proxy}/api/auth  (forwards to the embedded Auth.js-compatible upstream)
  upstream: http://{upstream}/api/auth
  users:    {} / {}, {} / {}

Sign in through the proxy (copy and paste):

  J=$(mktemp)
  CSRF=$(curl -s -c $J http://{proxy}/api/auth/csrf | sed 's/.*\"csrfToken\":\"\\([^\"]*\\)\".*/\\1/')
  curl -si -b $J -c $J http://{proxy}/api/auth/callback/credentials \\
       -d \"csrfToken=$CSRF&email={}&password={}&callbackUrl=/\"
  curl -s -b $J http://{proxy}/api/auth/session; echo
  curl -s -b $J http://{proxy}/whoami; echo
  curl -si -b $J -c $J http://{proxy}/api/auth/signout -d \"csrfToken=$CSRF\"

Ctrl-C stops the demo.",
        u.email, u.password, DEMO_USERS[1].email, DEMO_USERS[1].password, u.email, u.password
    )
}
