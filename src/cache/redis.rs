//! The shared session-cache level: Redis, under each replica's local cache.
//!
//! * Keys are `key_prefix` + hex of an HMAC-SHA256 (key derived from the configured secret or
//!   `redis.key`) of the session cookie bytes and the protocol: equal on every replica, and
//!   meaningless without the key.
//! * Values are AES-256-GCM sealed with a key derived (HKDF-SHA256) from both this
//!   deployment's key (the configured secret or `redis.key`) and the session cookie bytes:
//!   whoever reads Redis without the user's cookie learns nothing, and whoever can write to
//!   Redis without the deployment's key can not make a value any replica accepts. A value that
//!   does not open is a miss, counted (`session_cache_requests_total{result="refused"}`) and
//!   logged once.
//! * Sign-out, session update and sign-in callback delete the entry and publish its id on
//!   `<key_prefix>invalidate`; every replica drops its local copy at once.
//! * Redis is never on the critical path: every command has a short timeout, failures fall back
//!   to the local cache and the upstream, and an outage is logged once (and its end once).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use redis::AsyncCommands;
use sha2::Sha256;

use crate::cache::link::{Heard, Link};
use crate::core::error::ConfigError;
use crate::core::obs::metrics::{self, CacheResult};
use crate::core::obs::request_id::request_event;
use crate::core::obs::trace;
use crate::options::RedisOptions;

/// An entry id: the HMAC of the session cookie bytes and protocol.
pub type EntryId = [u8; 32];

/// What the invalidation listener tells the local levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// Another replica dropped this entry (sign-out, session update, sign-in callback).
    Invalidated(EntryId),
    /// The subscription is (back) up: invalidations published before are lost to this
    /// replica, so its local copies may be stale.
    Resubscribed,
}

/// How long an invalidation refuses writes when no request timeout is given.
const DEFAULT_HOLD: Duration = Duration::from_secs(15);

/// `SET value PX ttl` unless the entry's invalidation still holds (run by `EVAL`, atomically).
const PUT_UNLESS_GONE: &str = "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end \
     redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";

const VALUE_INFO: &[u8] = b"authjs-proxy session cache value v2";
const VALUE_KEY_INFO: &[u8] = b"authjs-proxy session cache value key v2";
const KEY_INFO: &[u8] = b"authjs-proxy session cache key v1";

/// The Redis level of one configuration.
pub struct SharedLevel {
    link: Link,
    id_key: Hmac<Sha256>,
    /// This deployment's part of every value key: without it no value opens.
    value_key: [u8; 32],
    /// Whether a refused value has been logged (once per level).
    refused_logged: AtomicBool,
    prefix: String,
    listening: AtomicBool,
    /// How long an invalidation refuses writes for its entry: the longest a lookup fetched
    /// before it can take to write (see [`SharedLevel::holding_writes_for`]).
    hold: Duration,
}

