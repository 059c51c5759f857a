//! One user's session never reaches another: cache keys, what a lookup sends, invalidation
//! against lookups in flight, cookie tossing, and a property test over many users.

mod common;

use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use authjs_proxy::{AuthError, AuthProxy, Scheme, Session};
use common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// An upstream that answers, like Auth.js, with the user named by the session cookie it
/// receives (`authjs.session-token=tok-NAME`), or `null`.
fn per_cookie_upstream(delay: Duration) -> FakeUpstream {
    FakeUpstream::start(move |req, _| {
        let user = req.headers.get_all("cookie").find_map(|v| {
            v.as_bytes().split(|b| *b == b';').find_map(|pair| {
                let pair = pair.trim_ascii();
                let rest = pair.strip_prefix(b"authjs.session-token=tok-")?;
                Some(String::from_utf8_lossy(rest).into_owned())
            })
        });
        match user {
            Some(name) => Reply::json(&format!(
                r#"{{"user":{{"name":"{name}"}},"expires":"2030-01-01T00:00:00.000Z"}}"#
            )),
            None => Reply::json("null"),
        }
        .delay(delay)
    })
}

async fn proxy_for(up: &FakeUpstream) -> AuthProxy {
    let proxy = AuthProxy::start();
    proxy.configure(options(&up.url())).await.unwrap();
    proxy
}

fn raw_cookie(bytes: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::COOKIE, HeaderValue::from_bytes(bytes).unwrap());
    h
}

fn name_of(s: Option<Session>) -> Option<String> {
    s.and_then(|s| s.user).and_then(|u| u.name)
}

#[actix_web::test]
async fn a_session_sent_with_a_non_ascii_cookie_is_never_served_to_anyone_else() {
    let up = per_cookie_upstream(Duration::ZERO);
    let proxy = proxy_for(&up).await;
    let alice = raw_cookie("authjs.session-token=tok-alice; pref=café".as_bytes());
    let s = proxy
        .get_server_session(&alice, Scheme::Http)
        .await
        .unwrap();
    assert_eq!(name_of(s).as_deref(), Some("alice"));
    let anonymous = proxy
        .get_server_session(&HeaderMap::new(), Scheme::Http)
        .await
        .unwrap();
    assert_eq!(anonymous, None);
    let bob = raw_cookie("authjs.session-token=tok-bob; pref=naïve".as_bytes());
    let s = proxy.get_server_session(&bob, Scheme::Http).await.unwrap();
    assert_eq!(name_of(s).as_deref(), Some("bob"));
}

#[actix_web::test]
async fn an_empty_session_cookie_counts_as_none() {
    let up = per_cookie_upstream(Duration::ZERO);
    let proxy = proxy_for(&up).await;
    let empty = raw_cookie(b"authjs.session-token=; other=1");
    assert_eq!(
        proxy
            .get_server_session(&empty, Scheme::Http)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        proxy
            .get_server_session(&HeaderMap::new(), Scheme::Http)
            .await
            .unwrap(),
        None
    );
    assert_eq!(up.count(), 1, "both are the anonymous lookup");
}

