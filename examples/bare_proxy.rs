//! Reference point for benches/proxy-load.sh: the smallest actix-web + awc proxy for one route
//! (no retries, no header hygiene, no limits). It shows what the framework itself costs, so the
//! gap between it and authjs-proxy is what authjs-proxy's own work costs.
//!
//! `cargo run --release --example bare_proxy -- 127.0.0.1:18084 http://127.0.0.1:18081 [WORKERS]`

use actix_web::{App, HttpResponse, HttpServer, web};

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

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18084".into());
    let upstream = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:18081".into());
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(awc::Client::default()))
            .app_data(web::Data::new(upstream.clone()))
            .route("/api/auth/session", web::get().to(session))
    })
    .workers(workers)
    .bind(listen)?
    .run()
    .await
}
