//! One Redis connection with the rules every Redis user in the service follows: a short
//! timeout on every command, a failed connection rebuilt at most once per half second,
//! an outage logged once (and its end once) and shown in `session_cache_redis_up`, and a
//! subscription that reconnects by itself.

use std::sync::Mutex;
use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::core::error::ConfigError;
use crate::core::obs::metrics;
use crate::core::obs::request_id::request_event;

/// Shortest pause before a failed connection is tried again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// What a subscription hands its listener.
#[derive(Debug)]
pub enum Heard<'a> {
    /// The subscription is (back) up: what was published before is lost to this replica.
    Subscribed,
    /// A message on the channel.
    Message(&'a [u8]),
}

/// A Redis connection for one purpose (`what`, for the log).
pub struct Link {
    client: redis::Client,
    /// The connection, rebuilt after a failure (at most once per [`RECONNECT_PAUSE`]).
    manager: Mutex<(Option<ConnectionManager>, Option<Instant>)>,
    timeout: Duration,
    down: AtomicBool,
    what: &'static str,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Checks `url` (the error names `field`); no connection is made here.
    pub fn new(
        url: &str,
        field: &str,
        timeout: Duration,
        what: &'static str,
    ) -> Result<Self, ConfigError> {
        let client = redis::Client::open(url).map_err(|e| {
            ConfigError::new(field, format!("is not a Redis URL: {}", e.category()))
        })?;
        Ok(Link {
            client,
            manager: Mutex::new((None, None)),
            timeout,
            down: AtomicBool::new(false),
            what,
        })
    }

    /// The timeout of every command.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The connection, `None` while a failed one waits to be rebuilt.
    pub async fn connection(&self) -> Option<ConnectionManager> {
        let mut slot = self.manager.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = &slot.0 {
            return Some(m.clone());
        }
        if slot
            .1
            .is_some_and(|failed| failed.elapsed() < RECONNECT_PAUSE)
        {
            return None;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(0);
        let made = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| self.mark_down(e.category()))
            .ok();
        slot.0 = made.clone();
        made
    }

    /// Runs `query` within the timeout: its value, or `None` (the outage noted).
    pub async fn run<T>(&self, query: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        self.outcome(tokio::time::timeout(self.timeout, query).await)
    }

    /// Forgets a failed connection; the next command after [`RECONNECT_PAUSE`] makes a new one.
    fn drop_connection(&self) {
        let mut slot = self.manager.lock().unwrap_or_else(|e| e.into_inner());
        *slot = (None, Some(Instant::now()));
    }

    fn outcome<T>(
        &self,
        r: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        match r {
            Ok(Ok(v)) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    metrics::redis_up(true);
                    request_event!(
                        tracing::Level::INFO,
                        what = self.what,
                        "redis reachable again"
                    );
                }
                Some(v)
            }
            Ok(Err(e)) => {
                self.mark_down(e.category());
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                    self.drop_connection();
                }
                None
            }
            Err(_) => {
                // A connection that did not answer in time is not asked again at once: the
                // next commands wait for a new one instead of each paying the timeout.
                self.mark_down("timed out");
                self.drop_connection();
                None
            }
        }
    }

    /// Notes an outage (logged once, until Redis answers again).
    pub fn mark_down(&self, why: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            metrics::redis_up(false);
            request_event!(
                tracing::Level::WARN,
                error = why,
                what = self.what,
                "redis unavailable; going on without it"
            );
        }
    }

    /// Asks Redis once: `Ok(true)` it answered `PING`, `Ok(false)` it did not, `Err` naming
    /// `field` when it refused the credentials.
    pub async fn ping(&self, field: &str) -> Result<bool, ConfigError> {
        let Some(mut conn) = self.connection().await else {
            return Ok(false);
        };
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        match tokio::time::timeout(Duration::from_secs(2), ping).await {
            Ok(Err(e))
                if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
                    || e.code().is_some_and(|c| c == "WRONGPASS" || c == "NOAUTH") =>
            {
                Err(ConfigError::new(
                    field,
                    "Redis refused the credentials (wrong username or password)",
                ))
            }
            Ok(Ok(_)) => Ok(true),
            _ => Ok(false),
        }
    }

    /// Subscribes to `channel` and hands what it hears to `heard`, until `alive` says the
    /// owner is gone. Reconnects by itself, and says so ([`Heard::Subscribed`], also the first
    /// time): what was published meanwhile is lost.
    pub fn listen(
        &self,
        channel: String,
        alive: Weak<()>,
        heard: impl Fn(Heard<'_>) + Send + 'static,
    ) {
        let client = self.client.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            while alive.upgrade().is_some() {
                let subscribed = async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(&channel).await?;
                    redis::RedisResult::Ok(pubsub)
                };
                match tokio::time::timeout(Duration::from_secs(2), subscribed).await {
                    Ok(Ok(pubsub)) => {
                        heard(Heard::Subscribed);
                        let mut messages = pubsub.into_on_message();
                        loop {
                            let next =
                                tokio::time::timeout(Duration::from_secs(1), messages.next()).await;
                            if alive.upgrade().is_none() {
                                return;
                            }
                            match next {
                                Ok(Some(msg)) => heard(Heard::Message(msg.get_payload_bytes())),
                                Ok(None) => break,
                                Err(_) => {}
                            }
                        }
                    }
                    _ => tokio::time::sleep(RECONNECT_PAUSE).await,
                }
            }
        });
    }
}
