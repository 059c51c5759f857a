//! The full check of a configuration file: what `FileConfig::parse` reads, then everything
//! the service would build from it (the snapshot, the listener's certificate, the forward-auth
//! rules), so a file that loads is a file that serves.

use std::path::Path;

use crate::core::error::ConfigError;
use crate::core::path::suffix_below;
use crate::options::FileConfig;
use crate::runtime::Snapshot;
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

#[cfg(test)]
mod tests;
