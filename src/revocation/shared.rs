//! The deny-list shared through Redis: every replica applies a revocation at once (published),
//! and a replica that starts (or whose subscription was down) loads the list in force.
//!
//! * `<prefix>revoked:tokens`: a sorted set, one member per revoked token (its id in hex),
//!   scored with the token's expiry; expired members are removed as new ones are added.
//! * `<prefix>revoked:subjects`: a hash, subject → `"<before> <until>"`.
//! * `<prefix>revoked`: the channel, `t <id> <exp>` or `s <before> <until> <subject>`.
//!
//! Whoever can write to Redis can add revocations (sign people out) but never make a token
//! valid: entries only refuse, and every replica keeps what it has heard in memory. What is
//! read from Redis is bounded by the session max age.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::AsyncCommands;

use crate::cache::link::{Heard, Link};
use crate::core::error::ConfigError;
use crate::core::obs::request_id::request_event;
use crate::core::token::now_secs;
use crate::options::RedisOptions;
use crate::revocation::{Cutoff, Revocations, TokenId, Unsent};

/// `EXPIREAT KEYS[1] ARGV[1]` unless it already lives longer (`ARGV[2]`: now). `TTL`, not
/// `EXPIRETIME`, so any Redis from 2.8 on runs it.
const EXPIRE_AT_LEAST: &str = "local ttl = redis.call('TTL', KEYS[1]) \
     if ttl < 0 or tonumber(ARGV[2]) + ttl < tonumber(ARGV[1]) then \
     redis.call('EXPIREAT', KEYS[1], ARGV[1]) end return 1";

/// Members read per round trip when loading the list.
const PAGE: isize = 10_000;

/// A command that loads the list waits at most this long (it may be large).
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The Redis side of one configuration's deny-list.
#[derive(Debug)]
pub struct RevocationLink {
    link: Link,
    prefix: String,
    max_age: u64,
    /// Dropped with the configuration: stops the listener.
    alive: Arc<()>,
}

impl RevocationLink {
    /// Prepares the link (no connection is made here).
    pub fn new(opts: &RedisOptions, max_age: u64) -> Result<Self, ConfigError> {
        Ok(RevocationLink {
            link: Link::new(
                &opts.url,
                "session_cache.redis.url",
                Duration::from_millis(opts.timeout_ms),
                "revocations",
            )?,
            prefix: opts.key_prefix.clone(),
            max_age,
            alive: Arc::new(()),
        })
    }

    fn tokens_key(&self) -> String {
        format!("{}revoked:tokens", self.prefix)
    }

    fn subjects_key(&self) -> String {
        format!("{}revoked:subjects", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}revoked", self.prefix)
    }

    /// Stores and announces a revoked token (kept in `list` to send again when Redis does not
    /// take it).
    pub async fn publish_token(&self, list: &Revocations, id: TokenId, exp: u64) {
        if !self.send(&Unsent::Token(id, exp)).await {
            list.keep_unsent(Unsent::Token(id, exp));
        }
    }

    /// Stores and announces a subject cut-off (see [`RevocationLink::publish_token`]).
    pub async fn publish_subject(&self, list: &Revocations, sub: &str, cut: Cutoff) {
        let entry = Unsent::Subject(sub.to_owned(), cut);
        if !self.send(&entry).await {
            list.keep_unsent(entry);
        }
    }

    /// Stores and announces one revocation; whether Redis took it.
    async fn send(&self, entry: &Unsent) -> bool {
        match entry {
            Unsent::Token(id, exp) => {
                let member = id.hex();
                self.store(
                    &self.tokens_key(),
                    redis::cmd("ZADD")
                        .arg(self.tokens_key())
                        .arg(exp)
                        .arg(&member),
                    *exp,
                    format!("t {member} {exp}"),
                )
                .await
            }
            Unsent::Subject(sub, cut) => {
                self.store(
                    &self.subjects_key(),
                    redis::cmd("HSET")
                        .arg(self.subjects_key())
                        .arg(sub)
                        .arg(format!("{} {}", cut.before, cut.until)),
                    cut.until,
                    format!("s {} {} {sub}", cut.before, cut.until),
                )
                .await
            }
        }
    }

    /// Runs `write` on `key` with, at once: expired tokens dropped, the key kept until
    /// `until` at least (so the whole list goes when its last entry has expired), and
    /// `message` published.
    async fn store(&self, key: &str, write: &redis::Cmd, until: u64, message: String) -> bool {
        let Some(mut conn) = self.link.connection().await else {
            return false;
        };
        let now = now_secs();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .add_command(write.clone())
            .ignore()
            .zrembyscore(self.tokens_key(), "-inf", now)
            .ignore()
            .cmd("EVAL")
            .arg(EXPIRE_AT_LEAST)
            .arg(1)
            .arg(key)
            .arg(until)
            .arg(now)
            .ignore()
            .publish(self.channel(), message)
            .ignore();
        self.link
            .run(pipe.query_async::<()>(&mut conn))
            .await
            .is_some()
    }

