//! Reference points for benches/proxy-load.sh: the smallest actix-web + awc proxies for one
//! route (no retries, no header hygiene, no limits). They show what the framework itself costs,
//! so the gap between them and authjs-proxy is what authjs-proxy's own work costs.
//!
//! * default: forwards nothing but the path; answers with the status and body alone.
//! * `headers` (fourth argument): the shape of actix's own `http-proxy` example: the client's
//!   request head (headers) goes upstream with `X-Forwarded-For`, and the answer's headers come
//!   back without `Connection`. Any proxy in front of Auth.js must at least do this (cookies
//!   up, `Set-Cookie` down). Bodies are read whole, as authjs-proxy does.
//!
//! `cargo run --release --example bare_proxy -- 127.0.0.1:18084 http://127.0.0.1:18081 [WORKERS] [headers]`

use actix_web::dev::PeerAddr;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// The same allocator as the authjs-proxy binary, so the comparison is like for like.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn session(client: web::Data<awc::Client>, upstream: web::Data<String>) -> HttpResponse {
    let Ok(mut res) = client
        .get(format!("{}/api/auth/session", upstream.as_str()))
        .send()
        .await
    else {
        return HttpResponse::BadGateway().finish();
    };
    match res.body().await {
        Ok(body) => HttpResponse::build(res.status()).body(body),
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

async fn session_with_headers(
    req: HttpRequest,
    body: web::Bytes,
    peer: Option<PeerAddr>,
    client: web::Data<awc::Client>,
    upstream: web::Data<String>,
) -> HttpResponse {
    let mut forwarded = client
        .request_from(
            format!("{}/api/auth/session", upstream.as_str()),
            req.head(),
        )
        .no_decompress();
    if let Some(PeerAddr(addr)) = peer {
        forwarded = forwarded.insert_header(("x-forwarded-for", addr.ip().to_string()));
    }
    let Ok(mut res) = forwarded.send_body(body).await else {
        return HttpResponse::BadGateway().finish();
    };
    let mut out = HttpResponse::build(res.status());
    for (name, value) in res.headers().iter().filter(|(h, _)| *h != "connection") {
        out.insert_header((name.clone(), value.clone()));
    }
    match res.body().await {
        Ok(body) => out.body(body),
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18084".into());
    let upstream = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:18081".into());
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    let headers = args.next().as_deref() == Some("headers");
    HttpServer::new(move || {
        let app = App::new()
            .app_data(web::Data::new(awc::Client::default()))
            .app_data(web::Data::new(upstream.clone()));
        if headers {
            app.route("/api/auth/session", web::get().to(session_with_headers))
        } else {
            app.route("/api/auth/session", web::get().to(session))
        }
    })
    .workers(workers)
    .bind(listen)?
    .run()
    .await
}
