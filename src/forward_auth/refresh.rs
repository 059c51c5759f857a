//! Rolling sessions through forward-auth. Apps behind forward-auth never call Auth.js's
//! session route, so their JWT sessions would never be extended. When a decoded session is
//! older than `update_age_s` (Auth.js's `updateAge`, 24 h by default), the decision asks the
//! upstream's session route once — it runs the app's `jwt` callback and answers with the new
//! cookie — and puts its `Set-Cookie` on the `200` (nginx `auth_request_set` + `add_header`,
//! Caddy `copy_headers`, Traefik `addAuthCookiesToResponse`). Concurrent decisions for one
//! session share that one request, and its answer, for a short while.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;

use crate::core::Replay;
use crate::core::client::ClientSide;
use crate::core::cookies::is_session_cookie;
use crate::core::token::now_secs;
use crate::forward_auth::rules::Subject;
use crate::runtime::Snapshot;
use crate::runtime::actors::upstream::{Forward, Upstream};
use crate::runtime::public::upstream_request_headers;

/// How long one session's refresh answer is shared (the browser may still send the old cookie
/// on requests already under way).
const SHARED_FOR: Duration = Duration::from_secs(30);

/// The refresher of one policy.
pub struct Refresher {
    update_age_s: u64,
    /// The `Set-Cookie`s of a refresh, by session.
    flights: moka::future::Cache<u128, Arc<Vec<HeaderValue>>>,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher")
            .field("update_age_s", &self.update_age_s)
            .finish_non_exhaustive()
    }
}

impl Refresher {
    /// Refreshes sessions older than `update_age_s` (0: never).
    pub fn new(update_age_s: u64) -> Self {
        Refresher {
            update_age_s,
            flights: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SHARED_FOR)
                .build(),
        }
    }

    /// Whether `subject`'s token is old enough to refresh.
    pub fn due(&self, subject: &Subject) -> bool {
        self.update_age_s > 0
            && subject
                .issued_at()
                .is_some_and(|iat| now_secs().saturating_sub(iat) >= self.update_age_s)
    }

    /// The `Set-Cookie`s of the upstream's session route for this request's session (`key`),
    /// asked once per session and shared; empty when the upstream did not answer with them.
    pub async fn cookies(
        &self,
        cfg: &Arc<Snapshot>,
        upstream: &Upstream,
        request: &HeaderMap,
        side: &ClientSide,
        key: u128,
    ) -> Arc<Vec<HeaderValue>> {
        let fetch = async {
            let mut cookies = HeaderMap::new();
            for v in request.get_all(header::COOKIE) {
                cookies.append(header::COOKIE, v.clone());
            }
            let headers = upstream_request_headers(cfg, &cookies, side);
            let answer = upstream
                .forward(Forward {
                    config: cfg.clone(),
                    method: Method::GET,
                    url: cfg.target_url("session", None),
                    headers,
                    body: Bytes::new(),
                    replay: Replay::Safe,
                })
                .await;
            match answer {
                // Only the session cookies: a front proxy passing one `Set-Cookie` on (nginx's
                // `auth_request_set`) passes the session's.
                Ok(Ok(res)) if res.status == StatusCode::OK => Ok(Arc::new(
                    res.headers
                        .get_all(header::SET_COOKIE)
                        .filter(|v| {
                            let name = v.as_bytes().split(|&b| b == b'=').next().unwrap_or(b"");
                            is_session_cookie(name.trim_ascii(), &cfg.cookie_names)
                                || is_session_cookie(name.trim_ascii(), &cfg.secure_cookie_names)
                        })
                        .cloned()
                        .collect(),
                )),
                _ => Err(()),
            }
        };
        self.flights
            .try_get_with(key, fetch)
            .await
            .unwrap_or_default()
    }
}
