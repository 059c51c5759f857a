//! `RuntimeActor`: the single writer of the configuration.
//!
//! `Configure` validates options, builds an immutable [`Snapshot`] snapshot and swaps it
//! in whole. Readers load the current snapshot lock-free (`arc-swap`); they never wait on this
//! actor's mailbox. A refused configure leaves the previous snapshot serving.

use std::sync::Arc;

use actix::{Actor, Context, Handler, Message};
use arc_swap::ArcSwapOption;

use crate::core::error::ConfigError;
use crate::options::proxy::ProxyOptions;
use crate::runtime::Snapshot;

/// The current snapshot, shared between the actor (writer) and every reader.
pub type SharedConfig = Arc<ArcSwapOption<Snapshot>>;

/// Replace the configuration; answers the new generation or the field at fault.
#[derive(Debug, Message)]
#[rtype(result = "Result<u64, ConfigError>")]
pub struct Configure(pub ProxyOptions);

/// Ask for the current snapshot (`None` while unconfigured).
#[derive(Debug, Message)]
#[rtype(result = "Option<Arc<Snapshot>>")]
pub struct CurrentConfig;

/// Holds the overwritable configuration.
pub struct RuntimeActor {
    current: SharedConfig,
    generation: u64,
}

impl RuntimeActor {
    /// An unconfigured runtime writing into `current`.
    pub fn new(current: SharedConfig) -> Self {
        RuntimeActor {
            current,
            generation: 0,
        }
    }
}

impl Actor for RuntimeActor {
    type Context = Context<Self>;
}

impl Handler<Configure> for RuntimeActor {
    type Result = Result<u64, ConfigError>;

    fn handle(&mut self, msg: Configure, _: &mut Self::Context) -> Self::Result {
        match Snapshot::build(&msg.0, self.generation + 1) {
            Ok(cfg) => {
                self.generation += 1;
                tracing::info!(
                    generation = self.generation,
                    upstream = %cfg.upstream.origin,
                    local_base_path = %cfg.local_base_path,
                    target_base_path = %cfg.target_base_path,
                    "configuration applied"
                );
                if cfg.preserve_host && cfg.public.is_none() {
                    tracing::warn!(
                        "preserve_host without public_url: the client's Host header reaches \
                         Auth.js, which builds sign-in links and redirects from it; set \
                         public_url to pin the public origin"
                    );
                }
                self.current.store(Some(Arc::new(cfg)));
                Ok(self.generation)
            }
            Err(e) => {
                tracing::warn!(error = %e, "configuration refused; previous configuration kept");
                Err(e)
            }
        }
    }
}

impl Handler<CurrentConfig> for RuntimeActor {
    type Result = Option<Arc<Snapshot>>;

    fn handle(&mut self, _: CurrentConfig, _: &mut Self::Context) -> Self::Result {
        self.current.load_full()
    }
}
