//! Per-operation costs of decoding:
//! * `decode`: one Auth.js session token (made by @auth/core, `tests/vectors`) with keys
//!   derived once, as a service holding a `Decoder` does;
//! * `decode cookie header`: the same read from a `Cookie` header with other cookies;
//! * `derive+decode`: the same with key derivation per call, as @auth/core does (reference).
//!
//! `cargo bench -p authjs-token --bench decode`; `benches/decode-vs-authjs.sh` at the
//! repository root adds @auth/core's and the Python peer's figures.

use std::hint::black_box;
use std::time::Duration;

use authjs_token::{Decoder, SaltKeys, decode_jwe, now_secs};
use criterion::{Criterion, criterion_group, criterion_main};

fn vector() -> (String, String, String) {
    let all: serde_json::Value =
        serde_json::from_str(include_str!("../tests/vectors/authjs-tokens.json")).unwrap();
    let f = &all[0];
    (
        f["token"].as_str().unwrap().to_owned(),
        f["secret"].as_str().unwrap().to_owned(),
        f["salt"].as_str().unwrap().to_owned(),
    )
}

fn decode(c: &mut Criterion) {
    let (token, secret, salt) = vector();
    let keys = SaltKeys::derive(std::slice::from_ref(&secret), &salt);
    c.bench_function("decode", |b| {
        b.iter(|| decode_jwe(black_box(&token), &keys, now_secs()).unwrap())
    });
    let decoder = Decoder::with_cookie_name([&secret], &salt);
    let header = format!("theme=dark; {salt}={token}; lang=en");
    c.bench_function("decode cookie header", |b| {
        b.iter(|| {
            decoder
                .from_cookie_header(black_box(header.as_bytes()), false)
                .unwrap()
        })
    });
    c.bench_function("derive+decode", |b| {
        b.iter(|| {
            let keys = SaltKeys::derive(std::slice::from_ref(&secret), &salt);
            decode_jwe(black_box(&token), &keys, now_secs()).unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = decode
}
criterion_main!(benches);
