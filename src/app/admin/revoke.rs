//! Sign out everywhere: `POST /sessions/revoke` refuses every JWT session of a subject issued
//! before a time; `GET /sessions/revoke` lists the subjects signed out so. Same token rules as
//! `/reload`.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;

use crate::app::admin::state::{AdminState, refused};
use crate::core::response::json_error;
use crate::core::token::now_secs;

/// Longest request body read.
const MAX_BODY: usize = 4096;
/// Longest subject accepted.
const MAX_SUB: usize = 1024;

/// `POST /sessions/revoke` with `{"sub": "…", "before": <unix seconds | RFC 3339, default now>}`.
pub async fn revoke(req: HttpRequest, body: Bytes, state: web::Data<AdminState>) -> HttpResponse {
    if let Some(res) = refused(&req, &state, "revoking sessions") {
        return res;
    }
    let Some(cfg) = state.proxy.config() else {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "not configured yet");
    };
    if !cfg.revocation.options.enabled {
        return json_error(
            StatusCode::CONFLICT,
            "revocation is off (proxy.revocation.enabled = false)",
        );
    }
    let (sub, before) = match read(&body) {
        Ok(v) => v,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    let cut = cfg.revocation.revoke_subject(&sub, before).await;
    tracing::info!(
        before = cut.before,
        until = cut.until,
        "subject signed out everywhere"
    );
    HttpResponse::Ok().json(serde_json::json!({
        "sub": sub,
        "before": cut.before,
        "until": cut.until,
        "shared": cfg.revocation.shared.is_some(),
    }))
}

/// `GET /sessions/revoke`: the subject cut-offs in force and how many tokens are revoked.
pub async fn list(req: HttpRequest, state: web::Data<AdminState>) -> HttpResponse {
    if let Some(res) = refused(&req, &state, "listing revocations") {
        return res;
    }
    let Some(cfg) = state.proxy.config() else {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "not configured yet");
    };
    let list = &cfg.revocation.list;
    let subjects: Vec<Value> = list
        .subjects(now_secs())
        .into_iter()
        .map(|(sub, cut)| serde_json::json!({"sub": sub, "before": cut.before, "until": cut.until}))
        .collect();
    HttpResponse::Ok().json(serde_json::json!({
        "subjects": subjects,
        "tokens": list.token_count(),
        "shared": cfg.revocation.shared.is_some(),
    }))
}

/// The subject and cut-off time of a request body, or a message naming the field.
fn read(body: &[u8]) -> Result<(String, u64), String> {
    if body.len() > MAX_BODY {
        return Err(format!("body over {MAX_BODY} bytes"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let Value::Object(map) = v else {
        return Err("body must be a JSON object with \"sub\"".into());
    };
    if let Some(unknown) = map.keys().find(|k| !matches!(k.as_str(), "sub" | "before")) {
        return Err(format!(
            "unknown field {unknown:?} (expected \"sub\", \"before\")"
        ));
    }
    let sub = match map.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUB => s.clone(),
        Some(Value::String(_)) => {
            return Err(format!("\"sub\" must be 1 to {MAX_SUB} bytes"));
        }
        _ => return Err("\"sub\" is required (a string: the user id)".into()),
    };
    let now = now_secs();
    let before = match map.get("before") {
        None | Some(Value::Null) => now,
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|&t| t <= now + 366 * 24 * 3600)
            .ok_or("\"before\" must be unix seconds, not negative, at most a year ahead")?,
        Some(Value::String(s)) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| "\"before\" must be unix seconds or an RFC 3339 time".to_owned())?;
            u64::try_from(t.unix_timestamp())
                .ok()
                .filter(|&t| t <= now + 366 * 24 * 3600)
                .ok_or("\"before\" must be after 1970, at most a year ahead")?
        }
        Some(_) => return Err("\"before\" must be unix seconds or an RFC 3339 time".into()),
    };
    Ok((sub, before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_names_its_subject_and_defaults_to_now() {
        let (sub, before) = read(br#"{"sub":"user-1"}"#).unwrap();
        assert_eq!(sub, "user-1");
        assert!(before.abs_diff(now_secs()) <= 1);
    }

    #[test]
    fn before_reads_unix_seconds_and_rfc3339() {
        assert_eq!(
            read(br#"{"sub":"u","before":1700000000}"#).unwrap().1,
            1_700_000_000
        );
        assert_eq!(
            read(br#"{"sub":"u","before":"2023-11-14T22:13:20Z"}"#)
                .unwrap()
                .1,
            1_700_000_000
        );
    }

    #[test]
    fn bad_bodies_get_a_message_naming_the_field() {
        for (body, word) in [
            (&br#"{}"#[..], "\"sub\""),
            (br#"{"sub":""}"#, "\"sub\""),
            (br#"{"sub":7}"#, "\"sub\""),
            (br#"{"sub":"u","before":-1}"#, "\"before\""),
            (br#"{"sub":"u","before":"yesterday"}"#, "\"before\""),
            (br#"{"sub":"u","before":99999999999}"#, "\"before\""),
            (br#"{"sub":"u","extra":1}"#, "\"extra\""),
            (br#"[1]"#, "object"),
            (b"not json", "JSON"),
        ] {
            let err = read(body).unwrap_err();
            assert!(
                err.contains(word),
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
