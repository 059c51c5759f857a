//! The full check of a configuration file: what `FileConfig::parse` reads, then everything
//! the service would build from it (the snapshot, the listener's certificate, the forward-auth
//! rules), so a file that loads is a file that serves.

use std::path::Path;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::Bytes;

use crate::core::error::ConfigError;
use crate::core::path::suffix_below;
use crate::options::FileConfig;
use crate::runtime::Snapshot;
use crate::runtime::actors::upstream::{Forward, Replay};
use crate::runtime::handle::AuthProxy;
use crate::tls::CertStore;

impl FileConfig {
    /// Reads a TOML file, applies `AUTHJS_PROXY__SECTION__KEY` environment overrides and
    /// `AUTH_SECRET` (when no secret is set), and validates the result.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Like [`FileConfig::load`]; `allow_insecure` (`--allow-insecure`) permits
    /// `proxy.tls.insecure_skip_verify` for a non-loopback upstream.
    pub fn load_allowing_insecure(path: &Path, allow_insecure: bool) -> Result<Self, ConfigError> {
        Self::load_inner(path, std::env::vars(), allow_insecure)
    }

    /// Like [`FileConfig::load`] with an explicit environment (for tests).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::load_inner(path, env, false)
    }

    fn load_inner(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        allow_insecure: bool,
    ) -> Result<Self, ConfigError> {
        let file = FileConfig::parse(path, env, allow_insecure)?;
        if let Some(tls) = &file.server.tls {
            CertStore::load(tls)?;
        }
        file.check_listeners()?;
        let runtime = Snapshot::build(&file.proxy, 0)?;
        let gate = file.forward_auth.validate()?;
        if file.forward_auth.enabled
            && suffix_below(gate.path(), &runtime.local_base_path).is_some()
        {
            return Err(ConfigError::new(
                "forward_auth.path",
                "must not be under proxy.local_base_path",
            ));
        }
        Ok(file)
    }
}

/// What `check-config --connect` found for one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// It answered (what it said).
    Answered(String),
    /// It refused this configuration (a wrong password): an invalid configuration.
    Refused(String),
    /// It did not answer (down, unreachable, timed out).
    Unreachable(String),
}

/// Tries what `file` depends on: the upstream (`GET <target_base_path>/providers`, Auth.js's
/// cheapest route), the Redis level and the session store, each once with a short timeout. Needs a running actix
/// system. Answers one line per dependency: its name and what happened.
pub async fn connect(file: &FileConfig) -> Result<Vec<(String, Reached)>, ConfigError> {
    let proxy = AuthProxy::start();
    let mut opts = file.proxy.clone();
    opts.retry.max_attempts = 1;
    opts.timeouts.request_ms = opts.timeouts.request_ms.min(5000);
    proxy.configure(opts).await?;
    let cfg = proxy.config().expect("configured above");
    let mut found = Vec::new();
    let url = cfg.target_url("providers", None);
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, cfg.upstream.host_header.clone());
    let answer = proxy
        .fallback_upstream()
        .forward(Forward {
            config: cfg.clone(),
            method: Method::GET,
            url,
            headers,
            body: Bytes::new(),
            replay: Replay::Safe,
        })
        .await;
    let upstream = format!(
        "upstream {}{}/providers",
        cfg.upstream.origin,
        if cfg.target_base_path == "/" {
            ""
        } else {
            cfg.target_base_path.as_str()
        }
    );
    found.push((
        upstream,
        match answer {
            Ok(Ok(res)) if res.status.is_success() => {
                Reached::Answered(format!("answered {}", res.status.as_u16()))
            }
            Ok(Ok(res)) => Reached::Unreachable(format!(
                "answered {} (is proxy.target_base_path the Auth.js base path?)",
                res.status.as_u16()
            )),
            Ok(Err(e)) => Reached::Unreachable(e.to_string()),
            Err(_) => Reached::Unreachable("the upstream actor stopped".into()),
        },
    ));
    if let Some(cache) = &cfg.session_cache
        && cache.has_shared()
    {
        let checked = actix_rt::time::timeout(Duration::from_secs(3), cache.ping_shared()).await;
        found.push((
            "redis (proxy.session_cache.redis)".into(),
            match checked {
                Ok(Ok(true)) => Reached::Answered("answered PING".into()),
                Ok(Ok(false)) | Err(_) => Reached::Unreachable("did not answer".into()),
                Ok(Err(e)) => Reached::Refused(e.to_string()),
            },
        ));
    }
    if let Some(store) = &cfg.session_store {
        let checked = actix_rt::time::timeout(Duration::from_secs(5), store.ping()).await;
        found.push((
            "postgres (proxy.session_store.postgres)".into(),
            match checked {
                Ok(Ok(Ok(()))) => Reached::Answered("answered the session lookup".into()),
                Ok(Ok(Err(why))) => Reached::Unreachable(why),
                Err(_) => Reached::Unreachable("did not answer in 5 s".into()),
                Ok(Err(e)) => Reached::Refused(e.to_string()),
            },
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
