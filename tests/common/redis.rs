//! A real `redis-server` on a free loopback port, started and stopped by the test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{closed_port, in_ci};

/// A `redis-server` of the test's own (stopped and its directory removed when dropped).
pub struct Redis {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    pub fn available() -> bool {
        let runs = |tool: &str| {
            Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let ok = runs("redis-server") && runs("redis-cli");
        if !ok {
            assert!(
                !in_ci(),
                "CI is set but redis-server or redis-cli is not installed"
            );
            eprintln!("SKIPPED: needs redis-server and redis-cli (apt-get install redis-server)");
        }
        ok
    }

    pub fn start_on(port: u16, password: Option<&str>) -> Self {
        let dir = std::env::temp_dir().join(format!("authjs-proxy-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut args = vec![
            "--port".to_owned(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.to_string_lossy().into_owned(),
        ];
        if let Some(p) = password {
            args.extend(["--requirepass".into(), p.to_owned()]);
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let r = Redis { child, port, dir };
        for _ in 0..100 {
            if r.cli(&["PING"]).contains("PONG") || r.cli(&["PING"]).contains("NOAUTH") {
                return r;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not come up on port {port}");
    }

    pub fn start() -> Self {
        Self::start_on(closed_port(), None)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The session entries (not the markers that hold back writes after an invalidation, nor
    /// the revocation list).
    pub fn keys(&self) -> Vec<String> {
        self.cli(&["--raw", "KEYS", "authjs-proxy:*"])
            .lines()
            .filter(|l| !l.is_empty() && !l.ends_with(":gone") && !l.contains(":revoked"))
            .map(str::to_owned)
            .collect()
    }

    pub fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
