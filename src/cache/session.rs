//! The session cache of `get_server_session`: answers per session cookie, on this replica and
//! (optionally) in a Redis level shared by replicas, with stale-if-error.

use std::future::Future;
use std::hash::Hasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderMap, HeaderValue};
use moka::Expiry;
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::cache::redis::{EntryId, Shared, SharedLevel};
use crate::core::cookies::{is_plain_cookie_value, is_session_cookie, request_cookies};
use crate::core::error::{AuthError, ConfigError, UpstreamError};
use crate::core::obs::metrics::{self, CacheResult};
use crate::core::obs::request_id::request_event;
use crate::core::obs::trace;
use crate::core::session::Session;
use crate::options::proxy::SessionCacheOptions;

/// Caches `get_server_session` answers per session cookie.
///
/// * Keys are a keyed 128-bit SipHash (random keys per cache, so nobody can aim a collision
///   at another user's entry) of the raw bytes of every cookie Auth.js could read as the
///   session, plus the scheme sent upstream. An entry also holds the host it was asked for
///   and answers only that host (an Auth.js may configure itself per host), while an
///   invalidation through any host drops it.
/// * Concurrent lookups for one key share a single upstream request; errors are never cached.
/// * An invalidation (sign-out, session update, sign-in callback) wins against lookups already
///   in flight: an answer fetched before it is returned to its own callers but never cached,
///   and callers that come after it never join the older lookup.
/// * Stale-if-error: the last good answer per key is also kept for `stale_if_error_ms`, and
///   answers when the upstream can not (circuit open, overloaded, timeout, 5xx). It lives
///   under the same invalidation slot as the fresh entry, so an invalidation removes it too,
///   and a later "signed out" answer replaces it.
#[derive(Clone)]
pub struct SessionCache {
    inner: moka::future::Cache<EntryKey, Answer>,
    /// Per key: the last good answer and when it was fetched (`None` when disabled).
    stale: Option<moka::future::Cache<EntryKey, StaleAnswer>>,
    /// Per key: the invalidation epoch of its last invalidation (part of the entry key).
    tombstones: moka::future::Cache<u128, u64>,
    /// Counts invalidations: each one's slot number is new.
    epoch: Arc<AtomicU64>,
    hash_keys: (u64, u64),
    /// The Redis level shared by replicas, when configured.
    shared: Option<Arc<SharedLevel>>,
    ttl: Duration,
    negative_ttl: Duration,
    /// Dropped with the configuration: stops the invalidation listener.
    alive: Arc<()>,
}

/// A cached answer (its key names the host it was asked for).
#[derive(Clone)]
struct Answer {
    session: Option<Arc<Session>>,
    /// What is left of the answer's life when it came from the shared level (it was fetched
    /// by another replica earlier); `None`: fetched here, a whole TTL.
    left: Option<Duration>,
}

/// A local entry: the cookie key, its invalidation slot, and the host it was asked for (each
/// host its own entry, lookup sharing and stale answer; an invalidation moves the slot of
/// every host's entry at once).
type EntryKey = (u128, u64, HostTag);

/// Which host an answer was asked for: a keyed hash of it (an entry keeps no request's
/// memory alive, and nobody can aim another host at it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct HostTag(u128);

/// A good answer kept for stale-if-error.
#[derive(Clone)]
struct StaleAnswer {
    session: Option<Arc<Session>>,
    fetched: Instant,
}

struct AnswerExpiry {
    ttl: Duration,
    negative_ttl: Duration,
}

impl Expiry<EntryKey, Answer> for AnswerExpiry {
    fn expire_after_create(&self, _: &EntryKey, value: &Answer, _: Instant) -> Option<Duration> {
        let full = if value.session.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        };
        Some(value.left.map_or(full, |left| left.min(full)))
    }
}

/// The key a lookup is cached under (see [`SessionCache::key`]).
pub struct CacheKey {
    hash: u128,
    origin: &'static [u8],
    anonymous: bool,
    shared: Option<(EntryId, Vec<u8>)>,
}

