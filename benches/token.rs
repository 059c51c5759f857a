//! Per-operation cost of `session cache hit`: one `get_server_session` answered from the cache.
//!
//! `cargo bench --bench token`. Token decoding itself is benchmarked in the `authjs-token`
//! crate (`cargo bench -p authjs-token --bench decode`; `benches/decode-vs-authjs.sh` compares
//! it with @auth/core and the Python peer).

use std::hint::black_box;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{App, HttpResponse, HttpServer, web};
use authjs_proxy::AuthProxy;
use authjs_proxy::Scheme;
use authjs_proxy::config::{ProxyOptions, SessionStrategy};
use criterion::{Criterion, criterion_group, criterion_main};

fn fixture() -> (String, String, String) {
    let all: serde_json::Value = serde_json::from_str(include_str!(
        "../crates/authjs-token/tests/vectors/authjs-tokens.json"
    ))
    .unwrap();
    let f = &all[0];
    (
        f["token"].as_str().unwrap().to_owned(),
        f["secret"].as_str().unwrap().to_owned(),
        f["salt"].as_str().unwrap().to_owned(),
    )
}

fn cache_hit(c: &mut Criterion) {
    let system = actix_rt::System::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let proxy = system.block_on(async move {
        let server = HttpServer::new(|| {
            App::new().default_service(web::to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(r#"{"user":{"name":"Ada","email":"ada@example.com"},"expires":"2030-01-01T00:00:00.000Z"}"#)
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        let proxy = AuthProxy::start();
        let mut o = ProxyOptions::new(format!("http://{addr}"), SessionStrategy::Jwt);
        o.session_cache.ttl_ms = 3_600_000;
        proxy.configure(o).await.unwrap();
        proxy
    });
    let mut headers = HeaderMap::new();
    let (token, _, _) = fixture();
    headers.insert(
        header::COOKIE,
        HeaderValue::from_str(&format!("authjs.session-token={token}; theme=dark")).unwrap(),
    );
    system.block_on(async {
        proxy
            .get_server_session(&headers, Scheme::Http)
            .await
            .unwrap()
            .unwrap()
    });
    c.bench_function("session cache hit", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(
                        proxy
                            .get_server_session(&headers, Scheme::Http)
                            .await
                            .unwrap(),
                    );
                }
                start.elapsed()
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = cache_hit
}
criterion_main!(benches);
