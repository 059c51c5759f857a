//! A real PostgreSQL server of the test's own: `initdb` into a scratch directory, `postgres`
//! on a free loopback port with trust authentication, stopped (and the directory removed)
//! when dropped. Run as the `postgres` user when the tests run as root (PostgreSQL refuses
//! root). The binaries are found on `PATH` or in Debian's `/usr/lib/postgresql/<version>/bin`.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{closed_port, in_ci};

/// The tables of the official adapters, as their documentation creates them.
pub const PG_ADAPTER_SCHEMA: &str = include_str!("../fixtures/db-sessions/pg-adapter.sql");
/// See [`PG_ADAPTER_SCHEMA`].
pub const PRISMA_SCHEMA: &str = include_str!("../fixtures/db-sessions/prisma.sql");
/// See [`PG_ADAPTER_SCHEMA`].
pub const DRIZZLE_SCHEMA: &str = include_str!("../fixtures/db-sessions/drizzle.sql");

/// Where `tool` is: on `PATH`, else the newest `/usr/lib/postgresql/<version>/bin`.
fn find(tool: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file());
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(tool)))
            .filter(|p| p.is_file())
            .collect();
        versions.sort_by_key(|p| {
            p.components()
                .nth(3)
                .and_then(|v| v.as_os_str().to_str()?.parse::<u32>().ok())
        });
        versions.pop()
    })
}

/// The uid and gid to run PostgreSQL as: the `postgres` user when we are root.
fn run_as() -> Option<(u32, u32)> {
    let id = |flag: &str, user: Option<&str>| -> Option<u32> {
        let out = Command::new("id").arg(flag).args(user).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if id("-u", None)? != 0 {
        return None;
    }
    Some((id("-u", Some("postgres"))?, id("-g", Some("postgres"))?))
}

/// A PostgreSQL server of the test's own.
pub struct Postgres {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl Postgres {
    /// Whether PostgreSQL can run here; panics under CI when it cannot.
    pub fn available() -> bool {
        let tools = find("initdb").is_some() && find("postgres").is_some();
        let root_without_user = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
            && run_as().is_none();
        let ok = tools && !root_without_user;
        if !ok {
            assert!(
                !in_ci(),
                "CI is set but PostgreSQL can not run (initdb and postgres found: {tools}; \
                 running as root without a postgres user: {root_without_user})"
            );
            eprintln!(
                "SKIPPED: needs PostgreSQL's initdb and postgres (apt-get install postgresql)"
            );
        }
        ok
    }

    fn command(tool: &str) -> Command {
        let mut c = Command::new(find(tool).expect("PostgreSQL binaries"));
        if let Some((uid, gid)) = run_as() {
            c.uid(uid).gid(gid);
        }
        c.env_remove("PGDATA").env("LC_ALL", "C");
        c
    }

    /// `initdb` into a new scratch directory and a server on a free port.
    pub fn start() -> Self {
        let port = closed_port();
        let dir =
            std::env::temp_dir().join(format!("authjs-proxy-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some((uid, gid)) = run_as() {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let out = Self::command("initdb")
            .args(["-D"])
            .arg(dir.join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Postgres {
            child: None,
            port,
            dir,
        };
        pg.restart();
        pg
    }

    /// Starts the server again on the same port and data (after [`Postgres::stop`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Self::command("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=100",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("postgres starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("ready to accept connections") {
                    let _ = tx.send(());
                }
            }
        });
        self.child = Some(child);
        rx.recv_timeout(Duration::from_secs(30))
            .expect("PostgreSQL did not accept connections within 30 s");
    }

    /// Stops the server (fast shutdown: connections are closed), bounded to 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        for _ in 0..200 {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The superuser's URL (no password: trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A connection for the test's own statements.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("connects to the test's PostgreSQL");
        actix_rt::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// Runs `sql` (several statements allowed).
    pub async fn exec(&self, sql: &str) {
        self.client()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
