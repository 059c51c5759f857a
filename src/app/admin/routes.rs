//! The admin listener's routes: `GET /metrics`, `GET /healthz`, `GET /readyz`,
//! `POST /reload`, `GET`/`POST /sessions/revoke`. Never mounted on the public listener.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::app::admin::reload::ReloadError;
use crate::app::admin::revoke;
pub use crate::app::admin::state::AdminState;
use crate::app::admin::state::refused;
use crate::core::obs::metrics;
use crate::core::response::json_error;

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
            )
            .service(
                web::resource("/sessions/revoke")
                    .app_data(web::PayloadConfig::new(8 * 1024))
                    .route(web::post().to(revoke::revoke))
                    .route(web::get().to(revoke::list))
                    .default_service(web::to(revoke_method_not_allowed)),
            );
    }
}

/// Any method but GET and POST on `/sessions/revoke`: 405.
async fn revoke_method_not_allowed() -> HttpResponse {
    let mut res = json_error(StatusCode::METHOD_NOT_ALLOWED, "takes GET or POST");
    res.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
    res
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

async fn reload(req: HttpRequest, state: web::Data<AdminState>) -> HttpResponse {
    if let Some(res) = refused(&req, &state, "reload") {
        return res;
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
