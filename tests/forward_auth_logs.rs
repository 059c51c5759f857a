//! Forward-auth decisions are logged at debug with status and reason — never the cookie, the
//! token or a header value. Its own test binary: it installs the process-wide subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use authjs_proxy::AuthProxy;
use authjs_proxy::config::{SESSION_COOKIE, Secret};
use authjs_proxy::gate::{self, ForwardAuthOptions};
use authjs_proxy::token;
use common::*;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn decisions_are_logged_without_cookie_token_or_header_values() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("authjs_proxy=debug"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let mut o = options(&format!("http://127.0.0.1:{}", closed_port()));
    o.secret = Some(Secret::One("log-secret".into()));
    let proxy = AuthProxy::start();
    proxy.configure(o).await.unwrap();
    let mut fa = ForwardAuthOptions {
        enabled: true,
        ..Default::default()
    };
    fa.require.insert("role".into(), vec!["admin".into()]);
    fa.headers.insert("X-Role".into(), "role".into());
    let p = TestProxy::serve_with(
        proxy.clone(),
        gate::configure(proxy, fa.validate().unwrap()),
    );

    let claims = |role: &str| json!({"sub": "u-secret-sub", "email": "hidden@example.com", "name": "Hidden Name", "role": role});
    let admin = token::encode_with_secret(
        claims("admin").as_object().unwrap(),
        "log-secret",
        SESSION_COOKIE,
        3600,
    );
    // A crafted claim makes the name header unsafe: its drop is warned, without the value.
    let mut evil = claims("admin");
    evil["name"] = json!("Evil\r\nX-Evil: 1");
    let crafted = token::encode_with_secret(
        evil.as_object().unwrap(),
        "log-secret",
        SESSION_COOKIE,
        3600,
    );
    let staff = token::encode_with_secret(
        claims("staff").as_object().unwrap(),
        "log-secret",
        SESSION_COOKIE,
        3600,
    );
    let mut statuses = Vec::new();
    for t in [&admin, &crafted, &staff, &"garbage".to_owned()] {
        let res = client()
            .get(p.url("/_authjs/verify"))
            .insert_header(("cookie", format!("{SESSION_COOKIE}={t}")))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 403, 401]);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("forward-auth decision"), "{text}");
    assert!(text.contains("identity header dropped"), "{text}");
    assert!(
        text.contains("status=200") && text.contains("status=403") && text.contains("status=401"),
        "{text}"
    );
    for secret in [
        admin.as_str(),
        &admin[..40],
        &staff[..40],
        "garbage",
        "u-secret-sub",
        "hidden@example.com",
        "Hidden Name",
        "X-Evil",
        "log-secret",
    ] {
        assert!(!text.contains(secret), "logs contain {secret:?}:\n{text}");
    }
}
