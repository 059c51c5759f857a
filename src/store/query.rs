//! The store's one query, written from checked names, and what a row becomes: the answer of
//! Auth.js's `session` route with the default `session` callback.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::core::session::{STORE_USER_ID, Session};
use crate::options::session_store::{SchemaNames, is_identifier};

/// `name` as a quoted PostgreSQL identifier. Names are checked when the options are read
/// ([`is_identifier`]: no quote can be in them); checked again here, so no other text can
/// ever reach the SQL.
fn quoted(name: &str) -> String {
    assert!(is_identifier(name), "unchecked identifier");
    format!("\"{name}\"")
}

/// The lookup by session tokens (`$1`, an array: one statement answers many lookups): each
/// row's token, its expiry and its user, joined. Ids of any type (`serial`, `text`, `uuid`) and
/// text columns of any text type are read as text.
pub fn lookup_sql(n: &SchemaNames) -> String {
    let (sessions, users) = (quoted(&n.sessions_table), quoted(&n.users_table));
    format!(
        "SELECT s.{token}::text, s.{expires}, u.{id}::text, u.{name}::text, u.{email}::text, \
         u.{image}::text FROM {sessions} s JOIN {users} u ON u.{id} = s.{user_id} \
         WHERE s.{token} = ANY($1)",
        expires = quoted(&n.expires),
        id = quoted(&n.user_id),
        name = quoted(&n.name),
        email = quoted(&n.email),
        image = quoted(&n.image),
        user_id = quoted(&n.session_user_id),
        token = quoted(&n.session_token),
    )
}

/// A session row and its user.
#[derive(Debug, Clone)]
pub struct Row {
    /// `expires`.
    pub expires: SystemTime,
    /// The user's id, as text.
    pub user_id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `image`.
    pub image: Option<String>,
}

/// `Date.prototype.toISOString()`: `YYYY-MM-DDTHH:MM:SS.sssZ`, milliseconds truncated.
/// `None` for a time JavaScript's `Date` can not write so (before year 0, after 9999,
/// PostgreSQL's `infinity`).
pub fn iso_millis(at: SystemTime) -> Option<String> {
    let epoch = time::OffsetDateTime::UNIX_EPOCH;
    let at = match at.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => epoch.checked_add(time::Duration::try_from(after).ok()?)?,
        Err(before) => epoch.checked_sub(time::Duration::try_from(before.duration()).ok()?)?,
    };
    if !(0..=9999).contains(&at.year()) {
        return None;
    }
    at.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .ok()
}

/// What Auth.js's `session` route answers for `row` at `now` with the default callbacks
/// (`{user: {name, email, image}, expires}`, a `null` column as `null`), or `None` when the
/// row has expired (Auth.js: `expires < Date.now()`). The user's id is kept aside (see
/// [`STORE_USER_ID`]).
pub fn session_of(row: Row, now: SystemTime) -> Option<Session> {
    if row.expires < now {
        return None;
    }
    let text = |v: Option<String>| v.map_or(Value::Null, Value::String);
    let mut user = Map::new();
    user.insert("name".into(), text(row.name));
    user.insert("email".into(), text(row.email));
    user.insert("image".into(), text(row.image));
    let mut body = Map::new();
    body.insert("user".into(), Value::Object(user));
    body.insert("expires".into(), Value::String(iso_millis(row.expires)?));
    if let Some(id) = row.user_id {
        body.insert(STORE_USER_ID.into(), Value::String(id));
    }
    serde_json::from_value(Value::Object(body)).ok()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::options::session_store::SchemaPreset;

    #[test]
    fn the_query_quotes_every_name_and_takes_the_tokens_as_a_parameter() {
        let sql = lookup_sql(&SchemaPreset::Prisma.names());
        assert_eq!(
            sql,
            "SELECT s.\"sessionToken\"::text, s.\"expires\", u.\"id\"::text, u.\"name\"::text, \
             u.\"email\"::text, u.\"image\"::text FROM \"Session\" s JOIN \"User\" u \
             ON u.\"id\" = s.\"userId\" WHERE s.\"sessionToken\" = ANY($1)"
        );
    }

    fn row(expires: SystemTime) -> Row {
        Row {
            expires,
            user_id: Some("7".into()),
            name: None,
            email: Some("ada@example.com".into()),
            image: None,
        }
    }

    #[test]
    fn a_row_answers_as_the_default_session_callback_does() {
        // 2025-01-01T00:00:00.123456Z
        let at = UNIX_EPOCH + Duration::from_micros(1_735_689_600_123_456);
        let mut s = session_of(row(at), at - Duration::from_secs(1)).unwrap();
        assert_eq!(s.take_store_user_id().as_deref(), Some("7"));
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({
                "user": {"name": null, "email": "ada@example.com", "image": null},
                "expires": "2025-01-01T00:00:00.123Z",
            })
        );
    }

    #[test]
    fn a_time_javascript_can_not_write_is_no_answer_and_no_panic() {
        // PostgreSQL's `infinity` reads as the farthest SystemTime it can make.
        for far in [
            UNIX_EPOCH + Duration::from_secs(253_402_300_800), // 10000-01-01
            UNIX_EPOCH + Duration::from_secs(u64::MAX / 2),
        ] {
            assert_eq!(iso_millis(far), None);
            assert!(session_of(row(far), UNIX_EPOCH).is_none());
        }
        assert_eq!(
            iso_millis(UNIX_EPOCH - Duration::from_millis(1)).as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
    }

    #[test]
    fn an_expired_row_is_no_session() {
        let at = UNIX_EPOCH + Duration::from_secs(1_735_689_600);
        assert!(session_of(row(at), at + Duration::from_millis(1)).is_none());
        assert!(session_of(row(at), at).is_some());
    }
}
