//! The `axum` feature: `Session` and `Option<Session>` in a real `Router`, driven with
//! `oneshot` (no server, no runtime: nothing here waits).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use authjs_token::axum::Session;
use authjs_token::{Decoder, Enc, SecretKeys, SessionConfig, UNAUTHORIZED_BODY};
use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use tower::ServiceExt;

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

fn token(secret: &str, salt: &str) -> String {
    authjs_token::encode(
        &serde_json::json!({ "sub": "user-1", "name": "Ada" }),
        secret,
        salt,
        3600,
    )
    .unwrap()
}

async fn required(Session(claims): Session) -> String {
    format!("user {}", claims.sub().unwrap_or("?"))
}

async fn optional(session: Option<Session>) -> String {
    match session {
        Some(session) => format!("user {}", session.sub().unwrap_or("?")),
        None => "anonymous".to_owned(),
    }
}

fn app(config: SessionConfig) -> Router {
    Router::new()
        .route("/required", get(required))
        .route("/optional", get(optional))
        .with_state(config)
}

fn config() -> SessionConfig {
    SessionConfig::new(Decoder::new([SECRET]))
}

/// Status, content type and body of `app`'s answer to a GET of `path` with `headers`.
fn get_with(app: Router, path: &str, headers: &[(header::HeaderName, String)]) -> Answer {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = block_on(app.oneshot(request.body(Body::empty()).unwrap())).unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let www_authenticate = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = block_on(axum::body::to_bytes(response.into_body(), 4096)).unwrap();
    Answer {
        status,
        content_type,
        www_authenticate,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn cookie(value: String) -> Vec<(header::HeaderName, String)> {
    vec![(header::COOKIE, value)]
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    www_authenticate: Option<String>,
    body: String,
}

fn assert_refused(answer: Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer"));
    assert_eq!(answer.body, UNAUTHORIZED_BODY);
    assert_eq!(answer.body, r#"{"error":"not signed in"}"#);
}

#[test]
fn valid_cookie_gives_the_claims_to_the_handler() {
    let header = cookie(format!("theme=dark; {COOKIE}={}", token(SECRET, COOKIE)));
    let answer = get_with(app(config()), "/required", &header);
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "user user-1");
}

#[test]
fn chunked_cookie_is_reassembled() {
    let token = token(SECRET, COOKIE);
    let (a, b) = token.split_at(token.len() / 2);
    let header = cookie(format!("{COOKIE}.1={b}; {COOKIE}.0={a}"));
    let answer = get_with(app(config()), "/required", &header);
    assert_eq!(answer.body, "user user-1");
}

#[test]
fn bearer_token_is_the_fallback() {
    let header = vec![(
        header::AUTHORIZATION,
        format!("Bearer {}", token(SECRET, COOKIE)),
    )];
    let answer = get_with(app(config()), "/required", &header);
    assert_eq!(answer.body, "user user-1");
}

#[test]
fn missing_cookie_is_refused_with_401_json() {
    assert_refused(get_with(
        app(config()),
        "/required",
        &cookie("theme=dark".into()),
    ));
}

#[test]
fn missing_cookie_is_none_for_the_optional_extractor() {
    let answer = get_with(app(config()), "/optional", &[]);
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "anonymous");
}

#[test]
fn valid_cookie_is_some_for_the_optional_extractor() {
    let header = cookie(format!("{COOKIE}={}", token(SECRET, COOKIE)));
    assert_eq!(
        get_with(app(config()), "/optional", &header).body,
        "user user-1"
    );
}

#[test]
fn malformed_token_is_anonymous_for_the_optional_extractor() {
    let answer = get_with(
        app(config()),
        "/optional",
        &cookie(format!("{COOKIE}=not.a.token")),
    );
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "anonymous");
}

#[test]
fn expired_token_is_refused() {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "user-1".into());
    claims.insert("exp".into(), (authjs_token::now_secs() - 3600).into());
    let expired = authjs_token::encode_jwe_raw(
        &claims,
        &SecretKeys::derive(SECRET, COOKIE),
        Enc::A256CbcHs512,
    );
    assert_refused(get_with(
        app(config()),
        "/required",
        &cookie(format!("{COOKIE}={expired}")),
    ));
}

