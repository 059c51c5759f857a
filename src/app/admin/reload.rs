//! Re-reading the configuration file: what SIGHUP and `POST /reload` do.

use std::path::PathBuf;

use crate::core::error::ConfigError;
use crate::core::obs::metrics;
use std::sync::Arc;

use crate::forward_auth::{ForwardAuth, ForwardAuthOptions, Policy};
use crate::options::{AdminOptions, FileConfig, LogOptions, ServerOptions};
use crate::runtime::Attached;
use crate::runtime::handle::AuthProxy;
use crate::tls::CertStore;

/// The rules a reloaded `[forward_auth]` gives the mounted endpoint, validated (nothing is put
/// in force here): its rules may change; mounting, unmounting or moving it needs a restart.
fn next_rules(
    gate: Option<&ForwardAuth>,
    opts: &ForwardAuthOptions,
) -> Result<Option<Arc<Policy>>, ConfigError> {
    match (gate, opts.enabled) {
        (Some(gate), true) => gate.prepare(opts).map(Some),
        (Some(gate), false) => {
            tracing::warn!(
                "forward_auth.enabled turned off: restart to unmount the endpoint; rules kept"
            );
            Ok(Some(gate.policy()))
        }
        (None, true) => {
            tracing::warn!("forward_auth.enabled turned on: restart to mount the endpoint");
            Ok(None)
        }
        (None, false) => Ok(None),
    }
}

/// Why a reload was refused; the running configuration is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The service was started without a configuration file.
    #[error("no configuration file to reload")]
    NoFile,
    /// The file is invalid; names the field at fault.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] ConfigError),
    /// The file changes settings that only a restart applies; nothing was applied.
    #[error("these settings change only on restart: {}; nothing was reloaded", .0.join(", "))]
    NeedsRestart(Vec<&'static str>),
}

/// Reloads the configuration file into a running service.
pub struct Reloader {
    proxy: AuthProxy,
    path: Option<PathBuf>,
    serving: ServerOptions,
    admin: AdminOptions,
    log: LogOptions,
    certs: Option<CertStore>,
    allow_insecure: bool,
    gate: Option<ForwardAuth>,
    /// `admin.token` as the last accepted reload set it (`None`: never reloaded).
    token: std::sync::RwLock<Option<Option<String>>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for a service started from `file` (read from `path`, if any), serving the
    /// listener certificate in `certs`.
    pub fn new(
        proxy: AuthProxy,
        path: Option<PathBuf>,
        file: &FileConfig,
        certs: Option<CertStore>,
        gate: Option<ForwardAuth>,
    ) -> Self {
        Reloader {
            proxy,
            path,
            serving: file.server.clone(),
            admin: file.admin.clone(),
            log: file.log.clone(),
            certs,
            allow_insecure: file.proxy.tls.allow_insecure,
            gate,
            token: std::sync::RwLock::new(None),
        }
    }

    /// `admin.token` as the last accepted reload set it; `None` when no reload has.
    pub fn reloaded_admin_token(&self) -> Option<Option<String>> {
        self.token
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The settings `file` changes that only a restart applies.
    fn needs_restart(&self, file: &FileConfig) -> Vec<&'static str> {
        let (s, a) = (&self.serving, &self.admin);
        [
            ("server.listen", file.server.listen != s.listen),
            ("server.workers", file.server.workers != s.workers),
            ("server.tls", file.server.tls.is_some() != s.tls.is_some()),
            ("admin.listen", file.admin.listen != a.listen),
            ("admin.drain_ms", file.admin.drain_ms != a.drain_ms),
            ("log.format", file.log != self.log),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }

    /// Re-reads the file, applies `[proxy]`, the forward-auth rules, `admin.token` and the
    /// listener certificate, and answers the new generation. A file that changes settings only
    /// a restart applies (`[server]` listen/workers/TLS on or off, `admin.listen`,
    /// `admin.drain_ms`, `[log]`) is refused whole, naming them.
    pub async fn reload(&self) -> Result<u64, ReloadError> {
        let result = self.apply().await;
        metrics::config_reload(result.is_ok());
        match &result {
            Ok(generation) => tracing::info!(generation, "configuration reloaded"),
            Err(e) => tracing::warn!(error = %e, "reload refused; configuration kept"),
        }
        result
    }

    async fn apply(&self) -> Result<u64, ReloadError> {
        let path = self.path.as_deref().ok_or(ReloadError::NoFile)?;
        let file = FileConfig::load_allowing_insecure(path, self.allow_insecure)?;
        let restart = self.needs_restart(&file);
        if !restart.is_empty() {
            return Err(ReloadError::NeedsRestart(restart));
        }
        // Everything is read and checked before anything changes: all of it applies, or none.
        let rules = next_rules(self.gate.as_ref(), &file.forward_auth)?;
        let certificate = match (&self.certs, &file.server.tls) {
            (Some(_), Some(tls)) => Some(CertStore::read(tls)?),
            _ => None,
        };
        // One swap: options, secrets and forward-auth rules of one file.
        let attached = rules.clone().map(|r| r as Attached);
        let generation = self
            .proxy
            .configure_with(file.proxy.clone(), attached)
            .await?;
        metrics::config_generation(generation);
        if let (Some(gate), Some(rules)) = (&self.gate, rules) {
            gate.install(rules);
        }
        if let (Some(store), Some(certificate)) = (&self.certs, certificate) {
            store.install(certificate);
        }
        *self
            .token
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(file.admin.token.clone());
        Ok(generation)
    }
}
