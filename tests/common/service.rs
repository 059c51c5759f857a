//! The service binary run as a child process on loopback ports, as operators run it.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::closed_port;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_authjs-proxy");

/// A running service; killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Starts the binary on `config` with extra `args`; stderr is kept for [`Running::stop`].
    pub fn start(config: &Path, args: &[&str]) -> Self {
        Running(
            Command::new(BIN)
                .args(["--config", config.to_str().unwrap()])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .unwrap();
    }

    /// SIGTERM, then waits (bounded) for the exit; answers whether it exited cleanly and
    /// everything it wrote to stderr.
    pub async fn stop(mut self) -> (bool, String) {
        self.signal("-TERM");
        let mut clean = false;
        for _ in 0..200 {
            if let Some(status) = self.0.try_wait().unwrap() {
                clean = status.success();
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.0.kill();
        let mut stderr = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            e.read_to_string(&mut stderr).unwrap();
        }
        (clean, stderr)
    }
}

/// A minimal configuration file: `listen`, one worker, `upstream`, then `extra` TOML.
pub fn config(listen: &str, upstream: &str, extra: &str) -> String {
    format!(
        "[server]\nlisten = \"{listen}\"\nworkers = 1\n[proxy]\nbase_url = \"{upstream}\"\n\
         session_strategy = \"jwt\"\n{extra}"
    )
}

/// A free loopback address for a listener.
pub fn local() -> String {
    format!("127.0.0.1:{}", closed_port())
}

/// The status `url` answers, `None` when it cannot be reached.
pub async fn status_of(c: &awc::Client, url: &str) -> Option<u16> {
    c.get(url).send().await.ok().map(|r| r.status().as_u16())
}

/// Polls `url` (at most 100 times, 50 ms apart) until it answers `want`.
pub async fn answers(c: &awc::Client, url: &str, want: u16) -> bool {
    for _ in 0..100 {
        if status_of(c, url).await == Some(want) {
            return true;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
