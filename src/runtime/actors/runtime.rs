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
use crate::revocation::Revocations;
use crate::runtime::{Attached, Snapshot};
use crate::signin_guard::Counters;

/// The current snapshot, shared between the actor (writer) and every reader.
pub type SharedConfig = Arc<ArcSwapOption<Snapshot>>;

/// Replace the configuration; answers the new generation or the field at fault.
#[derive(Debug, Message)]
#[rtype(result = "Result<u64, ConfigError>")]
pub struct Configure(pub ProxyOptions);

/// Replace the configuration together with what a feature validated from the same file
/// (see [`Snapshot::attached`]): both change in the same swap.
#[derive(Message)]
#[rtype(result = "Result<u64, ConfigError>")]
pub struct ConfigureWith {
    /// The options.
    pub options: ProxyOptions,
    /// The feature's part.
    pub attached: Option<Attached>,
}

/// Ask for the current snapshot (`None` while unconfigured).
#[derive(Debug, Message)]
#[rtype(result = "Option<Arc<Snapshot>>")]
pub struct CurrentConfig;

/// Builds a snapshot from options (the real one is [`Snapshot::build`]).
type Build = fn(&ProxyOptions, u64) -> Result<Snapshot, ConfigError>;

/// Holds the overwritable configuration.
pub struct RuntimeActor {
    current: SharedConfig,
    /// The deny-list of revoked sessions: every configuration uses this one, so a reload
    /// forgets no revocation.
    revocations: Arc<Revocations>,
    /// The sign-in budgets of this replica: a reload forgets no failure.
    sign_in_counters: Arc<Counters>,
    generation: u64,
    build: Build,
}

impl RuntimeActor {
    /// An unconfigured runtime writing into `current`.
    pub fn new(current: SharedConfig) -> Self {
        RuntimeActor {
            current,
            revocations: Arc::default(),
            sign_in_counters: Arc::default(),
            generation: 0,
            build: Snapshot::build,
        }
    }

    /// `build`, with a panic in it turned into a refused configuration: the actor (the only
    /// writer of the configuration) must outlive any bug in building one.
    fn build_caught(&self, opts: &ProxyOptions) -> Result<Snapshot, ConfigError> {
        let build = self.build;
        let generation = self.generation + 1;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build(opts, generation)))
            .unwrap_or_else(|panic| {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown".into());
                tracing::error!(%reason, "building the configuration panicked; previous configuration kept");
                Err(ConfigError::new(
                    "configuration",
                    format!("building it failed unexpectedly ({reason}); previous configuration kept"),
                ))
            })
    }
}

impl Actor for RuntimeActor {
    type Context = Context<Self>;
}

impl Handler<Configure> for RuntimeActor {
    type Result = Result<u64, ConfigError>;

    fn handle(&mut self, msg: Configure, _: &mut Self::Context) -> Self::Result {
        self.apply(&msg.0, None)
    }
}

impl Handler<ConfigureWith> for RuntimeActor {
    type Result = Result<u64, ConfigError>;

    fn handle(&mut self, msg: ConfigureWith, _: &mut Self::Context) -> Self::Result {
        self.apply(&msg.options, msg.attached)
    }
}

impl RuntimeActor {
    /// Builds a snapshot from `opts` with `attached` and swaps it in whole.
    fn apply(
        &mut self,
        opts: &ProxyOptions,
        attached: Option<Attached>,
    ) -> Result<u64, ConfigError> {
        match self.build_caught(opts) {
            Ok(mut cfg) => {
                cfg.attached = attached;
                cfg.revocation.list = self.revocations.clone();
                cfg.sign_in.counters = self.sign_in_counters.clone();
                if let Some(link) = &cfg.revocation.shared {
                    link.listen(self.revocations.clone());
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn panics_on_one_upstream(
        opts: &ProxyOptions,
        generation: u64,
    ) -> Result<Snapshot, ConfigError> {
        if opts.base_url.contains("panic.test") {
            panic!("injected");
        }
        Snapshot::build(opts, generation)
    }

    #[actix_rt::test]
    async fn a_panic_while_building_refuses_the_configuration_and_keeps_the_runtime() {
        let current: SharedConfig = Arc::new(ArcSwapOption::empty());
        let mut actor = RuntimeActor::new(current.clone());
        actor.build = panics_on_one_upstream;
        let runtime = actor.start();
        let ok = |url: &str| ProxyOptions::new(url, crate::options::proxy::SessionStrategy::Jwt);
        assert_eq!(
            runtime
                .send(Configure(ok("http://127.0.0.1:4000")))
                .await
                .unwrap(),
            Ok(1)
        );
        let refused = runtime
            .send(Configure(ok("http://panic.test")))
            .await
            .expect("the runtime actor survives")
            .unwrap_err();
        assert_eq!(refused.field, "configuration");
        assert!(refused.reason.contains("injected"), "{refused}");
        assert_eq!(
            current.load().as_ref().unwrap().upstream.origin,
            "http://127.0.0.1:4000"
        );
        assert_eq!(
            runtime
                .send(Configure(ok("http://127.0.0.1:4001")))
                .await
                .unwrap(),
            Ok(2)
        );
    }
}
