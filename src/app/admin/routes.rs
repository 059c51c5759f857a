//! The admin listener's routes: `GET /metrics`, `GET /healthz`, `GET /readyz`,
//! `POST /reload`. Never mounted on the public listener.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::admin::health::Health;
use crate::app::admin::reload::{ReloadError, Reloader};
use crate::core::obs::metrics;
use crate::core::redact::redacted;
use crate::core::response::json_error;
use crate::runtime::handle::AuthProxy;

/// What the admin routes work with.
#[derive(Clone)]
pub struct AdminState {
    /// The running proxy.
    pub proxy: AuthProxy,
    /// Readiness inputs.
    pub health: Health,
    /// Reloads the configuration file.
    pub reloader: Arc<Reloader>,
    /// `admin.token`: required as `Authorization: Bearer <token>` by `POST /reload`.
    pub token: Option<String>,
    /// Whether the admin listener is bound to loopback (reload without token allowed).
    pub loopback: bool,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("token", &redacted(&self.token))
            .field("loopback", &self.loopback)
            .finish_non_exhaustive()
    }
}

/// Mounts the admin routes (use with `App::configure`).
pub fn configure(state: AdminState) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state.clone()))
            .route("/metrics", web::get().to(metrics_text))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .service(
                web::resource("/reload")
                    .route(web::post().to(reload))
                    .default_service(web::to(reload_method_not_allowed)),
            );
    }
}

/// Any method but POST on `/reload`: 405 saying which one it takes.
async fn reload_method_not_allowed() -> HttpResponse {
    let mut res = json_error(StatusCode::METHOD_NOT_ALLOWED, "reload takes POST");
    res.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    res
}

async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(metrics::CONTENT_TYPE)
        .body(metrics::encode())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "alive" }))
}

async fn readyz(state: web::Data<AdminState>) -> HttpResponse {
    let config = state.proxy.config();
    // The upstream as this replica sees it: reported, never a reason to be unready.
    let upstream = state.proxy.upstream_health();
    match state.health.check(config.is_some()) {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({
            "status": "ready",
            "generation": config.map_or(0, |c| c.generation),
            "upstream": upstream,
        })),
        Err(reason) => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "not_ready",
            "reason": reason,
            "message": reason.to_string(),
            "upstream": upstream,
        })),
    }
}

/// Compares without an early exit on the first differing byte.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(req: &HttpRequest) -> Option<&[u8]> {
    let v = req.headers().get(header::AUTHORIZATION)?.as_bytes();
    let scheme = v.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| v[7..].trim_ascii())
}

/// Whether a browser says the request comes from another origin: `Sec-Fetch-Site` other than
/// `same-origin`/`none`, or an `Origin` that is not this listener's own (`http://<Host>`).
/// Requests without either (curl, scripts) are not a browser's.
fn cross_site(req: &HttpRequest) -> bool {
    let headers = req.headers();
    let site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| !matches!(v.as_bytes(), b"same-origin" | b"none"));
    let origin = headers.get(header::ORIGIN).is_some_and(|origin| {
        let host = headers.get(header::HOST).map(header::HeaderValue::as_bytes);
        origin.as_bytes().strip_prefix(b"http://") != host
    });
    site || origin
}

async fn reload(req: HttpRequest, state: web::Data<AdminState>) -> HttpResponse {
    // A token added, changed or removed by a reload counts from then on.
    let token = state
        .reloader
        .reloaded_admin_token()
        .unwrap_or_else(|| state.token.clone());
    match &token {
        Some(token) if !bearer(&req).is_some_and(|given| same_secret(given, token.as_bytes())) => {
            let mut res = json_error(StatusCode::UNAUTHORIZED, "admin token required");
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"authjs-proxy admin\""),
            );
            return res;
        }
        None if !state.loopback => {
            return json_error(
                StatusCode::FORBIDDEN,
                "reload over a non-loopback admin listener needs admin.token",
            );
        }
        // Without a token, the loopback listener's only guard against a web page posting to
        // it is the browser's word on where the request comes from.
        None if cross_site(&req) => {
            return json_error(
                StatusCode::FORBIDDEN,
                "cross-site reload refused (set admin.token to reload from elsewhere)",
            );
        }
        _ => {}
    }
    match state.reloader.reload().await {
        Ok(generation) => HttpResponse::Ok().json(serde_json::json!({
            "status": "reloaded",
            "generation": generation,
        })),
        Err(e @ (ReloadError::NoFile | ReloadError::NeedsRestart(_))) => {
            json_error(StatusCode::CONFLICT, &e.to_string())
        }
        Err(e @ ReloadError::Invalid(_)) => {
            json_error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
