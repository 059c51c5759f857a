//! A real headless Chromium (Debian's `chromium`), driven by `tests/e2e/authjs/browser.mjs`
//! (`puppeteer-core`, which never downloads a browser) over one JSON line per command.
//!
//! Every command is bounded in time. When a test fails while a [`Chromium`] is alive, its drop
//! saves a screenshot and the page HTML in the test's temporary folder and prints their paths;
//! after a success the folder is removed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::peer::PEER_DIR;

/// The browser the tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL: &str = "apt-get install chromium chromium-driver; npm ci --prefix tests/e2e/authjs";
/// Longest wait for one navigation or element, inside the browser.
const STEP: Duration = Duration::from_secs(10);
/// Longest wait for one command's answer (a step, plus slack for a loaded 2-core machine).
const ANSWER: Duration = Duration::from_secs(25);
/// Longest life of one browser session: browser.mjs exits after it, whatever happens.
const SESSION: Duration = Duration::from_secs(150);

/// Whether Chromium and puppeteer-core are there; panics in CI (see `in_ci`) when they are not.
pub fn chromium_ready() -> bool {
    let browser = Command::new(CHROMIUM)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let driver = Path::new(PEER_DIR)
        .join("node_modules/puppeteer-core")
        .exists();
    // The driver runs on Node.
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if browser && driver && node {
        return true;
    }
    if super::in_ci() {
        panic!(
            "CI is set but the browser tests cannot run ({CHROMIUM}: {browser}, puppeteer-core: \
             {driver}, node: {node}; {INSTALL})"
        );
    }
    eprintln!("SKIPPED: needs {CHROMIUM} and puppeteer-core ({INSTALL})");
    false
}

/// Where a navigation ended.
#[derive(Debug, Clone)]
pub struct Landed {
    /// The page's URL after every redirect.
    pub url: String,
    /// The final response's status.
    pub status: u16,
    /// Every URL the navigation went through, the final one last.
    pub chain: Vec<String>,
    /// The page's visible text.
    pub text: String,
}

