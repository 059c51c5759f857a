//! A request's session as a key for what the endpoint keeps per session (decoded identities,
//! assertions, refreshes).

/// The session a request presents, as a key for what is kept per session (assertions,
/// refreshes): its `Cookie` and `Authorization` headers, hashed with keys random to this
/// process (any other bytes, another key; never 0).
pub fn session_key(headers: &actix_web::http::header::HeaderMap) -> u128 {
    use std::hash::{BuildHasher, Hasher, RandomState};
    static KEYS: std::sync::OnceLock<(RandomState, RandomState)> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let (mut a, mut b) = (keys.0.build_hasher(), keys.1.build_hasher());
    for name in [
        actix_web::http::header::COOKIE,
        actix_web::http::header::AUTHORIZATION,
    ] {
        for v in headers.get_all(&name) {
            a.write(v.as_bytes());
            b.write(v.as_bytes());
            a.write_u8(0xff);
            b.write_u8(0xff);
        }
    }
    (u128::from(a.finish()) << 64 | u128::from(b.finish())).max(1)
}
