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

/// The counters of one replica, kept across reloads.
pub struct Counters {
    tats: moka::sync::Cache<u128, u64>,
    /// Random: local keys mean nothing outside this process.
    local_key: Hmac<Sha256>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("keys", &self.tats.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for Counters {
    fn default() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system random source is available");
        Counters {
            // Keys live at most a window plus a lockout (31 days each at most): the bound on
            // count is what keeps memory in check.
            tats: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(62 * 24 * 3600))
                .build(),
            local_key: Hmac::new_from_slice(&key).expect("HMAC takes any key"),
        }
    }
}

impl Counters {
    /// Checks (and with `spend`, takes) one event from each of `keys` at `now`: the longest
    /// wait among them and its index, or `None` when all fit. With `spend`, nothing is taken
    /// unless all fit.
    fn local(&self, keys: &[(Key, Rate)], now: u64, spend: bool) -> Option<(usize, u64)> {
        let worst = keys
            .iter()
            .enumerate()
            .map(|(i, (k, r))| (i, r.wait(self.tats.get(&k.0).unwrap_or(0), now)))
            .filter(|(_, w)| *w > 0)
            .max_by_key(|(_, w)| *w);
        if worst.is_none() && spend {
            for (k, r) in keys {
                self.tats.entry(k.0).and_compute_with(|old| {
                    let tat = old.map_or(0, |e| e.into_value());
                    moka::ops::compute::Op::Put(r.after(tat, now))
                });
            }
        }
        worst
    }

    /// Forgets `key` (a successful sign-in clears its failures).
    fn clear(&self, key: Key) {
        self.tats.invalidate(&key.0);
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

/// An account as Auth.js users type it: case and surrounding spaces do not make another one.
fn account_id(account: &str) -> String {
    account.trim().to_lowercase()
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

    /// The credentials budgets that apply to `account` from `ip`.
    fn credentials_keys(
        &self,
        account: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Vec<(Reason, Key, Rate)> {
        let o = &self.options;
        let ip_bytes = ip.map(|ip| ip.to_string());
        let account = account.map(account_id);
        let mut keys = Vec::with_capacity(3);
        if let (Some(a), Some(ip)) = (&account, &ip_bytes) {
            keys.push((
                Reason::AccountIp,
                self.key(Reason::AccountIp, &[a.as_bytes(), ip.as_bytes()]),
                Rate::of(o.account_ip_failures, self.lockout()),
            ));
        }
        if let Some(ip) = &ip_bytes {
            keys.push((
                Reason::Ip,
                self.key(Reason::Ip, &[ip.as_bytes()]),
                Rate::of(o.ip_failures, self.lockout()),
            ));
        }
        if let Some(a) = &account {
            keys.push((
                Reason::Account,
                self.key(Reason::Account, &[a.as_bytes()]),
                Rate::of(o.account_failures, Duration::ZERO),
            ));
        }
        keys
    }

    /// Checks (`spend`: and takes) one event from each budget, in Redis when it answers, else
    /// here. `Err` names the budget that refuses longest.
    async fn count(
        &self,
        kind: Kind,
        keys: &[(Reason, Key, Rate)],
        spend: bool,
    ) -> Result<(), Refusal> {
        if keys.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let plain: Vec<(Key, Rate)> = keys.iter().map(|(_, k, r)| (*k, *r)).collect();
        let shared = match &self.shared {
            Some(link) => link.count(&plain, now, spend).await,
            None => None,
        };
        let worst = match shared {
            Some(answer) => answer,
            None => self.counters.local(&plain, now, spend),
        };
        match worst {
            None => Ok(()),
            Some((i, wait)) => Err(Refusal {
                kind,
                reason: keys[i].0,
                retry_after: Duration::from_millis(wait),
            }),
        }
    }

    /// Before a credentials sign-in is forwarded: refused while a budget is spent.
    pub async fn check_credentials(
        &self,
        account: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<(), Refusal> {
        let keys = self.credentials_keys(account, ip);
        let result = self.count(Kind::Credentials, &keys, false).await;
        if let Err(r) = &result {
            self.note(r, &keys);
        }
        result
    }

    /// Auth.js refused the credentials: each budget takes the failure.
    pub async fn credentials_failed(&self, account: Option<&str>, ip: Option<IpAddr>) {
        let keys = self.credentials_keys(account, ip);
        // Each budget on its own: one spent budget must not keep the others from counting.
        for k in &keys {
            let _ = self
                .count(Kind::Credentials, std::slice::from_ref(k), true)
                .await;
        }
    }

    /// Auth.js accepted the credentials: the (account, IP) failures are forgotten.
    pub async fn credentials_succeeded(&self, account: Option<&str>, ip: Option<IpAddr>) {
        let keys = self.credentials_keys(account, ip);
        if let Some((_, key, _)) = keys.iter().find(|(r, _, _)| *r == Reason::AccountIp) {
            self.counters.clear(*key);
            if let Some(link) = &self.shared {
                link.clear(*key).await;
            }
        }
    }

    /// Before an e-mail sign-in is forwarded: takes one send from the address's and the IP's
    /// budgets, refused when either is spent (nothing taken then).
    pub async fn email_attempt(&self, address: &str, ip: Option<IpAddr>) -> Result<(), Refusal> {
        let o = &self.options;
        let address = account_id(address);
        let mut keys = vec![(
            Reason::Address,
            self.key(Reason::Address, &[address.as_bytes()]),
            Rate::of(o.email_per_address, Duration::ZERO),
        )];
        if let Some(ip) = ip {
            let ip = ip.to_string();
            keys.push((
                Reason::EmailIp,
                self.key(Reason::EmailIp, &[ip.as_bytes()]),
                Rate::of(o.email_per_ip, Duration::ZERO),
            ));
        }
        let result = self.count(Kind::Email, &keys, true).await;
        if let Err(r) = &result {
            self.note(r, &keys);
        }
        result
    }

    /// Counts and logs a refusal, naming the budget by its key's hash, never its identifiers.
    fn note(&self, refusal: &Refusal, keys: &[(Reason, Key, Rate)]) {
        metrics::sign_in_refused(refusal.kind.as_str(), refusal.reason.as_str());
        let key = keys
            .iter()
            .find(|(r, _, _)| *r == refusal.reason)
            .map(|(_, k, _)| format!("{:08x}", (k.0 >> 96) as u32))
            .unwrap_or_default();
        request_event!(
            tracing::Level::WARN,
            kind = refusal.kind.as_str(),
            reason = refusal.reason.as_str(),
            key,
            retry_after_s = refusal.retry_after.as_secs(),
            "sign-in refused: budget spent"
        );
    }
}
