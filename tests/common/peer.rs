//! The real Auth.js peer (tests/e2e/authjs: Express 4 + @auth/express) and a cookie-keeping
//! client, for end-to-end tests. Same helpers as tests/e2e.rs, shared for tests/e2e_front.rs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::web::Bytes;
use serde_json::Value;

use super::client;

pub const PEER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/authjs");

/// Whether the Auth.js peer can run; panics under CI when it cannot.
pub fn peer_ready() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = Path::new(PEER_DIR)
        .join("node_modules/@auth/express")
        .exists();
    if node && installed {
        return true;
    }
    if super::in_ci() {
        panic!(
            "CI is set but the Auth.js peer cannot run (node: {node}, npm ci done: {installed})"
        );
    }
    eprintln!("SKIPPED: needs Node and `npm ci --prefix tests/e2e/authjs`");
    false
}

/// A running Auth.js peer; stopped when dropped.
pub struct AuthJs {
    child: Child,
    pub port: u16,
}

impl AuthJs {
    pub fn start(secrets: &str) -> Self {
        Self::start_on(0, secrets)
    }

    pub fn start_on(port: u16, secrets: &str) -> Self {
        Self::spawn(port, secrets, None)
    }

    /// The peer in database mode: `@auth/pg-adapter` on `database_url` (its tables must
    /// exist), database sessions, sign-in by e-mail link ([`AuthJs::last_link`]).
    pub fn start_with_database(secrets: &str, database_url: &str) -> Self {
        Self::spawn(0, secrets, Some(database_url))
    }

    fn spawn(port: u16, secrets: &str, database_url: Option<&str>) -> Self {
        let mut command = Command::new("node");
        if let Some(url) = database_url {
            command.env("E2E_DATABASE_URL", url);
        } else {
            command.env_remove("E2E_DATABASE_URL");
        }
        let mut child = command
            .arg("server.mjs")
            .current_dir(PEER_DIR)
            .env("PORT", port.to_string())
            .env("AUTH_SECRETS", secrets)
            .env_remove("AUTH_SECRET")
            .env_remove("AUTH_URL")
            .env_remove("NEXTAUTH_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the Auth.js peer did not start within 30 s");
        let port = line
            .strip_prefix("listening on ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the peer: {line}"));
        AuthJs { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The path and query of the last sign-in link the e-mail provider "sent" to `email`.
    pub async fn last_link(&self, email: &str) -> String {
        let mut res = client()
            .get(format!("{}/__e2e/last-link", self.url()))
            .query(&[("email", email)])
            .unwrap()
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "no sign-in link was sent to {email}");
        let body: Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
        let url = url::Url::parse(body["url"].as_str().unwrap()).unwrap();
        format!("{}?{}", url.path(), url.query().unwrap_or_default())
    }

    /// Requests this instance received, per "METHOD path".
    pub async fn counts(&self) -> Value {
        let mut res = client()
            .get(format!("{}/__e2e/counts", self.url()))
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&res.body().await.unwrap()).unwrap()
    }
}

impl Drop for AuthJs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One answer, read whole.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn location(&self) -> String {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
    pub fn set_cookie_names(&self) -> Vec<String> {
        self.set_cookies()
            .iter()
            .map(|c| c.split('=').next().unwrap().to_owned())
            .collect()
    }
}

/// A client with a cookie jar, like a browser that does not follow redirects.
pub struct Browser {
    pub origin: String,
    pub jar: Vec<(String, String)>,
    pub extra: Vec<(&'static str, String)>,
}

impl Browser {
    pub fn new(origin: String) -> Self {
        Browser {
            origin,
            jar: Vec::new(),
            extra: Vec::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The request headers the app would see (for the helpers).
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&self.cookie_header()).unwrap(),
        );
        h
    }

    pub fn has_cookie(&self, prefix: &str) -> bool {
        self.jar.iter().any(|(k, _)| k.starts_with(prefix))
    }

    pub fn absorb(&mut self, res: &Resp) {
        for c in res.set_cookies() {
            let (pair, attrs) = c.split_once(';').unwrap_or((&c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.jar.retain(|(k, _)| k != name);
            if !value.is_empty() && !attrs.contains("Max-Age=0") {
                self.jar.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let c = client();
        let mut req = c.request(method.parse().unwrap(), format!("{}{path}", self.origin));
        if !self.jar.is_empty() {
            req = req.insert_header((header::COOKIE, self.cookie_header()));
        }
        for (k, v) in &self.extra {
            req = req.insert_header((*k, v.as_str()));
        }
        for (k, v) in extra {
            req = req.insert_header((*k, *v));
        }
        let mut res = match form {
            Some(f) => req
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .send_body(serde_urlencoded::to_string(f).unwrap()),
            None => req.send(),
        }
        .await
        .unwrap();
        let resp = Resp {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.body().limit(1 << 20).await.unwrap(),
        };
        self.absorb(&resp);
        resp
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, None, &[]).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send("POST", path, Some(form), &[]).await
    }

    pub async fn csrf(&mut self, base: &str) -> String {
        let res = self.get(&format!("{base}/csrf")).await;
        assert_eq!(res.status, 200);
        res.json()["csrfToken"].as_str().unwrap().to_owned()
    }

    pub async fn sign_in(&mut self, base: &str, email: &str, password: &str) -> Resp {
        self.sign_in_to(base, email, password, "/dashboard").await
    }

    /// Signs in with the credentials provider, asking to land on `callback_url`.
    pub async fn sign_in_to(
        &mut self,
        base: &str,
        email: &str,
        password: &str,
        callback_url: &str,
    ) -> Resp {
        let csrf = self.csrf(base).await;
        self.post(
            &format!("{base}/callback/credentials"),
            &[
                ("csrfToken", &csrf),
                ("email", email),
                ("password", password),
                ("callbackUrl", callback_url),
            ],
        )
        .await
    }

    /// Signs in by e-mail link (the peer's database mode): asks for the link, then follows it,
    /// both through this browser's origin. The answer to the link.
    pub async fn sign_in_by_email(&mut self, base: &str, peer: &AuthJs, email: &str) -> Resp {
        let csrf = self.csrf(base).await;
        let asked = self
            .post(
                &format!("{base}/signin/email"),
                &[("csrfToken", &csrf), ("email", email), ("callbackUrl", "/")],
            )
            .await;
        assert_eq!(asked.status, 302, "e-mail sign-in was not accepted");
        assert!(
            asked.location().contains("verify-request"),
            "{}",
            asked.location()
        );
        let link = peer.last_link(email).await;
        self.get(&link).await
    }

    /// Drops cookies whose name starts with `prefix`.
    pub fn forget(&mut self, prefix: &str) {
        self.jar.retain(|(k, _)| !k.starts_with(prefix));
    }

    /// Sets (or replaces) a cookie.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.jar.retain(|(k, _)| k != name);
        self.jar.push((name.to_owned(), value.to_owned()));
    }

    /// The value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}