#[actix_web::test]
async fn a_session_answered_without_a_session_cookie_is_never_cached() {
    // A misbehaving upstream that answers a session to a request without a session cookie:
    // that answer would otherwise be served to every anonymous caller.
    let up = FakeUpstream::start(|_, _| Reply::json(r#"{"user":{"name":"who"}}"#));
    let proxy = proxy_for(&up).await;
    for _ in 0..3 {
        proxy
            .get_server_session(&HeaderMap::new(), Scheme::Http)
            .await
            .unwrap();
    }
    assert_eq!(up.count(), 3);
}

#[actix_web::test]
async fn a_session_cookie_with_unusual_bytes_is_asked_but_never_cached() {
    let up = per_cookie_upstream(Duration::ZERO);
    let proxy = proxy_for(&up).await;
    let odd = raw_cookie("authjs.session-token=tok-zoë".as_bytes());
    for _ in 0..2 {
        proxy.get_server_session(&odd, Scheme::Http).await.unwrap();
    }
    assert_eq!(up.count(), 2);
}

#[actix_web::test]
async fn session_lookup_never_forwards_the_apps_other_headers() {
    let up = per_cookie_upstream(Duration::ZERO);
    let proxy = proxy_for(&up).await;
    let mut h = raw_cookie(b"authjs.session-token=tok-ada");
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer app-secret"),
    );
    h.insert(
        header::HeaderName::from_static("x-internal-token"),
        HeaderValue::from_static("t"),
    );
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    let rec = up.last();
    assert_eq!(rec.header("authorization"), None);
    assert_eq!(rec.header("x-internal-token"), None);
    assert_eq!(
        rec.header("cookie").as_deref(),
        Some("authjs.session-token=tok-ada")
    );
}

#[actix_web::test]
async fn a_sign_out_wins_against_a_lookup_already_in_flight() {
    let up = FakeUpstream::start(|req, n| {
        if req.path_and_query.ends_with("/signout") {
            Reply::status(302).header("location", "/")
        } else if n == 0 {
            // The first lookup is slow: the sign-out happens while it is in flight.
            Reply::json(r#"{"user":{"name":"old"}}"#).delay(Duration::from_millis(400))
        } else {
            Reply::json("null")
        }
    });
    let proxy = proxy_for(&up).await;
    let p = TestProxy::serve(proxy.clone(), |_| {});
    let h = raw_cookie(b"authjs.session-token=tok-ada");
    let lookup = proxy.get_server_session(&h, Scheme::Http);
    let sign_out = async {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
        client()
            .post(p.url("/api/auth/signout"))
            .insert_header(("cookie", "authjs.session-token=tok-ada"))
            .send_body("csrfToken=x")
            .await
            .unwrap()
            .status()
    };
    let (old, status) = futures_util::join!(lookup, sign_out);
    assert_eq!(status, 302);
    assert_eq!(name_of(old.unwrap()).as_deref(), Some("old"));
    let after = proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    assert_eq!(
        after, None,
        "the lookup from before the sign-out was cached"
    );
}

#[actix_web::test]
async fn on_https_a_plain_named_session_cookie_is_ignored() {
    let up = per_cookie_upstream(Duration::ZERO);
    let mut o = options(&up.url());
    o.secret = Some(authjs_proxy::config::Secret::One("s".into()));
    let proxy = AuthProxy::start();
    proxy.configure(o).await.unwrap();
    let token = authjs_proxy::token::encode_with_secret(
        serde_json::json!({"sub": "tossed"}).as_object().unwrap(),
        "s",
        "authjs.session-token",
        3600,
    );
    let tossed = raw_cookie(format!("authjs.session-token={token}").as_bytes());
    assert_eq!(
        proxy
            .get_token(&tossed, Scheme::Https, false)
            .await
            .unwrap(),
        None,
        "a sibling subdomain's plain cookie is not a session on https"
    );
    assert!(
        proxy
            .get_token(&tossed, Scheme::Http, false)
            .await
            .unwrap()
            .is_some()
    );
}

#[actix_web::test]
async fn the_scheme_is_part_of_the_cache_key() {
    let up = per_cookie_upstream(Duration::ZERO);
    let proxy = proxy_for(&up).await;
    let h = raw_cookie(b"authjs.session-token=tok-ada");
    proxy.get_server_session(&h, Scheme::Http).await.unwrap();
    proxy.get_server_session(&h, Scheme::Https).await.unwrap();
    assert_eq!(up.count(), 2);
    assert_eq!(
        up.last().header("x-forwarded-proto").as_deref(),
        Some("https")
    );
}

#[actix_web::test]
async fn an_invalid_host_is_an_error_not_an_identity() {
    let up = per_cookie_upstream(Duration::ZERO);
    let proxy = proxy_for(&up).await;
    let mut h = raw_cookie(b"authjs.session-token=tok-ada");
    h.insert(header::HOST, HeaderValue::from_static("evil.example#"));
    assert_eq!(
        proxy.get_server_session(&h, Scheme::Http).await,
        Err(AuthError::BadHost)
    );
}

#[actix_web::test]
async fn fields_of_unexpected_types_do_not_drop_the_session() {
    let up = FakeUpstream::start(|_, _| {
        Reply::json(r#"{"user":{"name":42,"email":"a@example.com","id":7},"expires":1}"#)
    });
    let proxy = proxy_for(&up).await;
    let s = proxy
        .get_server_session(&raw_cookie(b"authjs.session-token=t"), Scheme::Http)
        .await
        .unwrap()
        .expect("still a session");
    let user = s.user.unwrap();
    assert_eq!(user.email.as_deref(), Some("a@example.com"));
    assert_eq!(user.id.as_deref(), Some("7"));
    assert_eq!(user.name, None);
    assert_eq!(user.extra["name"], 42);
    assert_eq!(s.expires, None);
    assert_eq!(s.extra["expires"], 1);
}

/// One request of the property test: which user (if any) it carries, and how its cookies
/// are spelled.
#[derive(Debug, Clone)]
struct Caller {
    user: Option<usize>,
    /// Other cookies: (name, value bytes).
    extra: Vec<(String, Vec<u8>)>,
    /// An empty session cookie before the real one.
    empty_first: bool,
    /// How many `Cookie` headers the pairs are spread over.
    headers: usize,
}

fn caller() -> impl Strategy<Value = Caller> {
    let value = prop_oneof![
        "[a-z0-9]{0,8}".prop_map(String::into_bytes),
        proptest::collection::vec(0x20u8..=0xff, 0..8)
            .prop_map(|v| { v.into_iter().filter(|b| *b != b';' && *b != 0x7f).collect() }),
    ];
    (
        proptest::option::of(0usize..4),
        proptest::collection::vec(("[a-z]{1,6}", value), 0..4),
        any::<bool>(),
        1usize..=3,
    )
        .prop_map(|(user, extra, empty_first, headers)| Caller {
            user,
            extra,
            empty_first,
            headers,
        })
}

impl Caller {
    fn header_map(&self) -> HeaderMap {
        let mut pairs: Vec<Vec<u8>> = self
            .extra
            .iter()
            .map(|(n, v)| [n.as_bytes(), b"=", v].concat())
            .collect();
        if self.empty_first {
            pairs.insert(0, b"authjs.session-token=".to_vec());
        }
        if let Some(u) = self.user {
            pairs.push(format!("authjs.session-token=tok-user{u}").into_bytes());
        }
        let mut h = HeaderMap::new();
        let per = pairs.len().div_ceil(self.headers).max(1);
        for chunk in pairs.chunks(per) {
            if let Ok(v) = HeaderValue::from_bytes(&chunk.join(&b"; "[..])) {
                h.append(header::COOKIE, v);
            }
        }
        h
    }
}

#[actix_web::test]
async fn every_answer_belongs_to_its_caller_under_random_interleavings() {
    let up = per_cookie_upstream(Duration::from_millis(2));
    let proxy = proxy_for(&up).await;
    let mut runner = TestRunner::deterministic();
    let batch = proptest::collection::vec(caller(), 1..24);
    for _round in 0..40 {
        let callers = batch.new_tree(&mut runner).unwrap().current();
        let lookups = callers.iter().map(|c| {
            let proxy = proxy.clone();
            let headers = c.header_map();
            async move { proxy.get_server_session(&headers, Scheme::Http).await }
        });
        let answers = futures_util::future::join_all(lookups).await;
        for (c, answer) in callers.iter().zip(answers) {
            let expected = c.user.map(|u| format!("user{u}"));
            assert_eq!(name_of(answer.unwrap()), expected, "answer for {c:?}");
        }
    }
    assert!(up.count() < 40 * 24, "the cache answered some lookups");
}