/// What a cache key says about a request.
enum Lookup {
    /// Cache under this key; `anonymous` when no session cookie was sent; with a shared
    /// level, the entry id and the cookie bytes its value is sealed with.
    Key {
        hash: u128,
        anonymous: bool,
        shared: Option<(EntryId, Vec<u8>)>,
    },
    /// A session cookie value that is not a plain cookie value: ask, never cache.
    Uncacheable,
}

impl SessionCache {
    /// A cache with the given settings; `None` when `ttl_ms` is 0 (disabled). Invalidations
    /// are remembered for the longer of `ttl_ms` and `stale_if_error_ms`, plus `in_flight`
    /// (the longest a lookup can take).
    pub fn new(
        opts: &SessionCacheOptions,
        in_flight: Duration,
        secret: Option<&str>,
    ) -> Result<Option<Self>, ConfigError> {
        let ttl = Duration::from_millis(opts.ttl_ms);
        let negative_ttl = Duration::from_millis(opts.negative_ttl_ms.min(opts.ttl_ms));
        let stale_for = Duration::from_millis(opts.stale_if_error_ms);
        if opts.ttl_ms == 0 {
            return Ok(None);
        }
        let shared = match &opts.redis {
            Some(r) => Some(Arc::new(
                SharedLevel::new(r, secret)?.holding_writes_for(in_flight),
            )),
            None => None,
        };
        Ok(Some(SessionCache {
            shared,
            ttl,
            negative_ttl,
            alive: Arc::new(()),
            stale: (opts.stale_if_error_ms > 0).then(|| {
                moka::future::Cache::builder()
                    .max_capacity(opts.max_entries)
                    .time_to_live(stale_for)
                    .build()
            }),
            inner: moka::future::Cache::builder()
                .max_capacity(opts.max_entries)
                .expire_after(AnswerExpiry { ttl, negative_ttl })
                .build(),
            // No size bound: an invalidation is never evicted before every entry it hides has
            // expired (it lives as long as the longest of them); the count is bounded by the
            // invalidations of that window.
            tombstones: moka::future::Cache::builder()
                .time_to_live(ttl.max(stale_for) + in_flight)
                .build(),
            epoch: Arc::default(),
            hash_keys: {
                let mut k = [0u8; 16];
                getrandom::fill(&mut k).expect("the operating system random source is available");
                let (a, b) = k.split_at(8);
                (
                    u64::from_le_bytes(a.try_into().expect("8 bytes")),
                    u64::from_le_bytes(b.try_into().expect("8 bytes")),
                )
            },
        }))
    }

    /// The key of a lookup for `headers`, sent upstream with the protocol `origin` and read with
    /// the session cookie `names`; `None` when it must not be cached. Its invalidation slot
    /// depends on the cookies alone, so an invalidation reaches the entries of every protocol
    /// and host.
    pub fn key(
        &self,
        names: &[String],
        headers: &HeaderMap,
        origin: &'static [u8],
    ) -> Option<CacheKey> {
        match self.lookup(names, headers) {
            Lookup::Key {
                hash,
                anonymous,
                shared,
            } => Some(CacheKey {
                hash,
                origin,
                anonymous,
                shared,
            }),
            Lookup::Uncacheable => None,
        }
    }

    fn lookup(&self, names: &[String], headers: &HeaderMap) -> Lookup {
        // The same length-framed bytes feed the local SipHash, or, with a shared level, the
        // shared HMAC id (equal on every replica) and the value's sealing key.
        let mut material = self.shared.as_ref().map(|_| Vec::with_capacity(256));
        let mut h = SipHasher13::new_with_keys(self.hash_keys.0, self.hash_keys.1);
        let mut field = |bytes: &[u8]| match &mut material {
            Some(m) => {
                m.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                m.extend_from_slice(bytes);
            }
            None => {
                h.write_u64(bytes.len() as u64);
                h.write(bytes);
            }
        };
        let mut anonymous = true;
        for (name, value) in request_cookies(headers) {
            if !is_session_cookie(name, names) || value.is_empty() {
                continue;
            }
            if !is_plain_cookie_value(value) {
                return Lookup::Uncacheable;
            }
            anonymous = false;
            field(name);
            field(value);
        }
        match (material, &self.shared) {
            (Some(material), Some(level)) => {
                let id = level.id(&material);
                let hash = u128::from_le_bytes(id[..16].try_into().expect("16 bytes"));
                Lookup::Key {
                    hash,
                    anonymous,
                    shared: (!anonymous).then_some((id, material)),
                }
            }
            _ => Lookup::Key {
                hash: h.finish128().as_u128(),
                anonymous,
                shared: None,
            },
        }
    }

