//! The sign-in budgets in Redis, shared by every replica: one script checks (and takes from)
//! every budget of a sign-in at once, in one round trip. Keys are `<prefix>signin:` + a keyed
//! hash (the key derived from `redis.key` or the secret) of the budget and its identifiers:
//! Redis never holds an address or an account in clear.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cache::link::Link;
use crate::core::error::ConfigError;
use crate::options::RedisOptions;
use crate::signin_guard::Key;
use crate::signin_guard::gcra::Rate;

const KEY_INFO: &[u8] = b"authjs-proxy sign-in protection key v1";

/// `KEYS`: the budgets; `ARGV`: now (ms), spend (0/1), then interval, tolerance and lockout of
/// each budget. Answers `{index, wait}` of the budget that refuses longest (`{0, 0}`: all fit);
/// with spend, takes one event from each budget when all fit. The arithmetic of
/// [`Rate`], step for step.
const COUNT: &str = r"
local now = tonumber(ARGV[1])
local spend = ARGV[2] == '1'
local worst_i, worst_w = 0, 0
local tats = {}
for i, key in ipairs(KEYS) do
  local tol = tonumber(ARGV[2 + (i - 1) * 3 + 2])
  local tat = tonumber(redis.call('GET', key) or '0') or 0
  tats[i] = tat
  local wait = tat - (now + tol)
  if wait > worst_w then worst_i, worst_w = i, wait end
end
if worst_i == 0 and spend then
  for i, key in ipairs(KEYS) do
    local base = 2 + (i - 1) * 3
    local interval = tonumber(ARGV[base + 1])
    local tol = tonumber(ARGV[base + 2])
    local lockout = tonumber(ARGV[base + 3])
    local nxt = math.max(tats[i], now) + interval
    if lockout > 0 and nxt - (now + tol) > 0 then nxt = now + tol + lockout end
    redis.call('SET', key, string.format('%.0f', nxt), 'PX', string.format('%.0f', math.max(nxt - now, 1)))
  end
end
return {worst_i, worst_w}
";

/// The Redis side of one configuration's sign-in budgets.
pub struct GuardLink {
    link: Link,
    prefix: String,
    key: Hmac<Sha256>,
}

impl std::fmt::Debug for GuardLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLink")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl GuardLink {
    /// Prepares the link (no connection is made here); `material` is the deployment's key.
    pub fn new(opts: &RedisOptions, material: &str) -> Result<Self, ConfigError> {
        let hk = hkdf::Hkdf::<Sha256>::new(None, material.as_bytes());
        let mut key = [0u8; 32];
        hk.expand(KEY_INFO, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Ok(GuardLink {
            link: Link::new(
                &opts.url,
                "session_cache.redis.url",
                Duration::from_millis(opts.timeout_ms),
                "sign-in protection",
            )?,
            prefix: opts.key_prefix.clone(),
            key: Hmac::new_from_slice(&key).expect("HMAC takes any key"),
        })
    }

    /// The key of the budgets' hashes: equal on every replica of the deployment.
    pub fn key(&self) -> &Hmac<Sha256> {
        &self.key
    }

    fn redis_key(&self, key: Key) -> String {
        format!("{}signin:{:032x}", self.prefix, key.0)
    }

    /// [`Counters`](crate::signin_guard::Counters)' check in Redis: `None` when Redis did not
    /// answer (the local count answers then).
    pub async fn count(
        &self,
        keys: &[(Key, Rate)],
        now: u64,
        spend: bool,
    ) -> Option<Option<(usize, u64)>> {
        let mut conn = self.link.connection().await?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(COUNT).arg(keys.len());
        for (k, _) in keys {
            cmd.arg(self.redis_key(*k));
        }
        cmd.arg(now).arg(if spend { "1" } else { "0" });
        for (_, r) in keys {
            cmd.arg(r.interval_ms).arg(r.tolerance_ms).arg(r.lockout_ms);
        }
        let (index, wait): (i64, i64) = self.link.run(cmd.query_async(&mut conn)).await?;
        let worst = usize::try_from(index)
            .ok()
            .filter(|&i| i >= 1 && i <= keys.len() && wait > 0)
            .map(|i| (i - 1, u64::try_from(wait).unwrap_or(0)));
        Some(worst)
    }

    /// Forgets one budget (a successful sign-in).
    pub async fn clear(&self, key: Key) {
        let Some(mut conn) = self.link.connection().await else {
            return;
        };
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.redis_key(key));
        self.link.run(cmd.query_async::<()>(&mut conn)).await;
    }
}