impl std::fmt::Debug for SharedLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLevel")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedLevel {
    /// Checks the options and prepares the level (no connection is made here). `secret` is
    /// the newest configured secret, used when `redis.key` is not set.
    pub fn new(opts: &RedisOptions, secret: Option<&str>) -> Result<Self, ConfigError> {
        let link = Link::new(
            &opts.url,
            "session_cache.redis.url",
            Duration::from_millis(opts.timeout_ms),
            "session cache",
        )?;
        let material = deployment_key(opts, secret)?;
        let hk = hkdf::Hkdf::<Sha256>::new(None, material.as_bytes());
        let mut key = [0u8; 32];
        hk.expand(KEY_INFO, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        let mut value_key = [0u8; 32];
        hk.expand(VALUE_KEY_INFO, &mut value_key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Ok(SharedLevel {
            link,
            id_key: <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key"),
            value_key,
            refused_logged: AtomicBool::new(false),
            prefix: opts.key_prefix.clone(),
            listening: AtomicBool::new(false),
            hold: DEFAULT_HOLD,
        })
    }

    /// Invalidations refuse writes to their entry for `hold`: a lookup fetched before a
    /// sign-out can not bring the old answer back when its write lands after the delete. Set
    /// it to the longest a lookup can take (`timeouts.request_ms`).
    pub fn holding_writes_for(mut self, hold: Duration) -> Self {
        self.hold = hold.max(Duration::from_millis(1));
        self
    }

    fn gone_key(&self, id: &EntryId) -> String {
        let mut k = self.key(id);
        k.push_str(":gone");
        k
    }

    /// The entry id for these session cookie bytes (`material`, already length-framed).
    pub fn id(&self, material: &[u8]) -> EntryId {
        let mut mac = self.id_key.clone();
        mac.update(material);
        mac.finalize().into_bytes().into()
    }

    fn key(&self, id: &EntryId) -> String {
        let mut k = String::with_capacity(self.prefix.len() + 64);
        k.push_str(&self.prefix);
        for b in id {
            k.push_str(&format!("{b:02x}"));
        }
        k
    }

    fn channel(&self) -> String {
        format!("{}invalidate", self.prefix)
    }

    /// The stored answer for `id`, opened with this deployment's key and the cookie bytes, and
    /// what is left of its TTL; `None` on a miss, an error, a timeout, or a value that does not
    /// open (refused).
    pub async fn get(&self, id: &EntryId, material: &[u8]) -> Option<(Vec<u8>, Duration)> {
        let mut conn = self.link.connection().await?;
        let key = self.key(id);
        let mut pipe = redis::pipe();
        pipe.get(&key).cmd("PTTL").arg(&key);
        let query = pipe.query_async::<(Option<Vec<u8>>, i64)>(&mut conn);
        let span = trace::call_span("redis get", "redis");
        let (value, left_ms) = tracing::Instrument::instrument(self.link.run(query), span).await?;
        let plain = self.open(&value?, material, id)?;
        // PTTL: -2 gone meanwhile, -1 no expiry (never written so here): a moment, not a TTL.
        let left = Duration::from_millis(u64::try_from(left_ms).unwrap_or(0));
        Some((plain, left))
    }

    /// `value` opened, or `None` when no replica of this deployment sealed it for this cookie
    /// and id (forged, tampered, or written under another key): counted and logged once.
    fn open(&self, value: &[u8], material: &[u8], id: &EntryId) -> Option<Vec<u8>> {
        let opened = open(&self.value_key, value, material, id);
        if opened.is_none() {
            metrics::session_cache(CacheResult::Refused);
            if !self.refused_logged.swap(true, Ordering::Relaxed) {
                request_event!(
                    tracing::Level::WARN,
                    "redis session cache held a value no replica of this deployment wrote \
                     (forged, tampered, or sealed under another key); refused as a miss"
                );
            }
        }
        opened
    }

    /// Stores `plain` for `id` for `ttl`, encrypted with the cookie bytes.
    pub async fn put(&self, id: &EntryId, material: &[u8], plain: &[u8], ttl: Duration) {
        let Some(mut conn) = self.link.connection().await else {
            return;
        };
        let value = seal(&self.value_key, plain, material, id);
        let ms = ttl.as_millis().max(1) as u64;
        // Refused while the entry's invalidation holds (one script: nothing runs in between).
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PUT_UNLESS_GONE)
            .arg(2)
            .arg(self.key(id))
            .arg(self.gone_key(id))
            .arg(value)
            .arg(ms);
        let set = cmd.query_async::<()>(&mut conn);
        self.link.run(set).await;
    }

    /// Deletes the entry for `id` and tells every replica to drop its local copy.
    pub async fn invalidate(&self, id: &EntryId) {
        let Some(mut conn) = self.link.connection().await else {
            return;
        };
        // The delete and the hold on later writes, at once.
        let hold = self.hold.as_millis().max(1) as u64;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(self.key(id))
            .ignore()
            .cmd("SET")
            .arg(self.gone_key(id))
            .arg(1)
            .arg("PX")
            .arg(hold)
            .ignore();
        let del = pipe.query_async::<()>(&mut conn);
        self.link.run(del).await;
        let publish = conn.publish::<_, _, ()>(self.channel(), id.as_slice());
        self.link.run(publish).await;
    }

    /// Listens for invalidations from other replicas (once per level) and hands each to
    /// `apply`, until `alive` says the configuration is gone. Reconnects by itself, and says
    /// so ([`Shared::Resubscribed`]): what was published meanwhile is lost.
    pub fn listen(&self, alive: std::sync::Weak<()>, apply: impl Fn(Shared) + Send + 'static) {
        if self.listening.swap(true, Ordering::Relaxed) {
            return;
        }
        self.link
            .listen(self.channel(), alive, move |heard| match heard {
                // Also the first time: a lookup may have cached an answer before the
                // subscription was up.
                Heard::Subscribed => apply(Shared::Resubscribed),
                Heard::Message(payload) => {
                    if let Ok(id) = <EntryId>::try_from(payload) {
                        apply(Shared::Invalidated(id));
                    }
                }
            });
    }

    /// Asks Redis once: `Ok(true)` it answered `PING`, `Ok(false)` it did not, `Err` naming
    /// the field when it refused the credentials.
    pub async fn ping(&self) -> Result<bool, ConfigError> {
        self.link.ping("session_cache.redis.url").await
    }

    /// Checks the connection at startup: `Err` naming the field when Redis refuses the
    /// credentials; an unreachable Redis is only a warning (service goes on without it).
    pub async fn check(&self) -> Result<(), ConfigError> {
        if !self.ping().await? {
            self.link.mark_down("unreachable at startup");
        }
        Ok(())
    }
}

