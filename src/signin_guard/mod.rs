//! Sign-in protection: brute force and e-mail flooding stop at the proxy, shared across
//! replicas when the Redis level is configured.
//!
//! Auth.js has no rate limiting; the proxy sees every sign-in, so it keeps the budgets:
//!
//! * credentials (`POST callback/credentials`): failures per (account, client IP) and per
//!   client IP lock out for `lockout_s` once spent; failures per account from every IP slow
//!   down (refused until a cell refills), so nobody can lock a user out from elsewhere. A
//!   success clears its (account, IP) failures. A failure is what Auth.js answered one
//!   (`error=CredentialsSignin`), never a guess from the request.
//! * e-mail sign-in (a `POST signin/{provider}` with an `email` field): sends per recipient
//!   address and per client IP.
//!
//! Counting is GCRA ([`gcra`]) on keyed hashes of the identifiers: locally for one replica, in
//! Redis ([`shared`], one script and one round trip per check) for all of them. Redis down:
//! the local count answers, and the link says so in the log and `session_cache_redis_up`.

pub mod gcra;
pub mod shared;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::core::obs::metrics;
use crate::core::obs::request_id::request_event;
use crate::options::sign_in::SignInProtectionOptions;
use gcra::Rate;
use shared::GuardLink;

/// What a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A credentials sign-in.
    Credentials,
    /// An e-mail (magic link) sign-in.
    Email,
}

impl Kind {
    /// For metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Credentials => "credentials",
            Kind::Email => "email",
        }
    }
}

/// Which budget was spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Failures of one account from one client IP.
    AccountIp,
    /// Failures from one client IP.
    Ip,
    /// Failures of one account from every IP.
    Account,
    /// E-mails to one address.
    Address,
    /// E-mails asked from one client IP.
    EmailIp,
}

impl Reason {
    /// For metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::AccountIp => "account_ip",
            Reason::Ip => "ip",
            Reason::Account => "account",
            Reason::Address => "address",
            Reason::EmailIp => "email_ip",
        }
    }

    /// Every reason, for metrics at zero.
    pub const ALL: [Reason; 5] = [
        Reason::AccountIp,
        Reason::Ip,
        Reason::Account,
        Reason::Address,
        Reason::EmailIp,
    ];

    fn tag(self) -> &'static [u8] {
        self.as_str().as_bytes()
    }
}

/// A refused sign-in: which budget, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// What was refused.
    pub kind: Kind,
    /// The budget that was spent.
    pub reason: Reason,
    /// When it may be tried again.
    pub retry_after: Duration,
}

/// A counted key: a keyed hash of the budget and the identifiers, never the identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub u128);

/// One budget of a sign-in: its key, its rate, and the budget it depends on (the account-wide
/// budget counts every failure but refuses only an address that already failed for that
/// account: nobody can lock a user out of their own account from elsewhere).
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Which budget.
    pub reason: Reason,
    /// Its key.
    pub key: Key,
    /// Its numbers.
    pub rate: Rate,
    /// The index of the slot that must hold failures for this one to refuse.
    pub needs: Option<usize>,
}

/// The outcome of a reservation: which slots took an event (a bit each), or the refusal.
pub type Reserved = Result<u32, (usize, u64)>;

/// How a reservation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// A failure: the events stay, and a spent lockout budget locks.
    Fail,
    /// Not a failure: the events are given back.
    Refund,
}

/// A stored state and how long to keep it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    state: gcra::State,
    keep: Duration,
}

struct KeepFor;

impl moka::Expiry<u128, Entry> for KeepFor {
    fn expire_after_create(&self, _: &u128, e: &Entry, _: std::time::Instant) -> Option<Duration> {
        Some(e.keep)
    }

    fn expire_after_update(
        &self,
        _: &u128,
        e: &Entry,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(e.keep)
    }
}

/// The counters of one replica, kept across reloads.
pub struct Counters {
    states: moka::sync::Cache<u128, Entry>,
    /// One sign-in's budgets change together.
    write: std::sync::Mutex<()>,
    /// Random: local keys mean nothing outside this process.
    local_key: Hmac<Sha256>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("keys", &self.states.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for Counters {
    fn default() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system random source is available");
        Counters {
            // Each key lives as long as its state matters; the bound on count is what keeps
            // memory in check under a flood of one-off addresses.
            states: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(KeepFor)
                .build(),
            write: std::sync::Mutex::new(()),
            local_key: Hmac::new_from_slice(&key).expect("HMAC takes any key"),
        }
    }
}

/// Whether slot `i` may refuse: its `needs` slot holds failures (a TAT ahead of `now`). Every
/// slot takes the event either way.
fn counts(slots: &[Slot], states: &[gcra::State], i: usize, now: u64) -> bool {
    slots[i].needs.is_none_or(|j| states[j].0 > now)
}

impl Counters {
    fn state(&self, key: Key) -> gcra::State {
        self.states.get(&key.0).map_or((0, 0), |e| e.state)
    }

