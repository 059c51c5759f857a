//! Real front proxies (nginx, Caddy) for the end-to-end tests, started on free loopback ports
//! from the templates in `tests/front/`, each in its own temporary directory; stopped on drop.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where the templates live.
pub const FRONT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/front");

/// Whether `binary` runs (`<binary> <version_arg>`); panics in CI (see `in_ci`) when it does not.
pub fn binary_ready(binary: &str, version_arg: &str, install: &str) -> bool {
    let ok = Command::new(binary)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if super::in_ci() {
        panic!("CI is set but {binary} is not installed ({install})");
    }
    eprintln!("SKIPPED: needs {binary} ({install})");
    false
}

/// A template with `{{NAME}}` placeholders replaced.
pub fn render(template: &str, vars: &[(&str, impl AsRef<str>)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v.as_ref());
    }
    assert!(
        !out.contains("{{"),
        "unrendered placeholder left in template"
    );
    out
}

/// Waits (bounded) until something accepts connections on `addr`; on failure the panic shows
/// the end of `log` when given.
pub fn wait_listening(addr: SocketAddr, child: &mut Child, what: &str, log: Option<&Path>) {
    let tail = || {
        log.and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| {
                t.chars()
                    .rev()
                    .take(2000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<String>()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}\n{}", tail());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {addr} within 20 s\n{}", tail());
}

/// A new directory under the system's temporary folder, unique to this process and call.
pub fn temp_dir(kind: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "authjs-proxy-{kind}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running front proxy; killed and its directory removed on drop.
pub struct Front {
    child: Child,
    /// Where it listens (the public origin of the tests).
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl Front {
    /// `http://<addr>`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// nginx from `tests/front/nginx.conf`, in front of `proxy`, guarding an app on `app_port`.
    pub fn nginx(proxy: SocketAddr, app_port: u16) -> Front {
        Self::nginx_from("nginx.conf", proxy, app_port)
    }

    /// nginx from the template `tests/front/<template>`.
    pub fn nginx_from(template: &str, proxy: SocketAddr, app_port: u16) -> Front {
        let dir = temp_dir("nginx");
        let addr: SocketAddr = format!("127.0.0.1:{}", super::closed_port())
            .parse()
            .unwrap();
        let conf = render(
            &std::fs::read_to_string(Path::new(FRONT_DIR).join(template)).unwrap(),
            &vars(addr, proxy, app_port, &dir),
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut child = Command::new("nginx")
            .args(["-e", "stderr", "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        wait_listening(addr, &mut child, "nginx", None);
        Front { child, addr, dir }
    }

    /// Caddy from `tests/front/Caddyfile`, in front of `proxy`, guarding an app on `app_port`
    /// (a site of the same Caddy).
    pub fn caddy(proxy: SocketAddr, app_port: u16) -> Front {
        let mut front = Self::caddy_from("Caddyfile", proxy, app_port);
        let app: SocketAddr = format!("127.0.0.1:{app_port}").parse().unwrap();
        let log = front.dir.join("caddy.log");
        wait_listening(app, &mut front.child, "caddy (app site)", Some(&log));
        front
    }

    /// Caddy from the template `tests/front/<template>`.
    pub fn caddy_from(template: &str, proxy: SocketAddr, app_port: u16) -> Front {
        let dir = temp_dir("caddy");
        let addr: SocketAddr = format!("127.0.0.1:{}", super::closed_port())
            .parse()
            .unwrap();
        let conf = render(
            &std::fs::read_to_string(Path::new(FRONT_DIR).join(template)).unwrap(),
            &vars(addr, proxy, app_port, &dir),
        );
        std::fs::write(dir.join("Caddyfile"), conf).unwrap();
        let mut child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(dir.join("Caddyfile"))
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("caddy.log")).unwrap())
            .spawn()
            .expect("caddy starts");
        let log = dir.join("caddy.log");
        wait_listening(addr, &mut child, "caddy", Some(&log));
        Front { child, addr, dir }
    }
}

/// The placeholders of the templates: `{{LISTEN}}` (address), `{{PORT}}` (its port),
/// `{{PROXY}}`, `{{APP}}` and `{{TMP}}` (the instance's directory).
fn vars(
    addr: SocketAddr,
    proxy: SocketAddr,
    app_port: u16,
    dir: &Path,
) -> Vec<(&'static str, String)> {
    vec![
        ("LISTEN", addr.to_string()),
        ("PORT", addr.port().to_string()),
        ("PROXY", proxy.to_string()),
        ("APP", format!("127.0.0.1:{app_port}")),
        ("TMP", dir.to_str().unwrap().to_owned()),
    ]
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
