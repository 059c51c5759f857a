//! Reading the Auth.js session in an axum service, with the `axum` feature.
//!
//! `Session` is an extractor: handlers that take it answer `401` (JSON) to a request without a
//! valid session; `Option<Session>` lets anonymous requests in. The `SessionConfig` (the
//! `Decoder`, built once, and which cookie names count) is part of the router state.
//!
//! Run: `cargo run -p authjs-token --example axum --features axum`. axum is built here without
//! features, so `main` drives a few requests through the router by hand; a real service adds
//! axum's `tokio` and `http1` features and calls `axum::serve(listener, app)`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use authjs_token::axum::Session;
use authjs_token::{Decoder, SessionConfig};
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::{Request, header};
use axum::routing::get;
use tower::ServiceExt;

/// The application's state; the extractors find the `SessionConfig` in it through `FromRef`.
#[derive(Clone)]
struct AppState {
    session: SessionConfig,
    site: &'static str,
}

impl FromRef<AppState> for SessionConfig {
    fn from_ref(state: &AppState) -> Self {
        state.session.clone()
    }
}

/// Signed-in users only.
async fn me(Session(claims): Session) -> String {
    format!(
        "hello {} ({})",
        claims.name().unwrap_or("?"),
        claims.sub().unwrap_or("-")
    )
}

/// Everyone; a missing, expired or forged session is anonymous.
async fn home(session: Option<Session>, State(state): State<AppState>) -> String {
    match session {
        Some(session) => format!(
            "{}: welcome back, {}",
            state.site,
            session.name().unwrap_or("?")
        ),
        None => format!("{}: welcome, guest", state.site),
    }
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .with_state(state)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("AUTH_SECRET").unwrap_or_else(|_| "development secret".into());
    let app = app(AppState {
        // `secure(true)` on a site served over https: then only `__Secure-` cookies count.
        session: SessionConfig::new(Decoder::new([&secret])).secure(false),
        site: "example",
    });

    // What an Auth.js app would have set after sign-in.
    let token = authjs_token::encode(
        &serde_json::json!({ "sub": "user-1", "name": "Ada" }),
        &secret,
        "authjs.session-token",
        3600,
    )?;
    let signed_in = format!("authjs.session-token={token}");
    for path in ["/me", "/"] {
        for cookie in [signed_in.as_str(), "theme=dark"] {
            let request = Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())?;
            let response = block_on(app.clone().oneshot(request))?;
            let status = response.status();
            let body = block_on(axum::body::to_bytes(response.into_body(), 1024))?;
            let who = if cookie == signed_in {
                "signed in"
            } else {
                "anonymous"
            };
            println!(
                "GET {path:<3} {who:>9}: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    Ok(())
}

/// Polls a future to completion without a runtime (the router's futures here never wait).
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