impl Landed {
    fn from(v: &Value) -> Self {
        Landed {
            url: v["url"].as_str().unwrap_or_default().to_owned(),
            status: v["status"].as_u64().unwrap_or(0) as u16,
            chain: v["chain"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            text: v["text"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// The final URL's path.
    pub fn path(&self) -> String {
        url::Url::parse(&self.url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default()
    }
}

/// A cookie in the browser's jar.
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub domain: String,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: String,
}

/// One Chromium with one page; closed (and its profile removed) when dropped.
pub struct Chromium {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// The test's temporary folder: the browser profile, and the failure artifacts.
    pub dir: PathBuf,
    /// The browser's version line.
    pub version: String,
}

impl Chromium {
    /// Starts Chromium in a new temporary folder named after `test`; with
    /// `ignore_cert_errors` it accepts any certificate (Caddy's `tls internal`).
    pub fn launch(test: &str, ignore_cert_errors: bool) -> Self {
        let dir = super::front::temp_dir(&format!("browser-{test}"));
        let profile = dir.join("profile");
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new("node")
            .arg("browser.mjs")
            .current_dir(PEER_DIR)
            .env("CHROMIUM", CHROMIUM)
            .env("USER_DATA_DIR", &profile)
            .env(
                "IGNORE_CERT_ERRORS",
                if ignore_cert_errors { "1" } else { "0" },
            )
            .env("STEP_TIMEOUT_MS", STEP.as_millis().to_string())
            .env("DEADLINE_MS", SESSION.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let first = lines.recv_timeout(Duration::from_secs(30));
        let ready: Value = match first {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("unexpected first line from browser.mjs: {line}")),
            Err(e) => {
                let _ = child.kill();
                panic!("Chromium did not start within 30 s ({e:?}); see browser.mjs's stderr above")
            }
        };
        assert_eq!(ready["ready"], true, "browser.mjs: {ready}");
        Chromium {
            child,
            stdin,
            lines,
            dir,
            version: ready["version"].as_str().unwrap_or_default().to_owned(),
        }
    }

    fn send(&mut self, cmd: &Value) {
        let stdin = self.stdin.as_mut().expect("browser.mjs stdin");
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("browser.mjs is gone ({e}) before {cmd}"));
    }

    fn answer(line: &str, cmd: &Value) -> Value {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|_| panic!("browser.mjs answered {line:?} to {cmd}"));
        if v["ok"] != true {
            panic!("browser command {cmd} failed: {}", v["error"]);
        }
        v
    }

    /// Runs one command; panics with the browser's message when it fails or takes too long.
    async fn call(&mut self, cmd: Value) -> Value {
        self.send(&cmd);
        let deadline = Instant::now() + ANSWER;
        loop {
            match self.lines.try_recv() {
                Ok(line) => return Self::answer(&line, &cmd),
                Err(TryRecvError::Disconnected) => panic!("browser.mjs exited during {cmd}"),
                Err(TryRecvError::Empty) if Instant::now() > deadline => {
                    panic!("no answer from the browser within {ANSWER:?} to {cmd}")
                }
                Err(TryRecvError::Empty) => {
                    actix_rt::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Like [`Chromium::call`], blocking (for drop).
    fn call_blocking(&mut self, cmd: Value, wait: Duration) -> Result<Value, String> {
        let stdin = self.stdin.as_mut().ok_or("no stdin")?;
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .map_err(|e| e.to_string())?;
        match self.lines.recv_timeout(wait) {
            Ok(line) => {
                let v: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
                if v["ok"] == true {
                    Ok(v)
                } else {
                    Err(v["error"].to_string())
                }
            }
            Err(RecvTimeoutError::Timeout) => Err(format!("no answer within {wait:?}")),
            Err(RecvTimeoutError::Disconnected) => Err("browser.mjs exited".into()),
        }
    }

    /// Opens `url` and waits for the page (after every redirect) to load.
    pub async fn goto(&mut self, url: &str) -> Landed {
        Landed::from(&self.call(json!({"cmd": "goto", "url": url})).await)
    }

    /// Types `value` into the (emptied) field `selector`.
    pub async fn fill(&mut self, selector: &str, value: &str) {
        self.call(json!({"cmd": "fill", "selector": selector, "value": value}))
            .await;
    }

    /// Clicks `selector` and waits for the navigation it starts to load.
    pub async fn click(&mut self, selector: &str) -> Landed {
        Landed::from(
            &self
                .call(json!({"cmd": "click", "selector": selector}))
                .await,
        )
    }

    /// The text of the element `selector` (waits for it).
    pub async fn text(&mut self, selector: &str) -> String {
        let v = self
            .call(json!({"cmd": "text", "selector": selector}))
            .await;
        v["text"].as_str().unwrap_or_default().to_owned()
    }

    /// Every cookie in the browser's jar.
    pub async fn cookies(&mut self) -> Vec<Cookie> {
        let v = self.call(json!({"cmd": "cookies"})).await;
        v["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Cookie {
                name: c["name"].as_str().unwrap_or_default().to_owned(),
                value: c["value"].as_str().unwrap_or_default().to_owned(),
                domain: c["domain"].as_str().unwrap_or_default().to_owned(),
                secure: c["secure"] == true,
                http_only: c["httpOnly"] == true,
                same_site: c["sameSite"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// The names of the cookies in the jar, sorted.
    pub async fn cookie_names(&mut self) -> Vec<String> {
        let mut names: Vec<String> = self.cookies().await.into_iter().map(|c| c.name).collect();
        names.sort();
        names
    }

    /// Plants a cookie for `url`'s host, as if the site had set it.
    pub async fn set_cookie(&mut self, url: &str, name: &str, value: &str) {
        self.call(json!({"cmd": "setCookie", "url": url, "name": name, "value": value}))
            .await;
    }

    /// Saves a screenshot and the page's HTML as `<dir>/<name>.png` and `.html`.
    pub fn save_artifacts(&mut self, name: &str) -> Result<(PathBuf, PathBuf), String> {
        let prefix = self.dir.join(name);
        let v = self.call_blocking(
            json!({"cmd": "artifacts", "prefix": prefix.to_str().unwrap()}),
            ANSWER,
        )?;
        Ok((
            PathBuf::from(v["screenshot"].as_str().unwrap_or_default()),
            PathBuf::from(v["html"].as_str().unwrap_or_default()),
        ))
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed {
            match self.save_artifacts("failure") {
                Ok((png, html)) => eprintln!(
                    "browser test failed; the page as the browser saw it:\n  screenshot: {}\n  html: {}",
                    png.display(),
                    html.display()
                ),
                Err(e) => eprintln!(
                    "browser test failed; no screenshot ({e}); folder: {}",
                    self.dir.display()
                ),
            }
        }
        let _ = self.call_blocking(json!({"cmd": "close"}), Duration::from_secs(5));
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(self.dir.join("profile"));
        if !failed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
