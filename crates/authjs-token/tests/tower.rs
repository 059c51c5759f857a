//! The `tower` feature: `SessionLayer` around a plain `service_fn` and around an axum
//! `Router`, driven with `oneshot` (no server, no runtime: nothing here waits).

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use authjs_token::tower::SessionLayer;
use authjs_token::{Claims, Decoder, SessionConfig, UNAUTHORIZED_BODY};
use axum::extract::Extension;
use axum::http::{Request, Response, StatusCode, header};
use tower::{Layer, Service, ServiceExt, service_fn};

const SECRET: &str = "current secret";
const COOKIE: &str = "authjs.session-token";

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn config() -> SessionConfig {
    SessionConfig::new(Decoder::new([SECRET]))
}

fn signed_in() -> Request<()> {
    let token = authjs_token::encode(
        &serde_json::json!({ "sub": "user-1" }),
        SECRET,
        COOKIE,
        3600,
    )
    .unwrap();
    Request::get("/")
        .header(header::COOKIE, format!("{COOKIE}={token}"))
        .body(())
        .unwrap()
}

fn anonymous() -> Request<()> {
    Request::get("/").body(()).unwrap()
}

/// A service answering with the `sub` it finds in the request's extensions, and counting
/// its calls.
fn counting_echo() -> (
    Arc<AtomicUsize>,
    impl Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let service = service_fn(move |request: Request<()>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let sub = request
            .extensions()
            .get::<Claims>()
            .map(|claims| claims.sub().unwrap_or("?").to_owned());
        async move { Ok(Response::new(sub.unwrap_or_else(|| "none".into()))) }
    });
    (calls, service)
}

#[test]
fn layer_puts_the_claims_in_the_request_extensions() {
    let (_, echo) = counting_echo();
    let service = SessionLayer::new(config()).layer(echo);
    let response = block_on(service.oneshot(signed_in())).unwrap();
    assert_eq!(response.body(), "user-1");
}

#[test]
fn layer_lets_an_anonymous_request_through_without_claims() {
    let (calls, echo) = counting_echo();
    let service = SessionLayer::new(config()).layer(echo);
    let response = block_on(service.oneshot(anonymous())).unwrap();
    assert_eq!(
        (response.status(), response.body().as_str()),
        (StatusCode::OK, "none")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn layer_lets_a_request_with_a_bad_token_through_without_claims() {
    let (_, echo) = counting_echo();
    let service = SessionLayer::new(config()).layer(echo);
    let request = Request::get("/")
        .header(header::COOKIE, format!("{COOKIE}=not.a.token"))
        .body(())
        .unwrap();
    assert_eq!(block_on(service.oneshot(request)).unwrap().body(), "none");
}

#[test]
fn require_refuses_an_anonymous_request_without_calling_the_service() {
    let (calls, echo) = counting_echo();
    let service = SessionLayer::new(config()).require().layer(echo);
    let response = block_on(service.oneshot(anonymous())).unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(response.body(), UNAUTHORIZED_BODY);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn require_refuses_a_token_made_with_another_secret() {
    let (calls, echo) = counting_echo();
    let other = SessionConfig::new(Decoder::new(["another secret"]));
    let service = SessionLayer::new(other).require().layer(echo);
    let response = block_on(service.oneshot(signed_in())).unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn require_calls_the_service_with_the_claims_of_a_signed_in_request() {
    let (calls, echo) = counting_echo();
    let service = SessionLayer::new(config()).require().layer(echo);
    let response = block_on(service.oneshot(signed_in())).unwrap();
    assert_eq!(
        (response.status(), response.body().as_str()),
        (StatusCode::OK, "user-1")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn layer_passes_the_claims_to_an_axum_handler_through_the_extensions() {
    async fn handler(Extension(claims): Extension<Claims>) -> String {
        format!("user {}", claims.sub().unwrap_or("?"))
    }
    let app = axum::Router::new()
        .route("/", axum::routing::get(handler))
        .layer(SessionLayer::new(config()));
    let (parts, ()) = signed_in().into_parts();
    let request = Request::from_parts(parts, axum::body::Body::empty());
    let response = block_on(app.oneshot(request)).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = block_on(axum::body::to_bytes(response.into_body(), 1024)).unwrap();
    assert_eq!(&body[..], b"user user-1");
}

#[test]
fn require_layer_guards_an_axum_router() {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "secret" }))
        .layer(SessionLayer::new(config()).require());
    let request = Request::get("/").body(axum::body::Body::empty()).unwrap();
    let response = block_on(app.oneshot(request)).unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = block_on(axum::body::to_bytes(response.into_body(), 1024)).unwrap();
    assert_eq!(&body[..], UNAUTHORIZED_BODY.as_bytes());
}

#[test]
fn debug_output_shows_no_secret() {
    let layer = SessionLayer::new(config()).require();
    let service = layer.clone().layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    for debug in [format!("{layer:?}"), format!("{service:?}")] {
        assert!(debug.contains(COOKIE), "{debug}");
        assert!(!debug.contains(SECRET), "{debug}");
    }
}
