//! Who may pass: claim paths, email and claim rules, per-route narrowing from the query string,
//! and identity header values. Pure functions over JSON; nothing here does I/O.

use std::fmt;
use std::str::FromStr;

use actix_web::http::header::HeaderValue;
use serde_json::{Map, Value};

/// Longest identity header value emitted, in bytes.
pub const MAX_HEADER_VALUE: usize = 4096;
/// Longest claim path accepted, in bytes.
const MAX_CLAIM_PATH: usize = 256;

/// A claim path such as `role` or `org.team` (dots for nesting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

/// Why a claim path, CIDR or narrowing query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Empty segments, control characters or too long.
    #[error("is not a claim path (dot-separated names, e.g. role or org.team)")]
    BadClaimPath,
    /// The query string is not `application/x-www-form-urlencoded`.
    #[error("malformed query string")]
    Malformed,
    /// A narrowing parameter without a usable value.
    #[error("invalid value for narrowing parameter {0}")]
    BadValue(&'static str),
    /// A parameter that reads like a narrowing one but is not one of them (`Require`,
    /// `require[]`, `allowed_email_domain`): a typo in the front proxy's configuration, which
    /// must not silently widen access.
    #[error(
        "unknown narrowing parameter {0:?} (use allowed_emails, allowed_email_domains or require)"
    )]
    UnknownKey(String),
}

/// The narrowing parameters.
const NARROWING_KEYS: [&str; 3] = ["allowed_emails", "allowed_email_domains", "require"];

/// Whether `key` reads like a narrowing parameter (ignoring case and punctuation) without being
/// one exactly.
fn misspelt_narrowing_key(key: &str) -> bool {
    if NARROWING_KEYS.contains(&key) {
        return false;
    }
    let letters: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    letters.starts_with("require") || letters.starts_with("allowedemail")
}

impl FromStr for ClaimPath {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty()
            || s.len() > MAX_CLAIM_PATH
            || s.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(RuleError::BadClaimPath);
        }
        let segments: Vec<String> = s.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(RuleError::BadClaimPath);
        }
        Ok(ClaimPath(segments))
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// The signed-in user as the rules see it: decoded token claims, or the upstream's session
/// object. For a session, a path missing at the top level is also looked up under `user`, so
/// `role` finds `user.role`.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    root: Map<String, Value>,
    under_user: bool,
}

impl Subject {
    /// Claims of a locally decoded session token.
    pub fn from_claims(claims: Map<String, Value>) -> Self {
        Subject {
            root: claims,
            under_user: false,
        }
    }

    /// A session object as Auth.js's `session` route returns it (`{"user": {...}, ...}`).
    pub fn from_session(session: Map<String, Value>) -> Self {
        Subject {
            root: session,
            under_user: true,
        }
    }

    fn walk<'a, S: AsRef<str>>(mut v: &'a Map<String, Value>, path: &[S]) -> Option<&'a Value> {
        let (last, parents) = path.split_last()?;
        for seg in parents {
            v = v.get(seg.as_ref())?.as_object()?;
        }
        v.get(last.as_ref()).filter(|v| !v.is_null())
    }

    /// The value at `path`.
    pub fn get(&self, path: &ClaimPath) -> Option<&Value> {
        Self::walk(&self.root, &path.0).or_else(|| {
            self.under_user
                .then(|| self.root.get("user")?.as_object())
                .flatten()
                .and_then(|user| Self::walk(user, &path.0))
        })
    }

    fn first_text(&self, paths: &[&[&str]]) -> Option<String> {
        paths
            .iter()
            .find_map(|p| Self::walk(&self.root, p).and_then(scalar_text))
    }

    /// The claims as bytes (JSON), to tell two subjects apart.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.root).unwrap_or_default()
    }

    /// When the session token was issued (`iat` of decoded claims; a session object has none).
    pub fn issued_at(&self) -> Option<u64> {
        if self.under_user {
            return None;
        }
        self.root.get("iat")?.as_u64()
    }

    /// `sub`, else `user.id`.
    pub fn user_id(&self) -> Option<String> {
        self.first_text(&[&["sub"], &["user", "id"]])
    }

    /// `email`, else `user.email`.
    pub fn email(&self) -> Option<String> {
        self.first_text(&[&["email"], &["user", "email"]])
    }

    /// `name`, else `user.name`.
    pub fn name(&self) -> Option<String> {
        self.first_text(&[&["name"], &["user", "name"]])
    }
}

/// A string, number or boolean as text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A claim as a header value: scalars as text, a list of scalars joined with `,`. Objects and
/// nested lists have no header form.
pub fn claim_text(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(scalar_text)
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        other => scalar_text(other),
    }
}

/// `text` as a header value, or `None` when it is not safe to emit as given: empty, longer
/// than [`MAX_HEADER_VALUE`], or containing any control character (CR, LF, NUL, TAB, DEL...).
/// Non-ASCII text is kept as its UTF-8 bytes.
pub fn safe_header_value(text: &str) -> Option<HeaderValue> {
    if text.is_empty()
        || text.len() > MAX_HEADER_VALUE
        || text.chars().any(char::is_control)
        || text.starts_with([' ', '\t'])
        || text.ends_with([' ', '\t'])
    {
        return None;
    }
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// One claim rule: the claim at `path` must equal one of `values` (a list claim: any element).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Require {
    path: ClaimPath,
    values: Vec<String>,
}