    /// Applies what other replicas publish to `list` while this configuration lives, and
    /// loads the list in force each time the subscription is (back) up.
    pub fn listen(self: &Arc<Self>, list: Arc<Revocations>) {
        let this = Arc::downgrade(self);
        let max_age = self.max_age;
        self.link.listen(
            self.channel(),
            Arc::downgrade(&self.alive),
            move |heard| match heard {
                Heard::Subscribed => {
                    let (this, list) = (this.clone(), list.clone());
                    tokio::spawn(async move { catch_up(this, &list).await });
                }
                Heard::Message(m) => {
                    apply(&list, std::str::from_utf8(m).unwrap_or(""), max_age);
                }
            },
        );
    }

    /// Asks Redis once (see [`Link::ping`]).
    pub async fn ping(&self) -> Result<bool, ConfigError> {
        self.link.ping("session_cache.redis.url").await
    }
}

/// Applies one published message (ignored when it does not read).
fn apply(list: &Revocations, message: &str, max_age: u64) {
    let now = now_secs();
    let mut parts = message.splitn(4, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("t"), Some(id), Some(exp)) => {
            if let (Some(id), Ok(exp)) = (TokenId::from_hex(id), exp.parse::<u64>()) {
                list.revoke_token(id, exp.min(now + max_age), now);
            }
        }
        (Some("s"), Some(before), Some(until)) => {
            if let (Ok(before), Ok(until), Some(sub)) =
                (before.parse(), until.parse::<u64>(), parts.next())
            {
                let cut = Cutoff {
                    before,
                    until: until.min(now + max_age),
                };
                list.revoke_subject(sub, cut, now);
            }
        }
        _ => {}
    }
}

/// [`apply`], for the module's unit tests.
#[cfg(test)]
pub(crate) fn apply_for_tests(list: &Revocations, message: &str, max_age: u64) {
    apply(list, message, max_age);
}

/// Loads the list in force from Redis (retried a few times, backing off), then sends what Redis
/// had not taken while it was down.
async fn catch_up(link: Weak<RevocationLink>, list: &Revocations) {
    let mut pause = Duration::from_millis(500);
    for _ in 0..6 {
        match load(&link, list).await {
            Some(true) => break,
            Some(false) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            None => return,
        }
    }
    let Some(link) = link.upgrade() else { return };
    for entry in list.take_unsent() {
        if !link.send(&entry).await {
            list.keep_unsent(entry);
        }
    }
}

/// Loads the list in force from Redis into `list`: `Some(true)` done, `Some(false)` Redis did
/// not answer, `None` the configuration is gone.
async fn load(link: &Weak<RevocationLink>, list: &Revocations) -> Option<bool> {
    let link = link.upgrade()?;
    let Some(mut conn) = link.link.connection().await else {
        return Some(false);
    };
    let now = now_secs();
    let key = link.tokens_key();
    let expired = conn.zrembyscore::<_, _, _, ()>(&key, "-inf", now);
    if timed(&link, expired).await.is_none() {
        return Some(false);
    }
    // By rank, a page at a time: each page costs Redis O(log N + page).
    let (mut tokens, mut start) = (0usize, 0isize);
    loop {
        let page = conn.zrange_withscores::<_, Vec<(String, u64)>>(&key, start, start + PAGE - 1);
        let Some(page) = timed(&link, page).await else {
            return Some(false);
        };
        for (member, exp) in &page {
            if let Some(id) = TokenId::from_hex(member) {
                tokens += usize::from(list.revoke_token(id, (*exp).min(now + link.max_age), now));
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
        start += PAGE;
    }
    let subjects = conn.hgetall::<_, Vec<(String, String)>>(link.subjects_key());
    let Some(subjects) = timed(&link, subjects).await else {
        return Some(false);
    };
    let cut_offs = subjects.len();
    for (sub, value) in subjects {
        apply(list, &format!("s {value} {sub}"), link.max_age);
    }
    request_event!(
        tracing::Level::DEBUG,
        tokens,
        subjects = cut_offs,
        "revocations loaded from redis"
    );
    Some(true)
}

async fn timed<T>(
    link: &RevocationLink,
    query: impl Future<Output = redis::RedisResult<T>>,
) -> Option<T> {
    match tokio::time::timeout(LOAD_TIMEOUT, query).await {
        Ok(r) => link.link.run(std::future::ready(r)).await,
        Err(_) => {
            link.link.mark_down("timed out loading revocations");
            None
        }
    }
}
