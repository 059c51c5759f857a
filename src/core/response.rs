//! The JSON error body every answer of the proxy's own uses.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// `{"error": msg}` with `status`, plus `"request_id"` inside the request-id middleware.
pub fn json_error(status: StatusCode, msg: &str) -> HttpResponse {
    match crate::core::obs::request_id::current() {
        Some(id) => HttpResponse::build(status)
            .json(serde_json::json!({ "error": msg, "request_id": id.as_str() })),
        None => HttpResponse::build(status).json(serde_json::json!({ "error": msg })),
    }
}
