//! Revoked JWT sessions: a token that signed out through the proxy, and every token of a
//! subject signed out everywhere, are refused until they expire.
//!
//! Auth.js can not revoke a JWT session: a copy of the cookie stays valid until it expires.
//! The proxy sees every sign-out, so it keeps a deny-list:
//!
//! * [`Revocations`]: the list itself, in memory, kept across reloads. Token entries are
//!   16-byte ids with their expiry; they go once the token they name has expired, so memory
//!   is bounded by live revoked tokens. Subject cut-offs ("every token of this subject issued
//!   before") go after the session max age.
//! * [`TokenId`]: Auth.js puts a random UUID `jti` in every token; it is the id as is. Any
//!   other `jti`, or a token without one, is named by a keyed hash of it.
//! * [`Revocation`]: what one configuration adds: the id key, the Redis link ([`shared`]) that
//!   shares the list between replicas, and the sign-out rule.
//!
//! A request whose token is not revoked pays an atomic load when nothing is revoked, one hash
//! lookup otherwise (two with subject cut-offs in force).

pub mod shared;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::core::obs::metrics;
use crate::core::token::{Claims, now_secs};
use crate::options::proxy::{OnSignOut, RevocationOptions};
use shared::RevocationLink;

/// Sign-outs of one subject within a sweep interval past which it is signed out everywhere
/// (one cut-off) instead of one token at a time.
pub const MAX_TOKENS_PER_SUBJECT: u32 = 64;

/// Revoked tokens listed past which sign-outs revoke by subject (about 64 MB).
pub const MAX_TOKENS: usize = 1_000_000;

/// Most revocations kept for Redis while it does not answer.
const MAX_UNSENT: usize = 100_000;

/// Seconds between sweeps of expired entries (done by the writer that finds one due).
const SWEEP_EVERY_SECS: u64 = 60;

const ID_KEY_INFO: &[u8] = b"authjs-proxy revocation id key v1";

/// The name of a revoked token in the list (and in Redis, as 32 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenId(pub u128);

impl TokenId {
    /// The id of a decoded token: its `jti` when that is a UUID (what Auth.js writes), else a
    /// keyed hash of the `jti`, else of the token's bytes.
    pub fn of(key: &IdKey, claims: &Claims, token: &str) -> TokenId {
        match claims.jti() {
            Some(jti) => uuid(jti).map_or_else(|| key.hash(b"jti", jti.as_bytes()), TokenId),
            None => TokenId::of_bytes(key, token),
        }
    }

    /// The id of a token the proxy can not read (no secret): a keyed hash of its bytes.
    pub fn of_bytes(key: &IdKey, token: &str) -> TokenId {
        key.hash(b"token", token.as_bytes())
    }

    /// 32 lowercase hex digits.
    pub fn hex(self) -> String {
        format!("{:032x}", self.0)
    }

    /// Reads [`TokenId::hex`].
    pub fn from_hex(s: &str) -> Option<TokenId> {
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u128::from_str_radix(s, 16).ok().map(TokenId))
            .flatten()
    }
}

/// A UUID in its usual text form (`8-4-4-4-12` hex digits), as a number.
fn uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let mut n: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        n = (n << 4) | u128::from(char::from(c).to_digit(16)?);
    }
    Some(n)
}

/// The key of the hashed ids: derived from the deployment's key material (`redis.key`, else
/// the newest secret) so every replica names a token alike, else random for this process.
#[derive(Clone)]
pub struct IdKey(Hmac<Sha256>);

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(..)")
    }
}

impl IdKey {
    /// From key material (a secret).
    pub fn derive(material: &str) -> IdKey {
        let hk = hkdf::Hkdf::<Sha256>::new(None, material.as_bytes());
        let mut key = [0u8; 32];
        hk.expand(ID_KEY_INFO, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        IdKey(Hmac::new_from_slice(&key).expect("HMAC takes any key"))
    }

    /// A random key (ids meaningful to this process only).
    pub fn random() -> IdKey {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system random source is available");
        IdKey(Hmac::new_from_slice(&key).expect("HMAC takes any key"))
    }

    fn hash(&self, kind: &[u8], bytes: &[u8]) -> TokenId {
        let mut mac = self.0.clone();
        mac.update(kind);
        mac.update(&[0]);
        mac.update(bytes);
        let out = mac.finalize().into_bytes();
        TokenId(u128::from_be_bytes(out[..16].try_into().expect("16 bytes")))
    }
}

/// "Every token of this subject issued before `before`", kept until `until` (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cutoff {
    /// Tokens issued (`iat`) before this are refused.
    pub before: u64,
    /// When the cut-off is dropped: every token it refuses has expired by then.
    pub until: u64,
}