    /// The tag of the protocol and host a lookup is sent upstream with.
    fn host_tag(&self, origin: &[u8], host: Option<&HeaderValue>) -> HostTag {
        // Keys of their own: a host tag is never equal to a cache key by construction.
        let mut h = SipHasher13::new_with_keys(!self.hash_keys.0, !self.hash_keys.1);
        h.write_u64(origin.len() as u64);
        h.write(origin);
        match host {
            Some(v) => {
                h.write_u8(1);
                h.write(v.as_bytes());
            }
            None => h.write_u8(0),
        }
        HostTag(h.finish128().as_u128())
    }

    /// Drops the local entry `hash`, including lookups still in flight for it.
    async fn invalidate_local(&self, hash: u128) {
        // A slot number never used before, for any key.
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        // Every protocol's and host's entry under the previous slot is now out of reach (and
        // expires).
        self.tombstones.insert(hash, epoch).await;
    }

    /// Starts applying other replicas' invalidations to this cache (once).
    ///
    /// The listener holds only the local levels, never the cache's `alive` token or the
    /// shared level, so it stops (and its connection closes) once the configuration is gone.
    fn listen(&self) {
        let Some(level) = &self.shared else { return };
        let (inner, stale) = (self.inner.clone(), self.stale.clone());
        let (tombstones, epoch) = (self.tombstones.clone(), self.epoch.clone());
        level.listen(Arc::downgrade(&self.alive), move |event| match event {
            Shared::Invalidated(id) => {
                let hash = u128::from_le_bytes(id[..16].try_into().expect("16 bytes"));
                let (tombstones, epoch) = (tombstones.clone(), epoch.clone());
                tokio::spawn(async move {
                    let slot = epoch.fetch_add(1, Ordering::SeqCst) + 1;
                    tombstones.insert(hash, slot).await;
                });
            }
            // Invalidations published while the subscription was down are lost: every local
            // copy may be one of theirs.
            Shared::Resubscribed => {
                inner.invalidate_all();
                if let Some(stale) = &stale {
                    stale.invalidate_all();
                }
            }
        });
    }

    /// Whether this cache has a Redis level.
    pub fn has_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Asks the shared level once: `Ok(true)` it answered, `Ok(false)` it did not, `Err` it
    /// refused the credentials (the error names the field).
    pub async fn ping_shared(&self) -> Result<bool, ConfigError> {
        match &self.shared {
            Some(level) => level.ping().await,
            None => Ok(false),
        }
    }

    /// Checks the shared level at startup (a refused password is an error naming the field).
    pub async fn check_shared(&self) -> Result<(), ConfigError> {
        match &self.shared {
            Some(level) => level.check().await,
            None => Ok(()),
        }
    }

    /// Drops the entry under `key` on this replica and in the shared level, including lookups
    /// still in flight.
    pub async fn invalidate_key(&self, key: CacheKey) {
        self.invalidate_local(key.hash).await;
        if let (Some(level), Some((id, _))) = (&self.shared, key.shared) {
            level.invalidate(&id).await;
        }
    }