/// This deployment's key material: `redis.key`, else the newest secret.
pub fn deployment_key<'a>(
    opts: &'a RedisOptions,
    secret: Option<&'a str>,
) -> Result<&'a str, ConfigError> {
    let material = opts.key.as_deref().or(secret).ok_or_else(|| {
        ConfigError::new(
            "session_cache.redis",
            "needs secret or session_cache.redis.key to derive its keys",
        )
    })?;
    if material.trim().is_empty() {
        return Err(ConfigError::new(
            "session_cache.redis.key",
            "must not be blank",
        ));
    }
    Ok(material)
}

/// The cipher of one entry: its key needs this deployment's `value_key` and the cookie bytes.
fn value_cipher(value_key: &[u8; 32], material: &[u8], id: &EntryId) -> Aes256Gcm {
    let mut ikm = Vec::with_capacity(value_key.len() + material.len());
    ikm.extend_from_slice(value_key);
    ikm.extend_from_slice(material);
    let hk = hkdf::Hkdf::<Sha256>::new(Some(id), &ikm);
    let mut key = [0u8; 32];
    hk.expand(VALUE_INFO, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    Aes256Gcm::new_from_slice(&key).expect("key length is fixed")
}

/// `nonce || AES-256-GCM(plain)`, key from the deployment's key and the cookie bytes, the id as
/// associated data.
fn seal(value_key: &[u8; 32], plain: &[u8], material: &[u8], id: &EntryId) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).expect("the operating system random source is available");
    let ct = value_cipher(value_key, material, id)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: id,
            },
        )
        .expect("AES-GCM encryption of in-memory data does not fail");
    [nonce.as_slice(), &ct].concat()
}

fn open(value_key: &[u8; 32], value: &[u8], material: &[u8], id: &EntryId) -> Option<Vec<u8>> {
    if value.len() < 12 {
        return None;
    }
    let (nonce, ct) = value.split_at(12);
    value_cipher(value_key, material, id)
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: id })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_with_the_cookie_it_was_sealed_with() {
        let id = [7u8; 32];
        let key = [1u8; 32];
        let sealed = seal(&key, b"{\"user\":{}}", b"cookie-a", &id);
        assert_eq!(
            open(&key, &sealed, b"cookie-a", &id).as_deref(),
            Some(&b"{\"user\":{}}"[..])
        );
        assert_eq!(open(&key, &sealed, b"cookie-b", &id), None);
        assert_eq!(open(&key, &sealed, b"cookie-a", &[8u8; 32]), None);
        assert!(!sealed.windows(6).any(|w| w == b"\"user\""));
    }

    fn level(key: &str) -> SharedLevel {
        let opts = RedisOptions {
            url: "redis://127.0.0.1:1/0".into(),
            key: Some(key.into()),
            ..RedisOptions::default()
        };
        SharedLevel::new(&opts, None).unwrap()
    }

    /// What a cookie holder with write access to Redis can make: a value sealed with a key
    /// derived from what they know (their cookie bytes and the entry id in the key name).
    fn forged(plain: &[u8], material: &[u8], id: &EntryId) -> Vec<u8> {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(id), material);
        let mut key = [0u8; 32];
        hk.expand(b"authjs-proxy session cache value v1", &mut key)
            .unwrap();
        let nonce = [0u8; 12];
        let ct = Aes256Gcm::new_from_slice(&key)
            .unwrap()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: id,
                },
            )
            .unwrap();
        [nonce.as_slice(), &ct].concat()
    }

    #[test]
    fn a_value_sealed_from_the_cookie_alone_is_refused() {
        let level = level("deployment-key");
        let material = b"cookie-of-a-low-privilege-user";
        let id = level.id(material);
        let admin = b"{\"user\":{\"email\":\"admin@corp.example\"}}";
        assert_eq!(
            level.open(&forged(admin, material, &id), material, &id),
            None
        );
        let own = seal(&level.value_key, admin, material, &id);
        assert_eq!(level.open(&own, material, &id).as_deref(), Some(&admin[..]));
    }

    #[test]
    fn a_value_sealed_under_another_deployment_key_is_refused() {
        let (ours, theirs) = (level("ours"), level("theirs"));
        let material = b"cookie";
        let id = ours.id(material);
        let value = seal(&theirs.value_key, b"null", material, &id);
        assert_eq!(ours.open(&value, material, &id), None);
    }

    #[test]
    fn ids_depend_on_the_key() {
        let opts = |key: &str| RedisOptions {
            url: "redis://127.0.0.1:1/0".into(),
            key: Some(key.into()),
            ..RedisOptions::default()
        };
        let a = SharedLevel::new(&opts("k1"), None).unwrap();
        let b = SharedLevel::new(&opts("k2"), None).unwrap();
        assert_ne!(a.id(b"cookie"), b.id(b"cookie"));
        assert_eq!(a.id(b"cookie"), a.id(b"cookie"));
    }

    #[test]
    fn a_level_without_key_material_is_refused() {
        let opts = RedisOptions {
            url: "redis://127.0.0.1:1/0".into(),
            ..RedisOptions::default()
        };
        assert_eq!(
            SharedLevel::new(&opts, None).unwrap_err().field,
            "session_cache.redis"
        );
    }
}