/// A revocation Redis has not taken yet (it was down): sent again when it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsent {
    /// A revoked token and its expiry.
    Token(TokenId, u64),
    /// A subject cut-off.
    Subject(String, Cutoff),
}

/// The deny-list, kept across reloads (one per [`crate::runtime::handle::AuthProxy`]).
#[derive(Default)]
pub struct Revocations {
    tokens: RwLock<HashMap<TokenId, u64>>,
    subjects: RwLock<HashMap<String, Cutoff>>,
    /// Sign-outs per subject since the last sweep.
    recent: Mutex<HashMap<String, u32>>,
    /// What Redis has not taken yet.
    unsent: Mutex<Vec<Unsent>>,
    full_warned: std::sync::atomic::AtomicBool,
    /// Changes with every entry added: what was decided before is decided again.
    version: AtomicU64,
    /// Entries in `tokens` and `subjects`, read without a lock on the hot path.
    token_count: AtomicUsize,
    subject_count: AtomicUsize,
    last_sweep: AtomicU64,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field("tokens", &self.token_count())
            .field("subjects", &self.subject_count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Revocations {
    /// Counts a sign-out of `sub`: how many since the last sweep, this one included.
    fn note_sign_out(&self, sub: &str) -> u32 {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= MAX_TOKENS && !recent.contains_key(sub) {
            return u32::MAX;
        }
        let n = recent.entry(sub.to_owned()).or_default();
        *n = n.saturating_add(1);
        *n
    }

    /// Says once that the list is full.
    fn warn_full(&self) {
        if !self.full_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                max = MAX_TOKENS,
                "revocation list full: sign-outs revoke whole subjects until tokens expire"
            );
        }
    }

    /// Keeps `entry` to send to Redis once it answers (bounded; the oldest go first).
    pub fn keep_unsent(&self, entry: Unsent) {
        let mut unsent = self.unsent.lock().unwrap_or_else(|e| e.into_inner());
        if unsent.len() >= MAX_UNSENT {
            unsent.remove(0);
        }
        unsent.push(entry);
    }

