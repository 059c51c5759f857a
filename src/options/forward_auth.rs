//! `[forward_auth]`: the options an operator writes. Plain data; the validated rules are
//! [`crate::forward_auth::ForwardAuth`] (built by [`ForwardAuthOptions::validate`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where the decision endpoint answers by default.
pub const DEFAULT_PATH: &str = "/_authjs/verify";
/// Where the public keys of the identity assertion are served by default.
pub const DEFAULT_JWKS_PATH: &str = "/_authjs/jwks.json";
/// The header carrying the identity assertion by default.
pub const DEFAULT_ASSERTION_HEADER: &str = "x-auth-request-assertion";

/// Where the sign-in start endpoint answers by default.
pub const DEFAULT_SIGNIN_PATH: &str = "/_authjs/signin";
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
    /// Path of the decision endpoint (any method: Envoy asks with the original one), and
    /// below it (Envoy's `path_prefix` appends the original path). Default `/_authjs/verify`.
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
    /// Any-of groups of claim requirements: at least one group must match entirely (in
    /// addition to `require`). `[{role = ["admin"]}, {groups = ["ops"]}]`: admin OR in ops.
    pub require_any: Vec<BTreeMap<String, Vec<String>>>,
    /// `Retry-After` of a `503` when the identity source fails, in seconds. Default 5.
    pub retry_after_secs: u32,
    /// Access rules by original path and method, first match wins; a request no rule matches
    /// is authenticated with the requirements above.
    pub rules: Vec<RuleOptions>,
    /// Let CORS preflights (`OPTIONS` with `Access-Control-Request-Method`) pass without a
    /// session (browsers send them without cookies). Default false.
    pub allow_cors_preflight: bool,
    /// The sign-in start endpoint for front proxies that can not pass a `302` on (nginx
    /// `auth_request`): `GET <signin_path>?rd=<original URL>` redirects to Auth.js's sign-in
    /// page. Default `/_authjs/signin`; empty turns it off.
    pub signin_path: String,
    /// A signed identity for the app behind (an ES256 JWT in a header of every `200`); off
    /// when absent.
    pub assertion: Option<AssertionOptions>,
    /// Where the assertion's public keys are served as a JWKS. Default `/_authjs/jwks.json`.
    pub jwks_path: String,
    /// Rolling sessions: a decoded session older than this (seconds; Auth.js's `updateAge`)
    /// is refreshed through the upstream's session route, and its `Set-Cookie` put on the
    /// `200`. Default 86400; 0 never.
    pub update_age_s: u64,
}

/// `[forward_auth.assertion]`: the identity, signed, so the app behind can verify it with any
/// JWT library instead of sharing `AUTH_SECRET` (Pomerium's JWT assertion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssertionOptions {
    /// The header of the `200` carrying it. Default `X-Auth-Request-Assertion`.
    pub header: String,
    /// EC P-256 private keys (PEM, PKCS#8 or SEC1), newest first: the newest signs, all are
    /// published (rotation: add the new one first, drop the old one after `ttl_s`).
    pub key_file: Vec<std::path::PathBuf>,
    /// `aud` of the assertion; none when empty.
    pub audience: Option<String>,
    /// `iss`; default the public origin (`proxy.public_url`), else `authjs-proxy`.
    pub issuer: Option<String>,
    /// Lifetime in seconds. Default 60.
    pub ttl_s: u64,
    /// Claim paths copied into the assertion besides `sub`, `email` and `name`.
    pub claims: Vec<String>,
}

impl Default for AssertionOptions {
    fn default() -> Self {
        AssertionOptions {
            header: DEFAULT_ASSERTION_HEADER.into(),
            key_file: Vec::new(),
            audience: None,
            issuer: None,
            ttl_s: 60,
            claims: Vec::new(),
        }
    }
}

/// What a rule does with the requests it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// `200` without asking who it is (public pages, health checks).
    Allow,
    /// `403`, whoever it is.
    Deny,
    /// Signed in, and the rule's requirements (else the section's) met.
    #[default]
    Authenticate,
}

/// One `[[forward_auth.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleOptions {
    /// A path prefix, on segment boundaries: `/public` matches `/public` and `/public/x`, not
    /// `/publicity`. One of `path` and `path_regex` is required.
    pub path: Option<String>,
    /// A regular expression the whole path must match (`^…$` implied).
    pub path_regex: Option<String>,
    /// The methods it applies to (any when empty).
    pub methods: Vec<String>,
    /// `allow`, `deny` or `authenticate` (default).
    pub action: RuleAction,
    /// An API: unauthenticated requests get `401`, never the sign-in redirect.
    pub api: bool,
    /// Claim requirements (as `[forward_auth.require]`) replacing the section's ones.
    pub require: BTreeMap<String, Vec<String>>,
    /// Any-of groups (as `forward_auth.require_any`) replacing the section's ones.
    pub require_any: Vec<BTreeMap<String, Vec<String>>>,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            path: None,
            path_regex: None,
            methods: Vec::new(),
            action: RuleAction::Authenticate,
            api: false,
            require: BTreeMap::new(),
            require_any: Vec::new(),
        }
    }
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
            require_any: Vec::new(),
            retry_after_secs: 5,
            rules: Vec::new(),
            allow_cors_preflight: false,
            signin_path: DEFAULT_SIGNIN_PATH.into(),
            assertion: None,
            jwks_path: DEFAULT_JWKS_PATH.into(),
            update_age_s: 24 * 3600,
        }
    }
}
