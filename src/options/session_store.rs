//! `[proxy.session_store]`: database sessions read from the Auth.js adapter's tables instead
//! of asking the upstream's `session` route. Plain data and the checks that need nothing
//! built; the store itself is [`crate::store`].

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::core::error::ConfigError;

/// Where the settings of this section are, in error messages.
pub const FIELD: &str = "session_store";

/// Which source answers a database session lookup first; the other one is the fallback when
/// the first can not answer (down, timed out, circuit open). A definite answer ("this
/// session", "no session") is never asked again of the other source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreMode {
    /// The database answers; the upstream's `session` route when the database can not.
    #[default]
    DatabaseFirst,
    /// The upstream's `session` route answers (custom `session` callbacks run); the database
    /// when the upstream can not.
    UpstreamFirst,
}

/// `[proxy.session_store]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionStoreOptions {
    /// `"database-first"` (default) or `"upstream-first"`.
    pub mode: StoreMode,
    /// The adapter's PostgreSQL database; the store is off when absent.
    pub postgres: Option<PostgresOptions>,
}

/// `[proxy.session_store.postgres]`: the database of `@auth/pg-adapter`, the Prisma adapter or
/// the Drizzle adapter.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/db[?sslmode=require]` (also
    /// `AUTHJS_PROXY__PROXY__SESSION_STORE__POSTGRES__URL`). Never logged. Required.
    pub url: String,
    /// Most connections per instance (all workers together). Default 16.
    pub pool_size: usize,
    /// Longest time to connect (TCP, TLS, authentication), in milliseconds. Default 2000.
    pub connect_timeout_ms: u64,
    /// Longest time one lookup may take in the database (PostgreSQL's `statement_timeout`,
    /// and the proxy's own bound on the query), in milliseconds. Default 1000.
    pub statement_timeout_ms: u64,
    /// TLS to the database: used as the URL's `sslmode` says (`disable`, `prefer` — the
    /// default —, `require`); the certificate is verified against the public web roots and
    /// `ca_file`.
    pub tls: PostgresTlsOptions,
    /// The adapter's tables and columns.
    pub schema: SchemaOptions,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            url: String::new(),
            pool_size: 16,
            connect_timeout_ms: 2000,
            statement_timeout_ms: 1000,
            tls: PostgresTlsOptions::default(),
            schema: SchemaOptions::default(),
        }
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &redacted_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("tls", &self.tls)
            .field("schema", &self.schema)
            .finish()
    }
}

/// The URL with its password (and any `password=` parameter) replaced, for logs and `Debug`.
pub fn redacted_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("redacted"));
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "redacted".to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) if raw.is_empty() => String::new(),
        Err(_) => "<not a URL>".into(),
    }
}

/// `[proxy.session_store.postgres.tls]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresTlsOptions {
    /// Extra trusted roots (PEM), added to the public web roots.
    pub ca_file: Option<PathBuf>,
}

/// The official adapters whose tables the store knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaPreset {
    /// `@auth/pg-adapter`: `sessions`, `users`.
    #[default]
    PgAdapter,
    /// `@auth/prisma-adapter`: `"Session"`, `"User"`.
    Prisma,
    /// `@auth/drizzle-adapter` (PostgreSQL): `session`, `user`.
    Drizzle,
}

/// `schema = "prisma"`, or `[proxy.session_store.postgres.schema]` with a `preset` and any
/// table or column named one by one (the preset's name for the rest).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaFields {
    /// The adapter the names start from. Default `pg-adapter`.
    pub preset: SchemaPreset,
    /// The sessions table.
    pub sessions_table: Option<String>,
    /// The users table.
    pub users_table: Option<String>,
    /// The sessions table's session token column (the cookie's value).
    pub session_token: Option<String>,
    /// The sessions table's user id column.
    pub session_user_id: Option<String>,
    /// The sessions table's expiry column (`timestamptz`, or `timestamp` in UTC).
    pub expires: Option<String>,
    /// The users table's id column.
    pub user_id: Option<String>,
    /// The users table's name column.
    pub name: Option<String>,
    /// The users table's e-mail column.
    pub email: Option<String>,
    /// The users table's image column.
    pub image: Option<String>,
}

/// The adapter's tables and columns: a preset name, or the fields of [`SchemaFields`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct SchemaOptions(pub SchemaFields);

impl<'de> Deserialize<'de> for SchemaOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = SchemaOptions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"pg-adapter\", \"prisma\", \"drizzle\" or a table of names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SchemaOptions, E> {
                let preset = SchemaPreset::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(SchemaOptions(SchemaFields {
                    preset,
                    ..SchemaFields::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SchemaOptions, A::Error> {
                SchemaFields::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SchemaOptions)
            }
        }
        d.deserialize_any(Either)
    }
}

/// Table and column names, checked: what the store's one query is written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaNames {
    /// See [`SchemaFields::sessions_table`].
    pub sessions_table: String,
    /// See [`SchemaFields::users_table`].
    pub users_table: String,
    /// See [`SchemaFields::session_token`].
    pub session_token: String,
    /// See [`SchemaFields::session_user_id`].
    pub session_user_id: String,
    /// See [`SchemaFields::expires`].
    pub expires: String,
    /// See [`SchemaFields::user_id`].
    pub user_id: String,
    /// See [`SchemaFields::name`].
    pub name: String,
    /// See [`SchemaFields::email`].
    pub email: String,
    /// See [`SchemaFields::image`].
    pub image: String,
}

