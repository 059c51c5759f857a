//! Embedding authjs-proxy in an existing actix-web app: the Auth.js routes are mounted next to
//! the app's own routes, and handlers use the extractors to know who is calling.
//!
//! Run against an Auth.js upstream (or `cargo run -- demo`'s embedded one):
//!
//! ```sh
//! AUTH_UPSTREAM=http://127.0.0.1:4000 AUTH_SECRET=... cargo run --example embed
//! # LISTEN=127.0.0.1:8080 and WORKERS=<CPUs> by default
//! curl -s http://127.0.0.1:8080/api/auth/providers
//! curl -si http://127.0.0.1:8080/_authjs/verify      # forward-auth decision: 401 anonymous
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};
use authjs_proxy::options::ForwardAuthOptions;
use authjs_proxy::options::{ProxyOptions, Secret, SessionStrategy};
use authjs_proxy::{AuthProxy, Claims, Session};

async fn index() -> HttpResponse {
    HttpResponse::Ok().body("public page")
}

/// Only for signed-in users: `Session` answers 401 otherwise.
async fn me(session: Session) -> HttpResponse {
    HttpResponse::Ok().json(session)
}

/// For everyone: `Option<Session>` is `None` for anonymous callers.
async fn greeting(session: Option<Session>) -> HttpResponse {
    let name = session
        .and_then(|s| s.user)
        .and_then(|u| u.name)
        .unwrap_or_else(|| "stranger".into());
    HttpResponse::Ok().body(format!("hello, {name}"))
}

/// Decoded locally from the session cookie, no upstream request (needs the secret).
async fn token(claims: Claims) -> HttpResponse {
    HttpResponse::Ok().json(claims)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let upstream =
        std::env::var("AUTH_UPSTREAM").unwrap_or_else(|_| "http://127.0.0.1:4000".into());
    let mut options = ProxyOptions::new(upstream, SessionStrategy::Jwt);
    options.secret = std::env::var("AUTH_SECRET").ok().map(Secret::One);

    let proxy = AuthProxy::start();
    proxy
        .configure(options)
        .await
        .map_err(|e| std::io::Error::other(format!("invalid configuration: {e}")))?;

    // The forward-auth endpoint, for a front proxy guarding other apps (README "Protect an app").
    let gate = ForwardAuthOptions {
        enabled: true,
        ..Default::default()
    }
    .validate()
    .map_err(|e| std::io::Error::other(format!("invalid configuration: {e}")))?;

    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    HttpServer::new(move || {
        App::new()
            .route("/", web::get().to(index))
            .route("/me", web::get().to(me))
            .route("/hello", web::get().to(greeting))
            .route("/token", web::get().to(token))
            .configure(authjs_proxy::forward_auth::configure(
                proxy.clone(),
                gate.clone(),
            ))
            .configure(authjs_proxy::configure(proxy.clone()))
    })
    .workers(workers)
    .bind(listen)?
    .run()
    .await
}