    fn put(&self, key: Key, rate: &Rate, state: gcra::State, now: u64) {
        let keep = Duration::from_millis(rate.keep_ms(state, now));
        self.states.insert(key.0, Entry { state, keep });
    }

    /// Reserves one event in every slot that counts, all or none.
    fn reserve(&self, slots: &[Slot], now: u64) -> Reserved {
        let _one = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let states: Vec<_> = slots.iter().map(|s| self.state(s.key)).collect();
        let mut worst: Option<(usize, u64)> = None;
        let mut mask = 0u32;
        for (i, slot) in slots.iter().enumerate() {
            mask |= 1 << i;
            if !counts(slots, &states, i, now) {
                continue;
            }
            let wait = slot.rate.wait(states[i], now);
            if wait > 0 && worst.is_none_or(|(_, w)| wait > w) {
                worst = Some((i, wait));
            }
        }
        if let Some(w) = worst {
            return Err(w);
        }
        for (i, slot) in slots.iter().enumerate() {
            if mask & (1 << i) != 0 {
                self.put(slot.key, &slot.rate, slot.rate.reserve(states[i], now), now);
            }
        }
        Ok(mask)
    }

    /// Ends a reservation of the slots in `mask`.
    fn settle(&self, slots: &[Slot], mask: u32, how: Settle, now: u64) {
        let _one = self.write.lock().unwrap_or_else(|e| e.into_inner());
        for (i, slot) in slots.iter().enumerate() {
            if mask & (1 << i) == 0 {
                continue;
            }
            let state = self.state(slot.key);
            let next = match how {
                Settle::Fail => slot.rate.fail(state, now),
                Settle::Refund => slot.rate.refund(state),
            };
            self.put(slot.key, &slot.rate, next, now);
        }
    }

    /// Forgets `key` (a successful sign-in clears its failures).
    fn clear(&self, key: Key) {
        self.states.invalidate(&key.0);
    }
}

/// Sign-in protection as one configuration has it.
#[derive(Debug, Clone)]
pub struct SignInGuard {
    /// The options in force.
    pub options: SignInProtectionOptions,
    /// This replica's counters (the proxy's, kept across configurations).
    pub counters: Arc<Counters>,
    /// The Redis counters, when the session cache has a Redis level.
    pub shared: Option<Arc<GuardLink>>,
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A sign-in's reserved budgets, settled once Auth.js has answered.
#[derive(Debug)]
pub struct Reservation {
    slots: Vec<Slot>,
    mask: u32,
    /// Where the reservation was counted: in Redis, or here (Redis did not answer).
    shared: bool,
}

impl SignInGuard {
    /// The guard of `options` over `counters`, counting in Redis through `shared` when given.
    pub fn new(
        options: SignInProtectionOptions,
        counters: Arc<Counters>,
        shared: Option<Arc<GuardLink>>,
    ) -> Self {
        SignInGuard {
            options,
            counters,
            shared,
        }
    }

    fn key(&self, reason: Reason, parts: &[&[u8]]) -> Key {
        let mut mac = match &self.shared {
            Some(link) => link.key().clone(),
            None => self.counters.local_key.clone(),
        };
        mac.update(reason.tag());
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        let out = mac.finalize().into_bytes();
        Key(u128::from_be_bytes(out[..16].try_into().expect("16 bytes")))
    }

    fn lockout(&self) -> Duration {
        Duration::from_secs(self.options.lockout_s)
    }

    /// Reserves one event of each slot, in Redis when it answers, else here.
    async fn reserve(&self, kind: Kind, slots: Vec<Slot>) -> Result<Reservation, Refusal> {
        if slots.is_empty() {
            return Ok(Reservation {
                slots,
                mask: 0,
                shared: false,
            });
        }
        let now = now_ms();
        let (answer, shared) = match &self.shared {
            Some(link) => match link.reserve(&slots, now).await {
                Some(answer) => (answer, true),
                None => (self.counters.reserve(&slots, now), false),
            },
            None => (self.counters.reserve(&slots, now), false),
        };
        match answer {
            Ok(mask) => Ok(Reservation {
                slots,
                mask,
                shared,
            }),
            Err((i, wait)) => {
                let refusal = Refusal {
                    kind,
                    reason: slots[i].reason,
                    retry_after: Duration::from_millis(wait),
                };
                self.note(&refusal, slots[i].key);
                Err(refusal)
            }
        }
    }

