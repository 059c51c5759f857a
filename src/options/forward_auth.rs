//! `[forward_auth]`: the options an operator writes. Plain data; the validated rules are
//! [`crate::forward_auth::ForwardAuth`] (built by [`ForwardAuthOptions::validate`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where the decision endpoint answers by default.
pub const DEFAULT_PATH: &str = "/_authjs/verify";
/// Identity headers the endpoint always sets (when the value is present and safe).
pub const USER_HEADER: &str = "x-auth-request-user";
/// See [`USER_HEADER`].
pub const EMAIL_HEADER: &str = "x-auth-request-email";
/// See [`USER_HEADER`].
pub const NAME_HEADER: &str = "x-auth-request-name";

/// What an unauthenticated request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OnUnauthenticated {
    /// `401` JSON, always.
    #[default]
    #[serde(rename = "401")]
    Status401,
    /// `302` to the sign-in page for browser navigations (`Accept: text/html`); others `401`.
    #[serde(rename = "redirect")]
    Redirect,
}

/// The `[forward_auth]` section: a decision endpoint for nginx `auth_request`, Caddy
/// `forward_auth`, Traefik `ForwardAuth` and Envoy `ext_authz`.
///
/// # Examples
/// ```
/// use authjs_proxy::options::ForwardAuthOptions;
/// let mut opts = ForwardAuthOptions::default();
/// assert!(!opts.enabled);
/// opts.enabled = true;
/// opts.allowed_email_domains = vec!["example.com".into()];
/// opts.require.insert("role".into(), vec!["admin".into()]);
/// let gate = opts.validate().unwrap();
/// assert_eq!(gate.path(), "/_authjs/verify");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardAuthOptions {
    /// Mount the endpoint. Default false.
    pub enabled: bool,
    /// Path of the decision endpoint (GET and HEAD). Default `/_authjs/verify`.
    pub path: String,
    /// `"401"` (default) or `"redirect"`.
    pub on_unauthenticated: OnUnauthenticated,
    /// Only these emails (case-insensitive). Empty: anyone signed in.
    pub allowed_emails: Vec<String>,
    /// Only emails in these domains (exact domain, case-insensitive). Empty: any domain.
    pub allowed_email_domains: Vec<String>,
    /// Deprecated (one release): the endpoint uses the one trust list, `[server]
    /// trusted_proxies` ([`ProxyOptions::trusted_proxies`](crate::options::ProxyOptions::trusted_proxies)).
    /// In a file without `[server] trusted_proxies`, this list becomes it (with a warning);
    /// otherwise it is ignored (with a warning).
    pub trusted_proxies: Option<Vec<String>>,
    /// Claim path (dots for nesting) → accepted values; a list claim matches when any
    /// element does. Every entry must match.
    pub require: BTreeMap<String, Vec<String>>,
    /// Extra identity headers: header name → claim path.
    pub headers: BTreeMap<String, String>,
    /// `Retry-After` of a `503` when the identity source fails, in seconds. Default 5.
    pub retry_after_secs: u32,
}

impl Default for ForwardAuthOptions {
    fn default() -> Self {
        ForwardAuthOptions {
            enabled: false,
            path: DEFAULT_PATH.into(),
            on_unauthenticated: OnUnauthenticated::default(),
            allowed_emails: Vec::new(),
            allowed_email_domains: Vec::new(),
            trusted_proxies: None,
            require: BTreeMap::new(),
            headers: BTreeMap::new(),
            retry_after_secs: 5,
        }
    }
}