impl SchemaPreset {
    /// The adapter's documented names.
    pub fn names(self) -> SchemaNames {
        let (sessions, users) = match self {
            SchemaPreset::PgAdapter => ("sessions", "users"),
            SchemaPreset::Prisma => ("Session", "User"),
            SchemaPreset::Drizzle => ("session", "user"),
        };
        SchemaNames {
            sessions_table: sessions.into(),
            users_table: users.into(),
            session_token: "sessionToken".into(),
            session_user_id: "userId".into(),
            expires: "expires".into(),
            user_id: "id".into(),
            name: "name".into(),
            email: "email".into(),
            image: "image".into(),
        }
    }
}

/// Most characters of a PostgreSQL identifier (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER: usize = 63;

/// Whether `name` may be used as a table or column name: ASCII letters, digits and `_`, not
/// starting with a digit, at most 63 characters. It is always written quoted, so case counts.
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IDENTIFIER
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl SchemaOptions {
    /// The preset's names with the ones set one by one, each checked; the error names the
    /// field (`session_store.postgres.schema.sessions_table`).
    pub fn names(&self) -> Result<SchemaNames, ConfigError> {
        let f = &self.0;
        let mut names = f.preset.names();
        for (field, given, slot) in [
            (
                "sessions_table",
                &f.sessions_table,
                &mut names.sessions_table,
            ),
            ("users_table", &f.users_table, &mut names.users_table),
            ("session_token", &f.session_token, &mut names.session_token),
            (
                "session_user_id",
                &f.session_user_id,
                &mut names.session_user_id,
            ),
            ("expires", &f.expires, &mut names.expires),
            ("user_id", &f.user_id, &mut names.user_id),
            ("name", &f.name, &mut names.name),
            ("email", &f.email, &mut names.email),
            ("image", &f.image, &mut names.image),
        ] {
            if let Some(given) = given {
                if !is_identifier(given) {
                    return Err(ConfigError::new(
                        format!("{FIELD}.postgres.schema.{field}"),
                        "must be a table or column name of ASCII letters, digits and _ (not \
                         starting with a digit, at most 63 characters); it is used quoted, so \
                         case counts",
                    ));
                }
                *slot = given.clone();
            }
        }
        Ok(names)
    }
}

impl PostgresOptions {
    /// The checks that need nothing built (the URL is parsed when the store is built).
    pub fn check(&self) -> Result<SchemaNames, ConfigError> {
        let field = |name: &str| format!("{FIELD}.postgres.{name}");
        if self.url.trim().is_empty() {
            return Err(ConfigError::new(
                field("url"),
                "is required (postgres://user:password@host:port/database; or set \
                 AUTHJS_PROXY__PROXY__SESSION_STORE__POSTGRES__URL)",
            ));
        }
        if !(1..=1024).contains(&self.pool_size) {
            return Err(ConfigError::new(
                field("pool_size"),
                "must be between 1 and 1024",
            ));
        }
        for (name, v) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("statement_timeout_ms", self.statement_timeout_ms),
        ] {
            if v == 0 || v > 60_000 {
                return Err(ConfigError::new(
                    field(name),
                    "must be between 1 and 60000 (a minute)",
                ));
            }
        }
        self.schema.names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_name_or_a_table_of_names_reads() {
        #[derive(Deserialize)]
        struct S {
            schema: SchemaOptions,
        }
        let s: S = toml_like(r#"{"schema": "prisma"}"#);
        assert_eq!(s.schema.names().unwrap().sessions_table, "Session");
        let s: S = toml_like(r#"{"schema": {"preset": "drizzle", "expires": "valid_until"}}"#);
        let names = s.schema.names().unwrap();
        assert_eq!(
            (names.users_table.as_str(), names.expires.as_str()),
            ("user", "valid_until")
        );
        assert!(serde_json::from_str::<S>(r#"{"schema": "mongo"}"#).is_err());
        assert!(serde_json::from_str::<S>(r#"{"schema": {"tables": "x"}}"#).is_err());
    }

    fn toml_like<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_name_that_is_not_an_identifier_is_refused_naming_the_field() {
        for bad in [
            "",
            "users; drop table x",
            "a\"b",
            "1st",
            "sessions.x",
            &"x".repeat(64),
        ] {
            let schema = SchemaOptions(SchemaFields {
                sessions_table: Some(bad.to_owned()),
                ..SchemaFields::default()
            });
            let e = schema.names().unwrap_err();
            assert_eq!(
                e.field, "session_store.postgres.schema.sessions_table",
                "{bad}"
            );
        }
        assert!(is_identifier("Session_2"));
    }

    #[test]
    fn the_url_comes_from_the_environment() {
        let dir =
            std::env::temp_dir().join(format!("authjs-proxy-store-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(
            &file,
            "[proxy]\nbase_url = \"http://127.0.0.1:3000\"\nsession_strategy = \"database\"\n\
             [proxy.session_store.postgres]\nschema = \"prisma\"\n",
        )
        .unwrap();
        let env = [(
            "AUTHJS_PROXY__PROXY__SESSION_STORE__POSTGRES__URL".to_owned(),
            "postgres://app:pw@db:5432/auth".to_owned(),
        )];
        let parsed = crate::options::FileConfig::parse(&file, env, false);
        let _ = std::fs::remove_dir_all(&dir);
        let pg = parsed.unwrap().proxy.session_store.postgres.unwrap();
        assert_eq!(pg.url, "postgres://app:pw@db:5432/auth");
        assert_eq!(pg.schema.0.preset, SchemaPreset::Prisma);
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let o = PostgresOptions {
            url: "postgres://app:hunter2@db:5432/auth?password=hunter3".into(),
            ..PostgresOptions::default()
        };
        let shown = format!("{o:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("db:5432"), "{shown}");
    }
}
