//! The whole configuration file and how it is read: TOML, then `AUTHJS_PROXY__…` environment
//! overrides and `AUTH_SECRET`. The checks that need built parts (the snapshot, certificates)
//! run in [`crate::app::check`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::core::error::ConfigError;
use crate::core::peer::parse_trust_list;
use crate::options::forward_auth::{ForwardAuthOptions, OnUnauthenticated};
use crate::options::proxy::{ProxyOptions, Secret};
use crate::options::server::{AdminOptions, LogFormat, LogOptions, ServerOptions};
use crate::options::sign_in::SignInProtectionOptions;
use crate::options::telemetry::TelemetryOptions;
use crate::options::{ENV_PREFIX, MAX_DURATION_MS, MAX_WORKERS};

/// The whole configuration file: `[server]`, `[proxy]`, `[forward_auth]`, `[admin]`, `[log]`
/// and `[telemetry]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Listener settings.
    pub server: ServerOptions,
    /// Proxy options.
    pub proxy: ProxyOptions,
    /// The forward-auth decision endpoint; off unless `enabled = true`.
    pub forward_auth: ForwardAuthOptions,
    /// Admin listener; off by default.
    pub admin: AdminOptions,
    /// Brute-force and e-mail flooding protection of sign-ins (goes to
    /// [`ProxyOptions::sign_in_protection`]).
    pub sign_in_protection: SignInProtectionOptions,
    /// Logging.
    pub log: LogOptions,
    /// Tracing export over OTLP; off unless an endpoint is set (here or in
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub telemetry: TelemetryOptions,
    /// What reading the file noticed that is not an error (an environment variable that looks
    /// like an override but is never read): logged at start, printed by `check-config`.
    #[serde(skip)]
    pub notices: Vec<String>,
}

/// The settings that are lists: from the environment, comma-separated.
const LIST_KEYS: [&str; 10] = [
    "proxy.secret",
    "sign_in_protection.account_fields",
    "sign_in_protection.credentials_providers",
    "server.trusted_proxies",
    "forward_auth.allowed_emails",
    "forward_auth.allowed_email_domains",
    "forward_auth.trusted_proxies",
    "proxy.jws.algorithms",
    "proxy.jws.audience",
    "proxy.jws.issuer",
];

/// A file that does not parse or deserialize, said without the values in it: the parser's
/// excerpt of the offending line is dropped, and a value quoted in the message (`invalid type:
/// string "..."`, `unknown variant `...``) is replaced by `…`. Secrets and header values live
/// in this file, and the message goes to logs and to `POST /reload` answers.
fn file_error(e: config::ConfigError) -> ConfigError {
    let text = e.to_string();
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            // The excerpt: `  |`, `9 | secret = "...`, `  |     ^`.
            let rest = line
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit());
            !rest.trim_start().starts_with('|')
        })
        .collect();
    let mut text = redact_quoted(&kept.join(" "));
    // The config crate names an unknown enum value unquoted.
    const VARIANT: &str = "does not have variant constructor ";
    if let Some(at) = text.find(VARIANT) {
        let from = at + VARIANT.len();
        // The last ` for key `: the value itself may contain the words.
        let end = text[from..]
            .rfind(" for key ")
            .map_or(text.len(), |e| from + e);
        text.replace_range(from..end, "…");
    }
    // Name the choices a setting has.
    const CHOICES: [(&str, &str); 6] = [
        ("`proxy.session_strategy`", "\"jwt\" or \"database\""),
        ("`log.format`", "\"text\" or \"json\""),
        (
            "`forward_auth.on_unauthenticated`",
            "\"401\" or \"redirect\"",
        ),
        ("`proxy.jws.algorithms`", "HS256, RS256, ES256, EdDSA, ..."),
        (
            "`proxy.session_store.mode`",
            "\"database-first\" or \"upstream-first\"",
        ),
        (
            "`proxy.session_store.postgres.schema",
            "\"pg-adapter\", \"prisma\", \"drizzle\" or a table of names",
        ),
    ];
    if let Some((_, choices)) = CHOICES.iter().find(|(key, _)| text.contains(key)) {
        text.push_str(&format!(" (expected {choices})"));
    }
    ConfigError::new("file", text)
}