#[test]
fn token_made_with_another_secret_is_refused() {
    let header = cookie(format!("{COOKIE}={}", token("another secret", COOKIE)));
    assert_refused(get_with(app(config()), "/required", &header));
}

#[test]
fn token_made_with_an_older_secret_is_accepted_during_rotation() {
    let rotated = SessionConfig::new(Decoder::new([SECRET, "older secret"]));
    let header = cookie(format!("{COOKIE}={}", token("older secret", COOKIE)));
    assert_eq!(
        get_with(app(rotated), "/required", &header).body,
        "user user-1"
    );
}

#[test]
fn secure_config_reads_only_the_secure_cookie() {
    let secure = config().secure(true);
    let plain = cookie(format!("{COOKIE}={}", token(SECRET, COOKIE)));
    assert_refused(get_with(app(secure.clone()), "/required", &plain));
    let name = "__Secure-authjs.session-token";
    let header = cookie(format!("{name}={}", token(SECRET, name)));
    assert_eq!(
        get_with(app(secure), "/required", &header).body,
        "user user-1"
    );
}

#[test]
fn default_config_reads_the_secure_cookie_too() {
    let name = "__Secure-authjs.session-token";
    let header = cookie(format!("{name}={}", token(SECRET, name)));
    assert_eq!(
        get_with(app(config()), "/required", &header).body,
        "user user-1"
    );
}

#[derive(Clone)]
struct AppState {
    session: SessionConfig,
}

impl FromRef<AppState> for SessionConfig {
    fn from_ref(state: &AppState) -> Self {
        state.session.clone()
    }
}

#[test]
fn config_is_taken_from_a_field_of_the_app_state() {
    let app = Router::new()
        .route("/required", get(required))
        .with_state(AppState { session: config() });
    let header = cookie(format!("{COOKIE}={}", token(SECRET, COOKIE)));
    assert_eq!(get_with(app, "/required", &header).body, "user user-1");
}

#[test]
fn rejection_says_why_to_the_server() {
    async fn why(session: Result<Session, authjs_token::axum::SessionRejection>) -> String {
        match session {
            Ok(_) => "signed in".into(),
            Err(rejection) => rejection.error().to_string(),
        }
    }
    let app = Router::new().route("/", get(why)).with_state(config());
    let header = cookie(format!("{COOKIE}={}", token("another secret", COOKIE)));
    assert_eq!(
        get_with(app.clone(), "/", &header).body,
        "no matching decryption secret"
    );
    assert_eq!(get_with(app, "/", &[]).body, "no session token");
}

#[cfg(feature = "tower")]
mod with_the_layer {
    use authjs_token::tower::SessionLayer;

    use super::*;

    /// The state's decoder knows no secret that works: a handler that gets claims got them
    /// from the layer.
    fn app_behind(layer: SessionLayer) -> Router {
        app(SessionConfig::new(Decoder::new([
            "a secret nothing was made with",
        ])))
        .layer(layer)
    }

    #[test]
    fn extractor_uses_the_claims_the_layer_decoded() {
        let app = app_behind(SessionLayer::new(config()));
        let header = cookie(format!("{COOKIE}={}", token(SECRET, COOKIE)));
        assert_eq!(
            get_with(app.clone(), "/required", &header).body,
            "user user-1"
        );
        assert_eq!(get_with(app, "/optional", &header).body, "user user-1");
    }

    #[test]
    fn extractor_keeps_the_layers_anonymous_verdict() {
        // The layer's decoder refuses the token; the state's would accept it, and is not asked.
        let layer = SessionLayer::new(SessionConfig::new(Decoder::new(["wrong"])));
        let app = app(config()).layer(layer);
        let header = cookie(format!("{COOKIE}={}", token(SECRET, COOKIE)));
        assert_refused(get_with(app.clone(), "/required", &header));
        assert_eq!(get_with(app, "/optional", &header).body, "anonymous");
    }
}