    /// The answer for `key` asked for `host`: from this replica, the shared level, or `fetch`
    /// (one lookup per key and host at a time), with stale-if-error when `fetch` fails.
    pub async fn answer<F, Fut>(
        &self,
        key: CacheKey,
        host: Option<HeaderValue>,
        fetch: F,
    ) -> Result<Option<Session>, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Arc<Session>>, AuthError>>,
    {
        let cache = self;
        let CacheKey {
            hash,
            origin,
            anonymous,
            shared,
        } = key;
        cache.listen();
        let tag = cache.host_tag(origin, host.as_ref());
        let scope = scope_of(origin, host.as_ref());
        let slot = cache.tombstones.get(&hash).await.unwrap_or(0);
        let asked = std::cell::Cell::new(false);
        let from_shared = std::cell::Cell::new(false);
        let answer = cache
            .inner
            .try_get_with((hash, slot, tag), async {
                // Local miss: the shared level, then the upstream.
                let level = cache.shared.as_ref().zip(shared.as_ref());
                if let Some((level, (id, material))) = level
                    && let Some((plain, left)) = level.get(id, material.as_slice()).await
                    && let Some(answer) = shared_answer(&plain, &scope)
                {
                    from_shared.set(true);
                    return Ok(Answer {
                        session: answer.map(Arc::new),
                        left: Some(left),
                    });
                }
                asked.set(true);
                let answer = fetch().await?;
                // Only an invalidation of this key (its slot moved) makes the answer uncacheable.
                let superseded = cache.tombstones.get(&hash).await.unwrap_or(0) != slot;
                if let Some((level, (id, material))) = level
                    && !superseded
                    && let Some(plain) = shared_value(&scope, answer.as_deref())
                {
                    let ttl = if answer.is_some() {
                        cache.ttl
                    } else {
                        cache.negative_ttl
                    };
                    let (level, id, material) = (level.clone(), *id, material.clone());
                    let span = trace::call_span("redis put", "redis");
                    actix_rt::spawn(tracing::Instrument::instrument(
                        async move { level.put(&id, &material, &plain, ttl).await },
                        span,
                    ));
                }
                // Defence in depth: a session for a request without a session cookie would be
                // served to every anonymous caller.
                if superseded || (anonymous && answer.is_some()) {
                    return Err(Uncached::NotForCache(answer));
                }
                if let Some(stale) = &cache.stale {
                    let kept = StaleAnswer {
                        session: answer.clone(),
                        fetched: Instant::now(),
                    };
                    stale.insert((hash, slot, tag), kept).await;
                }
                Ok(Answer {
                    session: answer,
                    left: None,
                })
            })
            .await;
        metrics::session_cache(if asked.get() {
            CacheResult::Miss
        } else {
            CacheResult::Hit
        });
        trace::record_current(
            "cache",
            match (asked.get(), from_shared.get()) {
                (true, _) => "source",
                (false, true) => "shared",
                (false, false) => "local",
            },
        );
        match answer {
            Ok(cached) => Ok(cached.session.map(|s| (*s).clone())),
            Err(e) => match &*e {
                Uncached::NotForCache(session) => Ok(session.as_deref().cloned()),
                Uncached::Failed(e) => match stale_answer(cache, hash, tag, e).await {
                    Some(session) => Ok(session),
                    None => Err(e.clone()),
                },
            },
        }
    }

    /// Entries currently held (approximate).
    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("entries", &self.inner.entry_count())
            .finish()
    }
}

/// Why an answer is returned but not cached.
#[derive(Debug, Clone)]
enum Uncached {
    Failed(AuthError),
    /// Fetched, but an invalidation came while it was in flight, or it is a session for a
    /// request without a session cookie.
    NotForCache(Option<Arc<Session>>),
}

impl From<AuthError> for Uncached {
    fn from(e: AuthError) -> Self {
        Uncached::Failed(e)
    }
}

/// What an answer is for besides the cookies: the protocol and host it was asked upstream
/// with (`https://app.example.com`; `http://` without a host).
fn scope_of(origin: &[u8], host: Option<&HeaderValue>) -> Vec<u8> {
    let host = host.map_or(&b""[..], HeaderValue::as_bytes);
    [origin, b"://", host].concat()
}

