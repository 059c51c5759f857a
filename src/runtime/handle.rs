//! [`AuthProxy`]: the handle an application keeps to the running actors.

use std::sync::Arc;

use actix::{Actor, Addr};
use arc_swap::ArcSwapOption;

use crate::core::error::ConfigError;
use crate::core::path::normalize_path;
use crate::options::proxy::ProxyOptions;
use crate::resilience::UpstreamHealth;
use crate::runtime::actors::runtime::{Configure, ConfigureWith, RuntimeActor, SharedConfig};
use crate::runtime::actors::token::TokenActor;
use crate::runtime::actors::upstream::{Upstream, UpstreamActor};
use crate::runtime::{Attached, Snapshot};

/// Where the routes answer `503 unconfigured` before the first configure.
pub const DEFAULT_MOUNT: &str = "/api/auth";

/// This worker thread's `UpstreamActor`, registered by [`crate::web::configure`].
#[derive(Clone)]
pub struct WorkerUpstream(pub Upstream);

/// This worker thread's `TokenActor`, registered by [`crate::web::configure`].
#[derive(Clone)]
pub struct WorkerTokens(pub Addr<TokenActor>);

struct Inner {
    runtime: Addr<RuntimeActor>,
    tokens: Addr<TokenActor>,
    current: SharedConfig,
    fallback_upstream: Addr<UpstreamActor>,
    unconfigured_mount: String,
}

/// Handle to the runtime: reconfigure it, read the snapshot, ask who a request belongs to.
///
/// Cheap to clone; every clone talks to the same actors.
#[derive(Clone)]
pub struct AuthProxy {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuthProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthProxy")
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}

impl AuthProxy {
    /// Starts the actors (unconfigured). Call inside a running actix `System`
    /// (`#[actix_web::main]`, `#[actix_web::test]`).
    ///
    /// # Examples
    /// ```
    /// use authjs_proxy::{AuthProxy, config::{ProxyOptions, SessionStrategy}};
    /// # #[actix_web::main]
    /// # async fn main() {
    /// let proxy = AuthProxy::start();
    /// assert!(proxy.config().is_none());
    /// let opts = ProxyOptions::new("http://127.0.0.1:4000", SessionStrategy::Jwt);
    /// assert_eq!(proxy.configure(opts).await.unwrap(), 1);
    /// # }
    /// ```
    pub fn start() -> Self {
        Self::start_with_mount(DEFAULT_MOUNT)
    }

    /// Like [`AuthProxy::start`]; before the first configure, requests under
    /// `unconfigured_mount` get `503`.
    pub fn start_with_mount(unconfigured_mount: &str) -> Self {
        let current: SharedConfig = Arc::new(ArcSwapOption::empty());
        AuthProxy {
            inner: Arc::new(Inner {
                runtime: RuntimeActor::new(current.clone()).start(),
                tokens: TokenActor.start(),
                current,
                fallback_upstream: UpstreamActor::new().start(),
                unconfigured_mount: normalize_path(unconfigured_mount),
            }),
        }
    }

    /// Replaces the configuration. On error the previous one keeps serving.
    pub async fn configure(&self, opts: ProxyOptions) -> Result<u64, ConfigError> {
        self.inner
            .runtime
            .send(Configure(opts))
            .await
            .map_err(|_| ConfigError::new("runtime", "the runtime actor is not running"))?
    }

    /// Replaces the configuration together with what a feature validated from the same file
    /// (the forward-auth rules: [`crate::forward_auth::ForwardAuth::attachment`]); requests see
    /// both from one swap. On error the previous configuration keeps serving.
    pub async fn configure_with(
        &self,
        opts: ProxyOptions,
        attached: Option<Attached>,
    ) -> Result<u64, ConfigError> {
        self.inner
            .runtime
            .send(ConfigureWith {
                options: opts,
                attached,
            })
            .await
            .map_err(|_| ConfigError::new("runtime", "the runtime actor is not running"))?
    }

    /// The configuration in force (`None` while unconfigured). Lock-free.
    pub fn config(&self) -> Option<Arc<Snapshot>> {
        self.inner.current.load_full()
    }

    /// The upstream's health as this instance sees it: circuit breaker state and requests in
    /// flight, for readiness checks (`None` while unconfigured). Lock-free.
    ///
    /// # Examples
    /// ```
    /// use authjs_proxy::{AuthProxy, config::{ProxyOptions, SessionStrategy}};
    /// use authjs_proxy::resilience::BreakerState;
    /// # #[actix_web::main]
    /// # async fn main() {
    /// let proxy = AuthProxy::start();
    /// assert!(proxy.upstream_health().is_none());
    /// let opts = ProxyOptions::new("http://127.0.0.1:4000", SessionStrategy::Jwt);
    /// proxy.configure(opts).await.unwrap();
    /// let health = proxy.upstream_health().unwrap();
    /// assert_eq!(health.breaker, BreakerState::Closed);
    /// assert!(health.ready());
    /// # }
    /// ```
    pub fn upstream_health(&self) -> Option<UpstreamHealth> {
        self.inner
            .current
            .load()
            .as_ref()
            .map(|cfg| cfg.resilience.health())
    }

    /// The path the routes answer under: the configured `local_base_path`, or the
    /// unconfigured mount.
    pub fn mount_path(&self) -> String {
        match &*self.inner.current.load() {
            Some(cfg) => cfg.local_base_path.clone(),
            None => self.inner.unconfigured_mount.clone(),
        }
    }

    pub(crate) fn with_mount_path<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &*self.inner.current.load() {
            Some(cfg) => f(&cfg.local_base_path),
            None => f(&self.inner.unconfigured_mount),
        }
    }

    /// The `RuntimeActor`, for sending [`Configure`] directly.
    pub fn runtime(&self) -> Addr<RuntimeActor> {
        self.inner.runtime.clone()
    }

    /// The `TokenActor` of the thread that started the runtime (request handlers use their
    /// worker's own).
    pub fn tokens(&self) -> Addr<TokenActor> {
        self.inner.tokens.clone()
    }

    pub(crate) fn fallback_upstream(&self) -> Upstream {
        Upstream::remote(self.inner.fallback_upstream.clone())
    }
}