/// `text` with what is quoted in it (`"..."`, and `` `...` `` after a word that introduces a
/// value) replaced by `…`. Field names (`` `proxy.secret` ``) stay.
fn redact_quoted(text: &str) -> String {
    const VALUE_WORDS: [&str; 7] = [
        "variant",
        "integer",
        "point",
        "boolean",
        "character",
        "string",
        "value",
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['"', '`']) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let quote = &from[..1];
        // The closing quote: one no backslash escapes (values are printed with `{:?}`).
        let closing = from[1..].char_indices().scan(false, |escaped, (i, c)| {
            let found = !*escaped && from[1..][i..].starts_with(quote);
            *escaped = !*escaped && c == '\\';
            Some((i, found))
        });
        let Some(end) = closing.filter(|&(_, found)| found).map(|(i, _)| i).next() else {
            // An unterminated quote: nothing after it is kept.
            out.push_str(quote);
            out.push('…');
            return out;
        };
        let is_value = quote == "\"" || VALUE_WORDS.iter().any(|w| before.trim_end().ends_with(w));
        out.push_str(quote);
        out.push_str(if is_value { "…" } else { &from[1..=end] });
        out.push_str(quote);
        rest = &from[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The default configuration as JSON: which settings are whole numbers.
fn default_shape() -> serde_json::Value {
    serde_json::to_value(FileConfig::default()).unwrap_or_default()
}

/// The config crate truncates `max_body_bytes = 1.5` to 1 without a word: refuse a fraction
/// wherever the setting is a whole number, naming it.
fn refuse_fractions(
    given: &serde_json::Value,
    shape: &serde_json::Value,
    path: &str,
) -> Result<(), ConfigError> {
    let (Some(given), Some(shape)) = (given.as_object(), shape.as_object()) else {
        return Ok(());
    };
    for (key, value) in given {
        let field = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match shape.get(key) {
            Some(s)
                if (s.is_u64() || s.is_i64())
                    && value.as_f64().is_some_and(|f| f.fract() != 0.0 || f < 0.0) =>
            {
                return Err(ConfigError::new(field, "must be a whole number"));
            }
            Some(s) if s.is_u64() || s.is_i64() => {}
            // A switch is `true` or `false` (the environment writes them as text); the config
            // crate would read `"yes"`, `"on"` or `"1"` as true without a word.
            Some(s)
                if s.is_boolean()
                    && !value.is_boolean()
                    && !value.as_str().is_some_and(|v| {
                        v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
                    }) =>
            {
                return Err(ConfigError::new(field, "must be true or false"));
            }
            Some(s) => refuse_fractions(value, s, &field)?,
            None => {}
        }
    }
    Ok(())
}

impl FileConfig {
    /// The `[log] format` of the file at `path` when that much of it reads, whatever else is
    /// wrong in it: errors about the rest are then written in the format the operator chose.
    pub fn log_format_hint(path: &Path) -> Option<LogFormat> {
        #[derive(Deserialize)]
        struct LogOnly {
            #[serde(default)]
            log: Option<LogOptions>,
        }
        config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .build()
            .ok()?
            .try_deserialize::<LogOnly>()
            .ok()?
            .log
            .map(|l| l.format)
    }

    /// Reads `path` with the environment `env`: TOML, environment overrides, `AUTH_SECRET`,
    /// whole numbers where the setting is one, and the listen address. Nothing is built.
    pub(crate) fn parse(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        allow_insecure: bool,
    ) -> Result<Self, ConfigError> {
        if !path.is_file() {
            let looked = std::env::current_dir().map_or_else(|_| path.to_owned(), |d| d.join(path));
            return Err(ConfigError::new(
                "file",
                format!(
                    "configuration file not found: {} (a relative path is read from the working \
                     directory; pass --config <file>)",
                    looked.display()
                ),
            ));
        }
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        // As @auth/core's `setEnvDefaults`: AUTH_SECRET, then AUTH_SECRET_1, _2, _3 each put in
        // front, so the list reads AUTH_SECRET_3, _2, _1, AUTH_SECRET (empty ones skipped).
        let mut env_secrets: Vec<String> = Vec::new();
        let mut take = |name: &str, front: bool| {
            if let Some(s) = env.get(name).filter(|s| !s.is_empty()) {
                if front {
                    env_secrets.insert(0, s.clone());
                } else {
                    env_secrets.push(s.clone());
                }
            }
        };
        take("AUTH_SECRET", false);
        for name in ["AUTH_SECRET_1", "AUTH_SECRET_2", "AUTH_SECRET_3"] {
            take(name, true);
        }
        let mut env = env;
        let mut telemetry_env = std::collections::HashMap::new();
        for (name, _) in crate::options::telemetry::ENV_VARS {
            if let Some(value) = env.remove(name) {
                telemetry_env.insert(name.to_owned(), value);
            }
        }
        let mut notices = Vec::new();
        let ours = format!("{ENV_PREFIX}__");
        let mut stray: Vec<&String> = env
            .keys()
            .filter(|k| k.starts_with(ENV_PREFIX) && !k.starts_with(&ours))
            .collect();
        stray.sort();
        for name in stray {
            notices.push(format!(
                "environment variable {name} is not read: overrides are named \
                 {ENV_PREFIX}__SECTION__KEY (two underscores after {ENV_PREFIX} and between levels)"
            ));
        }
        // List settings: comma-separated values, set over the file's.
        let mut lists: Vec<(&str, Vec<String>)> = Vec::new();
        for key in LIST_KEYS {
            let name = format!("{ours}{}", key.replace('.', "__").to_ascii_uppercase());
            if let Some(value) = env.remove(&name) {
                let items = value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect();
                lists.push((key, items));
            }
        }
        let mut builder = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(env.into_iter().collect())),
            );
        for (key, items) in lists {
            builder = builder.set_override(key, items).map_err(file_error)?;
        }
        let built = builder.build().map_err(file_error)?;
        let given: serde_json::Value = built.clone().try_deserialize().map_err(file_error)?;
        refuse_fractions(&given, &default_shape(), "")?;
        let mut file: FileConfig = built.try_deserialize().map_err(file_error)?;
        // Auth.js reads the environment when `secret` is unset or empty (`!secret?.length`).
        let unset = match &file.proxy.secret {
            None => true,
            Some(Secret::One(s)) => s.is_empty(),
            Some(Secret::Many(v)) => v.is_empty(),
        };
        if unset && !env_secrets.is_empty() {
            file.proxy.secret = Some(match env_secrets.len() {
                1 => Secret::One(env_secrets.remove(0)),
                _ => Secret::Many(env_secrets),
            });
        }
        file.proxy.tls.allow_insecure = allow_insecure;
        // The one trust list: `[server] trusted_proxies`; a file that still has only the
        // deprecated `[forward_auth] trusted_proxies` keeps it (the endpoint warns).
        if let Some(list) = &file.server.trusted_proxies {
            parse_trust_list("server.trusted_proxies", list)?;
            file.proxy.trusted_proxies = list.clone();
        } else if let Some(list) = &file.forward_auth.trusted_proxies {
            parse_trust_list("forward_auth.trusted_proxies", list)?;
            file.proxy.trusted_proxies = list.clone();
        }
        file.server.listen_addr()?;
        file.telemetry.apply_env(&telemetry_env);
        file.telemetry.check()?;
        if file.telemetry.enabled() && !cfg!(feature = "otel") {
            return Err(ConfigError::new(
                "telemetry.otlp_endpoint",
                "this build has no trace export (built without the `otel` feature)",
            ));
        }
        file.sign_in_protection.check()?;
        file.proxy.sign_in_protection = file.sign_in_protection.clone();
        if file.forward_auth.enabled
            && file.forward_auth.on_unauthenticated == OnUnauthenticated::Redirect
        {
            notices.push(
                "forward_auth.on_unauthenticated = \"redirect\": nginx auth_request can not pass \
                 a 302 on (its users get a 500); behind nginx keep \"401\" and send browsers to \
                 forward_auth.signin_path with error_page 401 (README, \"Protect an app\")"
                    .to_owned(),
            );
        }
        file.notices = notices;
        Ok(file)
    }

    /// The checks of `[admin]` and `[server]` that need nothing built.
    pub(crate) fn check_listeners(&self) -> Result<(), ConfigError> {
        let file = self;
        if let Some(admin) = file.admin.listen_addr()?
            && admin == file.server.listen_addr()?
        {
            return Err(ConfigError::new(
                "admin.listen",
                "must differ from server.listen (the admin listener is never the public port)",
            ));
        }
        if file
            .admin
            .token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(ConfigError::new("admin.token", "must not be empty"));
        }
        if file.admin.drain_ms > MAX_DURATION_MS {
            return Err(ConfigError::new(
                "admin.drain_ms",
                format!("must be at most {MAX_DURATION_MS} (31 days)"),
            ));
        }
        if !(1..=MAX_WORKERS).contains(&file.server.workers) {
            return Err(ConfigError::new(
                "server.workers",
                format!("must be between 1 and {MAX_WORKERS}"),
            ));
        }
        Ok(())
    }
}