/// The shared level's value for an answer: the protocol and host it was asked for (length
/// first, see [`scope_of`]), then the answer as JSON.
fn shared_value(scope: &[u8], session: Option<&Session>) -> Option<Vec<u8>> {
    let len = u16::try_from(scope.len()).ok()?;
    let mut value = len.to_le_bytes().to_vec();
    value.extend_from_slice(scope);
    serde_json::to_writer(&mut value, &session).ok()?;
    Some(value)
}

/// The answer in a shared-level value, when it was asked for `scope` (another protocol's or
/// host's answer, or a value in another layout, counts as a miss).
fn shared_answer(value: &[u8], scope: &[u8]) -> Option<Option<Session>> {
    let (len, rest) = value.split_first_chunk::<2>()?;
    let (kept, body) = rest.split_at_checked(usize::from(u16::from_le_bytes(*len)))?;
    if kept != scope {
        return None;
    }
    Session::from_body(body)
}

/// Whether a failed lookup is the upstream's (or the session store's) trouble (so a stale answer may stand in), not a
/// wrong answer.
fn upstream_trouble(e: &AuthError) -> bool {
    match e {
        AuthError::Upstream(UpstreamError::ResponseTooLarge) => false,
        AuthError::Upstream(_) => true,
        AuthError::BadSessionAnswer { status } => *status >= 500,
        AuthError::SessionStore(_) => true,
        _ => false,
    }
}

/// Stale-if-error: the last good answer for `hash` under its current invalidation slot.
async fn stale_answer(
    cache: &SessionCache,
    hash: u128,
    host: HostTag,
    e: &AuthError,
) -> Option<Option<Session>> {
    let stale = cache.stale.as_ref()?;
    if !upstream_trouble(e) {
        return None;
    }
    // Read the slot again: an invalidation during the failed lookup moved it, and entries
    // under the new slot were fetched after it.
    let slot = cache.tombstones.get(&hash).await.unwrap_or(0);
    let kept = stale.get(&(hash, slot, host)).await?;
    if kept
        .session
        .as_ref()
        .and_then(|s| s.expires.as_deref())
        .is_some_and(|expires| has_expired(expires, time::OffsetDateTime::now_utc()))
    {
        return None;
    }
    metrics::session_cache(CacheResult::Stale);
    trace::record_current("cache", "stale");
    request_event!(tracing::Level::INFO,
        age_ms = kept.fetched.elapsed().as_millis() as u64,
        error = %e,
        "auth upstream failed; get_server_session answered from the last good answer (stale-if-error)"
    );
    Some(kept.session.as_deref().cloned())
}

/// Whether a session's `expires` (Auth.js writes `Date.toISOString()`,
/// `YYYY-MM-DDTHH:MM:SS.sssZ`) is at or before `now`, to the second. Another format is not
/// judged (`false`): the stale answer is bounded by `stale_if_error_ms` anyway.
fn has_expired(expires: &str, now: time::OffsetDateTime) -> bool {
    let b = expires.as_bytes();
    let iso = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b.ends_with(b"Z");
    if !iso {
        return false;
    }
    let Ok(now) = now.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]"
    )) else {
        return false;
    };
    // Same fixed-width UTC layout: text order is time order.
    expires.get(..19).is_some_and(|e| e <= now.as_str())
}

#[cfg(test)]
mod tests {
    use super::has_expired;

    fn at(unix: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn an_auth_js_expiry_in_the_past_has_expired() {
        // 2025-01-01T00:00:00Z = 1735689600.
        assert!(has_expired("2024-12-31T23:59:59.000Z", at(1_735_689_600)));
        assert!(has_expired("2025-01-01T00:00:00.000Z", at(1_735_689_600)));
        assert!(!has_expired("2025-01-01T00:00:01.000Z", at(1_735_689_600)));
    }

    #[test]
    fn an_expiry_in_another_format_is_not_judged() {
        assert!(!has_expired("yesterday", at(1_735_689_600)));
        assert!(!has_expired("", at(1_735_689_600)));
        assert!(!has_expired("2024-12-31", at(1_735_689_600)));
    }
}
