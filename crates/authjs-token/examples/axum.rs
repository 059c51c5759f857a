//! Reading the Auth.js session in an axum service.
//!
//! `Session` is an extractor: handlers that take it answer `401` to a request without a valid
//! session. The `Decoder` is built once and shared as router state.
//!
//! Run: `cargo run -p authjs-token --example axum`. axum is built here without features, so
//! `main` drives two requests through the router by hand; a real service adds axum's `tokio`
//! and `http1` features and calls `axum::serve(listener, app)`.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use authjs_token::{Claims, Decoder};
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{Request, StatusCode, header, request::Parts};
use axum::routing::get;
use tower::ServiceExt;

/// Whether the service is reached over https (then only `__Secure-` cookies count).
const SECURE: bool = false;

/// The session of the request, from its cookies or `Authorization: Bearer`.
struct Session(Claims);

impl<S> FromRequestParts<S> for Session
where
    Arc<Decoder>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let decoder = Arc::<Decoder>::from_ref(state);
        let cookies = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .map(|v| v.as_bytes());
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        decoder
            .from_headers(cookies, bearer, SECURE)
            .map(Session)
            .map_err(|_| StatusCode::UNAUTHORIZED)
    }
}

async fn me(Session(claims): Session) -> String {
    format!(
        "hello {} ({})",
        claims.name().unwrap_or("anonymous"),
        claims.sub().unwrap_or("-")
    )
}

fn app(decoder: Arc<Decoder>) -> Router {
    Router::new().route("/me", get(me)).with_state(decoder)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("AUTH_SECRET").unwrap_or_else(|_| "development secret".into());
    let app = app(Arc::new(Decoder::new([&secret])));

    // What an Auth.js app would have set after sign-in.
    let token = authjs_token::encode(
        &serde_json::json!({ "sub": "user-1", "name": "Ada" }),
        &secret,
        "authjs.session-token",
        3600,
    )?;
    for cookie in [format!("authjs.session-token={token}"), "theme=dark".into()] {
        let request = Request::get("/me")
            .header(header::COOKIE, cookie)
            .body(Body::empty())?;
        let response = block_on(app.clone().oneshot(request))?;
        let status = response.status();
        let body = block_on(axum::body::to_bytes(response.into_body(), 1024))?;
        println!("{status} {}", String::from_utf8_lossy(&body));
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
