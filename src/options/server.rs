//! `[server]`, `[admin]` and `[log]`: the binary's listeners and log output.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::core::error::ConfigError;
use crate::core::redact::redacted;

/// Listener settings of the binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerOptions {
    /// Address to listen on. Default `127.0.0.1:3000`.
    pub listen: String,
    /// Worker threads. Default: the number of CPUs.
    pub workers: usize,
    /// Serve https (`[server.tls]`); off when absent.
    pub tls: Option<ServerTlsOptions>,
    /// The one trust list: peers (CIDRs or addresses) whose forwarding headers count, for
    /// every route, the forward-auth endpoint and session lookups. Default loopback only.
    /// Replaces `proxy.trust_forwarded` and `forward_auth.trusted_proxies`.
    pub trusted_proxies: Option<Vec<String>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            listen: "127.0.0.1:3000".into(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            tls: None,
            trusted_proxies: None,
        }
    }
}

/// The listener's certificate (`[server.tls]`), re-read on every reload (renewals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsOptions {
    /// Certificate chain, PEM, leaf first.
    pub cert_file: PathBuf,
    /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// The admin listener (`[admin]`): `/metrics`, `/healthz`, `/readyz`, `POST /reload`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminOptions {
    /// Address of the admin listener, never the public one. Off when absent.
    pub listen: Option<String>,
    /// Bearer token `POST /reload` requires when set. Without it, `/reload` is refused
    /// unless the listener is on loopback.
    pub token: Option<String>,
    /// After SIGTERM, how long `/readyz` answers `503` while the proxy keeps serving, so load
    /// balancers stop sending traffic before the graceful shutdown starts, in milliseconds.
    /// Default 0.
    pub drain_ms: u64,
}

impl fmt::Debug for AdminOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminOptions")
            .field("listen", &self.listen)
            .field("token", &redacted(&self.token))
            .field("drain_ms", &self.drain_ms)
            .finish()
    }
}

impl AdminOptions {
    /// The parsed admin address (`None`: no admin listener).
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        self.listen
            .as_deref()
            .map(|l| {
                l.parse().map_err(|_| {
                    ConfigError::new("admin.listen", "expected an address like 127.0.0.1:9090")
                })
            })
            .transpose()
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (ANSI colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging (`[log]`); the level comes from `RUST_LOG` (default `info`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogOptions {
    /// `text` (default) or `json`; `--log-format` overrides it.
    pub format: LogFormat,
}

impl ServerOptions {
    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::new("server.listen", "expected an address like 127.0.0.1:3000")
        })
    }
}
