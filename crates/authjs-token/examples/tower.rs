//! Reading the Auth.js session in any tower service (hyper, tonic, tower-http stacks).
//!
//! `SessionLayer` decodes the session once per request and puts its `Claims` in the request's
//! extensions; `.require()` answers `401` to anonymous requests without calling the service.
//!
//! Run: `cargo run -p authjs-token --example tower --features tower`. No server here: `main`
//! drives a few requests through the services by hand and prints the answers; a real service
//! hands the same stack to hyper (`hyper_util::service::TowerToHyperService`) or tonic
//! (`Server::builder().layer(...)`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use authjs_token::tower::SessionLayer;
use authjs_token::{Claims, Decoder, SessionConfig};
use http::{Request, Response, header};
use tower::{Layer, ServiceExt, service_fn};

/// The application: greets the signed-in user by name, anyone else as a guest.
async fn hello(request: Request<()>) -> Result<Response<String>, Infallible> {
    let greeting = match request.extensions().get::<Claims>() {
        Some(claims) => format!("hello {}", claims.name().unwrap_or("?")),
        None => "hello guest".to_owned(),
    };
    Ok(Response::new(greeting))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("AUTH_SECRET").unwrap_or_else(|_| "development secret".into());
    // `secure(true)` on a site served over https: then only `__Secure-` cookies count.
    let config = SessionConfig::new(Decoder::new([&secret])).secure(false);

    let open = SessionLayer::new(config.clone()).layer(service_fn(hello));
    let guarded = SessionLayer::new(config).require().layer(service_fn(hello));

    // What an Auth.js app would have set after sign-in.
    let token = authjs_token::encode(
        &serde_json::json!({ "sub": "user-1", "name": "Ada" }),
        &secret,
        "authjs.session-token",
        3600,
    )?;
    let requests = [
        ("signed in", Some(format!("authjs.session-token={token}"))),
        ("anonymous", None),
        (
            "forged",
            Some("authjs.session-token=not-a-token".to_owned()),
        ),
    ];
    for (what, cookie) in requests {
        let request = || {
            let mut request = Request::get("/");
            if let Some(cookie) = &cookie {
                request = request.header(header::COOKIE, cookie);
            }
            request.body(())
        };
        let response = block_on(open.clone().oneshot(request()?))?;
        println!(
            "{what:>9}, open:    {} {}",
            response.status(),
            response.body()
        );
        let response = block_on(guarded.clone().oneshot(request()?))?;
        println!(
            "{what:>9}, guarded: {} {}",
            response.status(),
            response.body()
        );
    }
    Ok(())
}

/// Polls a future to completion without a runtime (these services never wait).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}
