//! What users write: the serde structs of the configuration file and of
//! [`AuthProxy::configure`](crate::AuthProxy::configure), how a file is read, and the checks
//! that need nothing built. No caches, breakers, TLS or keys: those are built from these in
//! [`crate::runtime`].

pub mod file;
pub mod forward_auth;
pub mod proxy;
pub mod server;
pub mod session_store;
pub mod sign_in;
pub mod telemetry;

pub use authjs_token::cookie::{SECURE_SESSION_COOKIE, SESSION_COOKIE};
pub use file::FileConfig;
pub use forward_auth::{ForwardAuthOptions, OnUnauthenticated};
pub use proxy::{
    CircuitBreakerOptions, JwsOptions, OnSignOut, ProxyOptions, RedisOptions, RetryOptions,
    RevocationOptions, Secret, SessionCacheOptions, SessionStrategy, TimeoutOptions,
    UpstreamOptions, UpstreamTlsOptions,
};
pub use server::{AdminOptions, LogFormat, LogOptions, ServerOptions, ServerTlsOptions};
pub use session_store::{
    PostgresOptions, PostgresTlsOptions, SchemaFields, SchemaNames, SchemaOptions, SchemaPreset,
    SessionStoreOptions, StoreMode,
};
pub use sign_in::{Budget, SignInProtectionOptions};
pub use telemetry::TelemetryOptions;

/// Most worker threads the service starts (each holds a connection pool and a thread).
pub const MAX_WORKERS: usize = 256;
/// Environment variable prefix for overrides (`AUTHJS_PROXY__PROXY__BASE_URL`).
pub const ENV_PREFIX: &str = "AUTHJS_PROXY";
/// The longest duration any `*_ms` option may be: 31 days. Longer ones are mistakes (and
/// past about a thousand years, clocks and caches can not represent them).
pub const MAX_DURATION_MS: u64 = 31 * 24 * 60 * 60 * 1000;
