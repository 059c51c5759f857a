//! A request's session as a key for what the endpoint keeps per session (decoded identities,
//! assertions, refreshes).

use std::hash::{BuildHasher, Hasher, RandomState};

use actix_web::http::header::{self, HeaderMap};

/// The session a request presents, as a key for what is kept per session: its `Cookie` and
/// `Authorization` headers (each value length-prefixed and tagged with its header, so no two
/// different sets of headers read alike), and `extra` (what else the answer depends on),
/// hashed with keys random to this process. Never 0.
pub fn session_key(headers: &HeaderMap, extra: &[&[u8]]) -> u128 {
    static KEYS: std::sync::OnceLock<(RandomState, RandomState)> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let (mut a, mut b) = (keys.0.build_hasher(), keys.1.build_hasher());
    let mut write = |tag: u8, bytes: &[u8]| {
        for h in [&mut a, &mut b] {
            h.write_u8(tag);
            h.write_usize(bytes.len());
            h.write(bytes);
        }
    };
    for (tag, name) in [(1u8, header::COOKIE), (2, header::AUTHORIZATION)] {
        for v in headers.get_all(&name) {
            write(tag, v.as_bytes());
        }
    }
    for part in extra {
        write(3, part);
    }
    (u128::from(a.finish()) << 64 | u128::from(b.finish())).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn with(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn headers_split_differently_are_different_sessions() {
        let two_cookies = with(&[(header::COOKIE, "a"), (header::COOKIE, "b")]);
        let cookie_and_bearer = with(&[(header::COOKIE, "a"), (header::AUTHORIZATION, "b")]);
        let joined = with(&[(header::COOKIE, "ab")]);
        let keys = [&two_cookies, &cookie_and_bearer, &joined].map(|h| session_key(h, &[]));
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[0], keys[2]);
        assert_ne!(keys[1], keys[2]);
        assert_ne!(
            session_key(&joined, &[b"https"]),
            session_key(&joined, &[b"http"])
        );
        assert_eq!(
            session_key(&joined, &[]),
            session_key(&with(&[(header::COOKIE, "ab")]), &[])
        );
    }
}