impl Require {
    /// A rule for `path`.
    pub fn new(path: ClaimPath, values: Vec<String>) -> Self {
        Require { path, values }
    }

    /// The claim path.
    pub fn path(&self) -> &ClaimPath {
        &self.path
    }

    /// Whether `subject` satisfies the rule.
    pub fn matches(&self, subject: &Subject) -> bool {
        let accepts = |v: &Value| scalar_text(v).is_some_and(|t| self.values.contains(&t));
        match subject.get(&self.path) {
            Some(Value::Array(items)) => items.iter().any(accepts),
            Some(v) => accepts(v),
            None => false,
        }
    }
}

/// An email rule: one list that the email must be in (or whose domain must be in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailRule {
    /// Exact emails, lowercase.
    Emails(Vec<String>),
    /// Exact domains, lowercase.
    Domains(Vec<String>),
}

impl EmailRule {
    /// Whether `email` passes (case-insensitive); no email never passes.
    pub fn matches(&self, email: Option<&str>) -> bool {
        let Some(email) = email else {
            return false;
        };
        if !is_one_address(email) {
            return false;
        }
        match self {
            EmailRule::Emails(list) => list.iter().any(|x| x.eq_ignore_ascii_case(email)),
            EmailRule::Domains(list) => email
                .rsplit_once('@')
                .is_some_and(|(_, d)| list.iter().any(|x| x.eq_ignore_ascii_case(d))),
        }
    }
}

/// Rules a route adds in the front proxy's sub-request URL
/// (`?allowed_email_domains=a.com,b.com&require=role:admin`). They are checked in addition to
/// the configured ones, so they can only narrow who passes, never widen it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    pub(crate) email: Vec<EmailRule>,
    pub(crate) require: Vec<Require>,
}

fn list_of(
    name: &'static str,
    value: &str,
    check: fn(&str) -> bool,
) -> Result<Vec<String>, RuleError> {
    let items: Vec<String> = value
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    if items.iter().any(|s| !check(s)) {
        return Err(RuleError::BadValue(name));
    }
    Ok(items)
}

/// Whether `d` is a plain domain name (letters, digits, `-`, dots between labels).
pub fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether a claim is exactly one plain address, `local@domain`: one `@`, a domain name, and
/// none of the characters that make a list, a display name, a comment or a quoted part
/// (spaces, `,;<>()[]"\\`). Anything else never matches an email rule.
fn is_one_address(e: &str) -> bool {
    e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && !local
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || ",;<>()[]\"\\".contains(c))
            && is_domain(domain)
    })
}

/// Whether `e` is `local@domain`.
pub fn is_email(e: &str) -> bool {
    e.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !local.chars().any(|c| c.is_control() || c == ' ') && is_domain(domain)
    })
}

impl Narrowing {
    /// Parses the sub-request's query string. An empty or malformed value of a narrowing
    /// parameter is an error (the endpoint answers 400, never 200).
    ///
    /// Other parameters are ignored: Caddy's `forward_auth` (unless its `uri` ends in `?`) and
    /// Envoy's `ext_authz` pass the client's own query along. That is harmless, because
    /// narrowing can only narrow — a client can only lock itself out.
    ///
    /// # Examples
    /// ```
    /// use authjs_proxy::forward_auth::rules::Narrowing;
    /// assert!(Narrowing::parse("allowed_email_domains=a.com,b.com&require=role:admin").is_ok());
    /// assert!(Narrowing::parse("allowed_email_domains=").is_err());
    /// assert_eq!(Narrowing::parse("page=2"), Narrowing::parse(""));
    /// ```
    pub fn parse(query: &str) -> Result<Self, RuleError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|_| RuleError::Malformed)?;
        let mut out = Narrowing::default();
        for (key, value) in pairs {
            if misspelt_narrowing_key(&key) {
                return Err(RuleError::UnknownKey(key));
            }
            match key.as_str() {
                "allowed_emails" => out.email.push(EmailRule::Emails(list_of(
                    "allowed_emails",
                    &value,
                    is_email,
                )?)),
                "allowed_email_domains" => out.email.push(EmailRule::Domains(list_of(
                    "allowed_email_domains",
                    &value,
                    is_domain,
                )?)),
                "require" => {
                    let (path, values) = value
                        .split_once(':')
                        .ok_or(RuleError::BadValue("require"))?;
                    let path: ClaimPath =
                        path.parse().map_err(|_| RuleError::BadValue("require"))?;
                    let values: Vec<String> =
                        values.split(',').map(|v| v.trim().to_owned()).collect();
                    if values.iter().any(String::is_empty) {
                        return Err(RuleError::BadValue("require"));
                    }
                    out.require.push(Require::new(path, values));
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