    /// Ends `r` where it was counted.
    async fn settle(&self, r: &Reservation, how: Settle) {
        if r.mask == 0 {
            return;
        }
        let now = now_ms();
        match (&self.shared, r.shared) {
            (Some(link), true) => link.settle(&r.slots, r.mask, how, now).await,
            _ => self.counters.settle(&r.slots, r.mask, how, now),
        }
    }

    /// Before a credentials sign-in of `accounts` (every account the form names) from `ip`
    /// is forwarded: reserves one failure of each budget, refused while one is spent.
    pub async fn reserve_credentials(
        &self,
        accounts: &[String],
        ip: Option<IpAddr>,
    ) -> Result<Reservation, Refusal> {
        let o = &self.options;
        let ip = ip.map(|ip| bucket(ip).to_string());
        let mut slots = Vec::with_capacity(1 + 2 * accounts.len());
        if let Some(ip) = &ip {
            slots.push(Slot {
                reason: Reason::Ip,
                key: self.key(Reason::Ip, &[ip.as_bytes()]),
                rate: Rate::of(o.ip_failures, self.lockout()),
                needs: None,
            });
        }
        for account in accounts {
            let pair = ip.as_ref().map(|ip| {
                slots.push(Slot {
                    reason: Reason::AccountIp,
                    key: self.key(Reason::AccountIp, &[account.as_bytes(), ip.as_bytes()]),
                    rate: Rate::of(o.account_ip_failures, self.lockout()),
                    needs: None,
                });
                slots.len() - 1
            });
            slots.push(Slot {
                reason: Reason::Account,
                key: self.key(Reason::Account, &[account.as_bytes()]),
                rate: Rate::of(o.account_failures, Duration::ZERO),
                needs: pair,
            });
        }
        self.reserve(Kind::Credentials, slots).await
    }

    /// Auth.js refused the credentials: the reserved failures stay.
    pub async fn credentials_failed(&self, r: Reservation) {
        self.settle(&r, Settle::Fail).await;
    }

    /// Auth.js accepted the credentials: the (account, IP) failures are forgotten, the rest
    /// given back.
    pub async fn credentials_succeeded(&self, r: Reservation) {
        self.settle(&r, Settle::Refund).await;
        for slot in r.slots.iter().filter(|s| s.reason == Reason::AccountIp) {
            self.counters.clear(slot.key);
            if let Some(link) = &self.shared {
                link.clear(slot.key).await;
            }
        }
    }

    /// Auth.js gave no verdict (it failed, or answered something else): nothing counts.
    pub async fn not_counted(&self, r: Reservation) {
        self.settle(&r, Settle::Refund).await;
    }

    /// Before an e-mail sign-in to `address` (as Auth.js normalises it) from `ip` is
    /// forwarded: reserves one send of the address's and the IP's budgets, refused when either
    /// is spent. Kept only when Auth.js sends the mail ([`SignInGuard::not_counted`] else).
    pub async fn reserve_email(
        &self,
        address: &str,
        ip: Option<IpAddr>,
    ) -> Result<Reservation, Refusal> {
        let o = &self.options;
        let mut slots = vec![Slot {
            reason: Reason::Address,
            key: self.key(Reason::Address, &[address.as_bytes()]),
            rate: Rate::of(o.email_per_address, Duration::ZERO),
            needs: None,
        }];
        if let Some(ip) = ip {
            let ip = bucket(ip).to_string();
            slots.push(Slot {
                reason: Reason::EmailIp,
                key: self.key(Reason::EmailIp, &[ip.as_bytes()]),
                rate: Rate::of(o.email_per_ip, Duration::ZERO),
                needs: None,
            });
        }
        self.reserve(Kind::Email, slots).await
    }

    /// Counts a refusal, and logs it once per key and minute, naming the budget by its key's
    /// hash, never its identifiers.
    fn note(&self, refusal: &Refusal, key: Key) {
        metrics::sign_in_refused(refusal.kind.as_str(), refusal.reason.as_str());
        static LOGGED: std::sync::LazyLock<moka::sync::Cache<u128, ()>> =
            std::sync::LazyLock::new(|| {
                moka::sync::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(Duration::from_secs(60))
                    .build()
            });
        if LOGGED.contains_key(&key.0) {
            return;
        }
        LOGGED.insert(key.0, ());
        request_event!(
            tracing::Level::WARN,
            kind = refusal.kind.as_str(),
            reason = refusal.reason.as_str(),
            key = format!("{:08x}", (key.0 >> 96) as u32),
            retry_after_s = refusal.retry_after.as_secs(),
            "sign-in refused: budget spent (logged once a minute per budget)"
        );
    }
}

/// The address a budget counts: IPv6 clients by their /64 (one host holds a whole /64), an
/// IPv4-mapped address as the IPv4 one.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket(a), bucket(b));
        assert_ne!(bucket(a), bucket(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(bucket(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
