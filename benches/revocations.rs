//! What revocation costs: memory for a million revoked tokens, and the check a decision pays
//! for a token that is not revoked, with nothing revoked and with a million revoked.
//!
//! `cargo bench --bench revocations` (prints; no criterion: one process, its own RSS).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use authjs_proxy::options::RevocationOptions;
use authjs_proxy::revocation::{Revocation, Revocations, TokenId};
use authjs_proxy::token::{Claims, now_secs};

const REVOKED: u128 = 1_000_000;
const LOOKUPS: u32 = 5_000_000;

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Claims as Auth.js writes them: a random UUID `jti`.
fn claims(n: u128) -> Claims {
    let hex = format!("{n:032x}");
    let jti = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    let v = serde_json::json!({"sub": "u-1", "iat": now_secs(), "jti": jti});
    Claims(v.as_object().unwrap().clone())
}

/// Nanoseconds per `refuses` of a token that is not revoked.
fn check_ns(revocation: &Revocation) -> f64 {
    let c = claims(u128::MAX - 7);
    let start = Instant::now();
    for _ in 0..LOOKUPS {
        assert!(!revocation.refuses(black_box(&c), black_box("token")));
    }
    start.elapsed().as_nanos() as f64 / f64::from(LOOKUPS)
}

fn main() {
    let list = Arc::new(Revocations::default());
    let revocation = Revocation::new(
        list.clone(),
        Some("bench"),
        RevocationOptions::default(),
        None,
    );
    let empty_ns = check_ns(&revocation);

    let before = rss_kib();
    let now = now_secs();
    let exp = now + 3600;
    for n in 0..REVOKED {
        list.revoke_token(
            TokenId(n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)),
            exp,
            now,
        );
    }
    let after = rss_kib();
    let full_ns = check_ns(&revocation);
    list.sweep(exp);
    let swept = rss_kib();

    println!("revoked tokens                 {REVOKED}");
    println!(
        "RSS for them                   {:.1} MiB ({:.0} bytes per token)",
        (after - before) as f64 / 1024.0,
        (after - before) as f64 * 1024.0 / REVOKED as f64
    );
    println!(
        "RSS after they expired         {:.1} MiB above the start",
        swept.saturating_sub(before) as f64 / 1024.0
    );
    println!("check, nothing revoked         {empty_ns:.1} ns");
    println!("check, {REVOKED} revoked         {full_ns:.1} ns");
}
