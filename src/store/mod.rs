//! The session store: database sessions read straight from the Auth.js adapter's tables in
//! PostgreSQL (`@auth/pg-adapter`, Prisma, Drizzle), so "who is this request?" needs no
//! request to the upstream.
//!
//! * One prepared statement per connection (a pool of them, `deadpool-postgres`), written
//!   from checked, quoted names; the session tokens are always a parameter. Lookups that
//!   arrive while every connection is busy are answered by one statement.
//! * It only reads: extending a session's expiry stays Auth.js's job (its `session` route
//!   writes it). Connections are opened with `default_transaction_read_only`.
//! * A circuit breaker of its own: a database that fails is not waited on by every lookup.
//! * The answer is what Auth.js's `session` route answers with the default callbacks; custom
//!   `session` callbacks can not run here.

mod batch;
mod query;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use crate::core::error::ConfigError;
pub use crate::core::error::StoreError;
use crate::core::obs::metrics;
use crate::core::obs::request_id::request_event;
use crate::core::obs::trace;
use crate::core::session::Session;
use crate::options::proxy::UpstreamTlsOptions;
use crate::options::session_store::{FIELD, PostgresOptions, SessionStoreOptions, StoreMode};
use crate::resilience::breaker::{Breaker, Outcome};

pub use query::iso_millis;

/// The adapter's database, as the session lookups read it.
pub struct SessionStore {
    lookups: Arc<batch::Batcher>,
    breaker: Breaker,
    mode: StoreMode,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("mode", &self.mode)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

/// The connection settings from `opts` (the URL's own settings, then ours); the error never
/// repeats the URL.
fn pg_config(opts: &PostgresOptions) -> Result<tokio_postgres::Config, ConfigError> {
    let mut config: tokio_postgres::Config = opts.url.trim().parse().map_err(|_| {
        ConfigError::new(
            format!("{FIELD}.postgres.url"),
            "is not a PostgreSQL URL (postgres://user:password@host:port/database)",
        )
    })?;
    if config.get_hosts().is_empty() {
        return Err(ConfigError::new(
            format!("{FIELD}.postgres.url"),
            "must name a host",
        ));
    }
    let ours = format!(
        "-c statement_timeout={} -c default_transaction_read_only=on",
        opts.statement_timeout_ms
    );
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {ours}"),
        _ => ours,
    };
    config
        .options(&options)
        .application_name("authjs-proxy")
        .connect_timeout(Duration::from_millis(opts.connect_timeout_ms));
    Ok(config)
}

/// rustls for the database: the public web roots and `ca_file`, ALPN `postgresql`.
fn tls(opts: &PostgresOptions) -> Result<tokio_postgres_rustls::MakeRustlsConnect, ConfigError> {
    let upstream_like = UpstreamTlsOptions {
        ca_file: opts.tls.ca_file.clone(),
        ..UpstreamTlsOptions::default()
    };
    let config = crate::tls::upstream_client_config(&upstream_like, false)
        .map_err(|e| ConfigError::new(format!("{FIELD}.postgres.{}", e.field), e.reason))?;
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl SessionStore {
    /// The store `opts` configure (`None` without `[proxy.session_store.postgres]`), with a
    /// breaker built like the upstream's (`consecutive_failures`, `open_for`, `probes`). No
    /// connection is made here.
    pub fn new(
        opts: &SessionStoreOptions,
        breaker: (u32, Duration, u32),
    ) -> Result<Option<Arc<Self>>, ConfigError> {
        let Some(pg) = &opts.postgres else {
            return Ok(None);
        };
        let names = pg.check()?;
        let manager = Manager::from_config(
            pg_config(pg)?,
            tls(pg)?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let statement_timeout = Duration::from_millis(pg.statement_timeout_ms);
        let pool = Pool::builder(manager)
            .max_size(pg.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_millis(pg.connect_timeout_ms)))
            .wait_timeout(Some(statement_timeout))
            .recycle_timeout(Some(statement_timeout))
            .build()
            .map_err(|e| ConfigError::new(format!("{FIELD}.postgres"), e.to_string()))?;
        let (failures, open_for, probes) = breaker;
        Ok(Some(Arc::new(SessionStore {
            lookups: Arc::new(batch::Batcher::new(
                pool,
                query::lookup_sql(&names),
                (
                    Duration::from_millis(pg.connect_timeout_ms),
                    statement_timeout,
                ),
                pg.pool_size,
            )),
            breaker: Breaker::new(failures, open_for, probes)
                .guarding("session store", metrics::session_store_breaker_state),
            mode: opts.mode,
        })))
    }

    /// Which source answers first.
    pub fn mode(&self) -> StoreMode {
        self.mode
    }

    /// The session whose token is `token`: `Ok(None)` when there is no such row or it has
    /// expired, `Err` when the database could not answer.
    pub async fn session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let permit = match self.breaker.try_acquire() {
            Ok(permit) => permit,
            Err(retry_after) => {
                metrics::session_store_lookup("circuit_open");
                return Err(StoreError::CircuitOpen { retry_after });
            }
        };
        let span = trace::call_span("database query", "postgresql");
        let row = tracing::Instrument::instrument(self.row(token), span).await;
        match row {
            Ok(row) => {
                self.breaker.record(permit, Outcome::Success);
                let session = row.and_then(|row| query::session_of(row, SystemTime::now()));
                metrics::session_store_lookup(if session.is_some() { "session" } else { "none" });
                Ok(session)
            }
            Err(failed) => {
                metrics::session_store_lookup("error");
                // One failed statement counts once, however many lookups it answered (the
                // others' permits go back unrecorded).
                if failed.reports {
                    self.breaker.record(permit, Outcome::Failure);
                    request_event!(tracing::Level::WARN, error = %failed.error,
                        reason = %failed.why, "session store lookup failed");
                }
                Err(failed.error)
            }
        }
    }

    /// Asks the database once (`check-config --connect`): `Ok(Ok(()))` it answered the
    /// lookup (the tables and columns exist), `Ok(Err(why))` it did not, `Err` naming the field
    /// when it refused the credentials.
    pub async fn ping(&self) -> Result<Result<(), String>, ConfigError> {
        match self.row("authjs-proxy check-config: no such session").await {
            Ok(_) => Ok(Ok(())),
            Err(batch::Failed { why, .. }) => {
                let lower = why.to_ascii_lowercase();
                if lower.contains("password authentication failed")
                    || lower.contains("authentication")
                    || lower.contains("no pg_hba.conf entry")
                {
                    Err(ConfigError::new(
                        format!("{FIELD}.postgres.url"),
                        "PostgreSQL refused the credentials",
                    ))
                } else {
                    Ok(Err(why))
                }
            }
        }
    }

    async fn row(&self, token: &str) -> batch::Answer {
        self.lookups.row(token).await
    }
}
