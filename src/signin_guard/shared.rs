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
use crate::signin_guard::{Key, Reserved, Settle, Slot};

const KEY_INFO: &[u8] = b"authjs-proxy sign-in protection key v1";

/// `KEYS`: the budgets; `ARGV`: now (ms), the step (`reserve`, `fail` or `refund`), the mask
/// of reserved budgets (for `fail`/`refund`), then interval, tolerance, lockout and `needs`
/// (1-based index of the budget that must hold failures for this one to refuse, 0 none) of
/// each budget. A key holds
/// `"<tat> <lockout end>"`. `reserve` answers `{index, wait, 0}` of the budget that refuses
/// longest, else takes one event from each budget and answers `{0, 0, mask}`.
/// The arithmetic of [`Rate`](crate::signin_guard::gcra::Rate), step for step.
const STEP: &str = r"
local now = tonumber(ARGV[1])
local step = ARGV[2]
local mask = tonumber(ARGV[3])
local n = #KEYS
local tat, lock, arg = {}, {}, {}
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  local t, l = 0, 0
  if v then
    local a, b = string.match(v, '^(%d+) (%d+)$')
    t, l = tonumber(a) or 0, tonumber(b) or 0
  end
  tat[i], lock[i] = t, l
  local base = 3 + (i - 1) * 4
  arg[i] = {tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])}
end
local function bit(i) return math.floor(mask / 2 ^ (i - 1)) % 2 == 1 end
local function put(i)
  local keep = math.max(math.max(tat[i], lock[i]) - now, 1)
  redis.call('SET', KEYS[i], string.format('%.0f %.0f', tat[i], lock[i]), 'PX', string.format('%.0f', keep))
end
if step == 'reserve' then
  local worst_i, worst_w, reserved = 0, 0, 0
  for i = 1, n do
    local needs = arg[i][4]
    reserved = reserved + 2 ^ (i - 1)
    if needs == 0 or tat[needs] > now then
      local interval, tol, lockout = arg[i][1], arg[i][2], arg[i][3]
      local wait = math.max(tat[i] - (now + tol), lock[i] - now)
      wait = math.min(wait, interval + tol + lockout)
      if wait > worst_w then worst_i, worst_w = i, wait end
    end
  end
  if worst_i > 0 then return {worst_i, worst_w, 0} end
  mask = reserved
  for i = 1, n do
    if bit(i) then
      tat[i] = math.max(tat[i], now) + arg[i][1]
      put(i)
    end
  end
  return {0, 0, reserved}
end
for i = 1, n do
  if bit(i) then
    local interval, tol, lockout = arg[i][1], arg[i][2], arg[i][3]
    if step == 'fail' then
      if lockout > 0 and tat[i] > now + tol then
        tat[i], lock[i] = now, now + lockout
      end
    else
      tat[i] = math.max(tat[i] - interval, 0)
    end
    put(i)
  end
end
return {0, 0, mask}
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

    /// Runs one step of the script over `slots`.
    async fn step(
        &self,
        slots: &[Slot],
        now: u64,
        step: &str,
        mask: u32,
    ) -> Option<(i64, i64, i64)> {
        let mut conn = self.link.connection().await?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(STEP).arg(slots.len());
        for s in slots {
            cmd.arg(self.redis_key(s.key));
        }
        cmd.arg(now).arg(step).arg(mask);
        for s in slots {
            let needs = s.needs.map_or(0, |j| j + 1);
            cmd.arg(s.rate.interval_ms)
                .arg(s.rate.tolerance_ms)
                .arg(s.rate.lockout_ms)
                .arg(needs);
        }
        self.link.run(cmd.query_async(&mut conn)).await
    }

    /// [`Counters`](crate::signin_guard::Counters)' reservation in Redis: `None` when Redis did
    /// not answer (the local count answers then).
    pub async fn reserve(&self, slots: &[Slot], now: u64) -> Option<Reserved> {
        let (index, wait, mask) = self.step(slots, now, "reserve", 0).await?;
        let refused = usize::try_from(index)
            .ok()
            .filter(|&i| i >= 1 && i <= slots.len() && wait > 0);
        Some(match refused {
            Some(i) => Err((i - 1, u64::try_from(wait).unwrap_or(0))),
            None => Ok(u32::try_from(mask).unwrap_or(0)),
        })
    }

    /// Ends a reservation made in Redis.
    pub async fn settle(&self, slots: &[Slot], mask: u32, how: Settle, now: u64) {
        let step = match how {
            Settle::Fail => "fail",
            Settle::Refund => "refund",
        };
        self.step(slots, now, step, mask).await;
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