    /// What Redis has not taken yet, handed over (the list forgets it).
    pub fn take_unsent(&self) -> Vec<Unsent> {
        std::mem::take(&mut *self.unsent.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A number that changes whenever an entry is added.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.token_count.load(Ordering::Relaxed) == 0
            && self.subject_count.load(Ordering::Relaxed) == 0
    }

    /// Revoked tokens listed (expired ones may still count until the next sweep).
    pub fn token_count(&self) -> usize {
        self.token_count.load(Ordering::Relaxed)
    }

    /// Refuses the token `id` until `exp` (unix seconds); `true` when it was not listed yet.
    pub fn revoke_token(&self, id: TokenId, exp: u64, now: u64) -> bool {
        if exp <= now {
            return false;
        }
        let added = {
            let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
            // A later expiry never gives way to an earlier one (an echo capped by Redis).
            let slot = tokens.entry(id).or_insert(0);
            let added = exp > *slot;
            *slot = (*slot).max(exp);
            self.token_count.store(tokens.len(), Ordering::Relaxed);
            if added {
                self.version.fetch_add(1, Ordering::AcqRel);
            }
            added
        };
        self.sweep_if_due(now);
        added
    }

    /// Refuses every token of `sub` issued before `cut.before`; a later cut-off replaces an
    /// earlier one, never the reverse. `true` when it changed the list.
    pub fn revoke_subject(&self, sub: &str, cut: Cutoff, now: u64) -> bool {
        if cut.until <= now {
            return false;
        }
        let changed = {
            let mut subjects = self.subjects.write().unwrap_or_else(|e| e.into_inner());
            let changed = match subjects.get_mut(sub) {
                Some(old) if old.before >= cut.before => false,
                Some(old) => {
                    *old = cut;
                    true
                }
                None => {
                    subjects.insert(sub.to_owned(), cut);
                    true
                }
            };
            self.subject_count.store(subjects.len(), Ordering::Relaxed);
            if changed {
                self.version.fetch_add(1, Ordering::AcqRel);
            }
            changed
        };
        self.sweep_if_due(now);
        changed
    }

    /// Whether the token `id` is refused at `now`.
    pub fn token_revoked(&self, id: TokenId, now: u64) -> bool {
        if self.token_count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        tokens.get(&id).is_some_and(|&exp| exp > now)
    }

    /// Whether a token of `sub` issued at `iat` (unknown: refused when a cut-off is in
    /// force) is refused at `now`.
    pub fn subject_revoked(&self, sub: Option<&str>, iat: Option<u64>, now: u64) -> bool {
        if self.subject_count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let Some(sub) = sub else { return false };
        let subjects = self.subjects.read().unwrap_or_else(|e| e.into_inner());
        subjects
            .get(sub)
            .is_some_and(|cut| cut.until > now && iat.is_none_or(|iat| iat < cut.before))
    }

    /// The subject cut-offs in force, by subject.
    pub fn subjects(&self, now: u64) -> Vec<(String, Cutoff)> {
        let subjects = self.subjects.read().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<_> = subjects
            .iter()
            .filter(|(_, cut)| cut.until > now)
            .map(|(sub, cut)| (sub.clone(), *cut))
            .collect();
        list.sort();
        list
    }

    /// Drops expired entries, at most once per [`SWEEP_EVERY_SECS`].
    fn sweep_if_due(&self, now: u64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if last == 0 {
            // The first entry: the interval starts now.
            let _ = self
                .last_sweep
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
            return;
        }
        if now < last + SWEEP_EVERY_SECS
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.sweep(now);
    }

    /// Drops every entry that has expired at `now`.
    pub fn sweep(&self, now: u64) {
        {
            let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
            tokens.retain(|_, exp| *exp > now);
            tokens.shrink_to_fit();
            self.token_count.store(tokens.len(), Ordering::Relaxed);
        }
        {
            let mut subjects = self.subjects.write().unwrap_or_else(|e| e.into_inner());
            subjects.retain(|_, cut| cut.until > now);
            self.subject_count.store(subjects.len(), Ordering::Relaxed);
        }
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Revocation as one configuration has it: the list (shared with every configuration of the
/// proxy), the id key, the sign-out rule and, with a Redis level, the link to other replicas.
#[derive(Debug, Clone)]
pub struct Revocation {
    /// The deny-list.
    pub list: Arc<Revocations>,
    key: IdKey,
    /// The options in force.
    pub options: RevocationOptions,
    /// The Redis link, when the session cache has a Redis level.
    pub shared: Option<Arc<RevocationLink>>,
}

impl Revocation {
    /// Revocation over `list` with ids keyed by `material` (random without one).
    pub fn new(
        list: Arc<Revocations>,
        material: Option<&str>,
        options: RevocationOptions,
        shared: Option<Arc<RevocationLink>>,
    ) -> Self {
        let key = material.map_or_else(IdKey::random, IdKey::derive);
        Revocation {
            list,
            key,
            options,
            shared,
        }
    }

    /// Whether these decoded claims of `token` are refused as signed out (counted).
    pub fn refuses(&self, claims: &Claims, token: &str) -> bool {
        if self.list.is_empty() || !self.options.enabled {
            return false;
        }
        let now = now_secs();
        let refused = self
            .list
            .token_revoked(TokenId::of(&self.key, claims, token), now)
            || self.list.subject_revoked(claims.sub(), claims.iat(), now);
        if refused {
            metrics::token_revoked();
        }
        refused
    }

    /// A sign-out of `token` (its `claims`) went through: revokes what the sign-out rule says,
    /// here and on every replica. A subject signing out more than
    /// [`MAX_TOKENS_PER_SUBJECT`] times a minute is signed out everywhere instead, and so is
    /// every subject once the list holds [`MAX_TOKENS`]: one account can not fill the list.
    pub async fn signed_out(&self, claims: &Claims, token: &str) {
        if !self.options.enabled {
            return;
        }
        let now = now_secs();
        // `iat` has a one-second grain: the token presented, rolled this very second, must be
        // refused too.
        let before = claims
            .iat()
            .map_or(now, |iat| now.max(iat.saturating_add(1)));
        if let Some(sub) = claims.sub() {
            let by_subject = self.options.on_sign_out == OnSignOut::Subject
                || self.list.note_sign_out(sub) > MAX_TOKENS_PER_SUBJECT
                || self.list.token_count() >= MAX_TOKENS;
            if by_subject {
                self.revoke_subject(sub, before).await;
                return;
            }
        } else if self.list.token_count() >= MAX_TOKENS {
            self.list.warn_full();
            return;
        }
        let id = TokenId::of(&self.key, claims, token);
        let exp = claims.exp().unwrap_or(now + self.options.session_max_age_s);
        self.list.revoke_token(id, exp, now);
        if let Some(link) = &self.shared {
            link.publish_token(&self.list, id, exp).await;
        }
    }

    /// Signs `sub` out everywhere: every token of it issued before `before` is refused.
    pub async fn revoke_subject(&self, sub: &str, before: u64) -> Cutoff {
        let now = now_secs();
        let cut = Cutoff {
            before,
            until: before.max(now) + self.options.session_max_age_s,
        };
        self.list.revoke_subject(sub, cut, now);
        if let Some(link) = &self.shared {
            link.publish_subject(&self.list, sub, cut).await;
        }
        cut
    }
}

#[cfg(test)]
mod tests;
