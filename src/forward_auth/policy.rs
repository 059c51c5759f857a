//! The validated `[forward_auth]` options ([`ForwardAuth`]): the endpoint's path and the rules
//! in force ([`Policy`]), replaced whole on reload.

use std::fmt;
use std::sync::Arc;

use actix_web::http::header::HeaderName;
use arc_swap::ArcSwap;

use crate::core::error::ConfigError;
use crate::core::path::is_plain_path;
use crate::core::peer::parse_trust_list;
use crate::forward_auth::access::{AccessRule, Requirements};
use crate::forward_auth::assertion::Assertion;
use crate::forward_auth::refresh::Refresher;
use crate::forward_auth::rules::{ClaimPath, EmailRule, is_domain, is_email};
use crate::options::forward_auth::{
    EMAIL_HEADER, ForwardAuthOptions, NAME_HEADER, OnUnauthenticated, USER_HEADER,
};
use crate::runtime::{Attached, Snapshot};

/// Headers an extra identity header may not be named after: they describe the answer itself,
/// the connection, or are the fixed identity headers.
const RESERVED_HEADERS: [&str; 19] = [
    USER_HEADER,
    EMAIL_HEADER,
    NAME_HEADER,
    "cache-control",
    "vary",
    "location",
    "retry-after",
    "set-cookie",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "host",
    "www-authenticate",
];

/// The validated `[forward_auth]` options, as mounted. Cheap to clone; clones share the rules,
/// which [`ForwardAuth::update`] replaces in place (SIGHUP reload).
#[derive(Clone)]
pub struct ForwardAuth {
    path: Arc<str>,
    signin_path: Option<Arc<str>>,
    jwks_path: Option<Arc<str>>,
    live: Arc<ArcSwap<Policy>>,
}

impl fmt::Debug for ForwardAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardAuth")
            .field("policy", &*self.live.load())
            .finish()
    }
}

/// The rules in force: a validated snapshot, replaced whole.
#[derive(Debug)]
pub struct Policy {
    pub(crate) on_unauthenticated: OnUnauthenticated,
    /// Configured email rules; any one admits (none: anyone signed in).
    pub(crate) email_rules: Vec<EmailRule>,
    pub(crate) requirements: Requirements,
    pub(crate) headers: Vec<(HeaderName, ClaimPath)>,
    pub(crate) retry_after_secs: u32,
    /// Access rules by original path and method, first match wins.
    pub(crate) rules: Vec<AccessRule>,
    pub(crate) allow_cors_preflight: bool,
    /// The signed identity for the app behind, when configured.
    pub(crate) assertion: Option<Arc<Assertion>>,
    /// Rolling sessions.
    pub(crate) refresher: Refresher,
}

impl ForwardAuth {
    /// The endpoint's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Where the assertion's public keys are served, when on.
    pub fn jwks_path(&self) -> Option<&str> {
        self.jwks_path.as_deref()
    }

    /// The sign-in start endpoint's path, when on.
    pub fn signin_path(&self) -> Option<&str> {
        self.signin_path.as_deref()
    }

    /// The rules in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.live.load_full()
    }

    /// Replaces the rules with `opts` (validated first; on error the rules in force stay).
    /// The path is fixed while mounted: a different one is refused.
    pub fn update(&self, opts: &ForwardAuthOptions) -> Result<(), ConfigError> {
        let next = self.prepare(opts)?;
        self.install(next);
        Ok(())
    }

    /// Validates `opts` as the next rules of this endpoint, without putting them in force.
    pub fn prepare(&self, opts: &ForwardAuthOptions) -> Result<Arc<Policy>, ConfigError> {
        let next = opts.validate()?;
        if next.path() != self.path() {
            return Err(ConfigError::new(
                "forward_auth.path",
                "cannot change while serving; restart to move the endpoint",
            ));
        }
        if next.jwks_path() != self.jwks_path() {
            return Err(ConfigError::new(
                "forward_auth.jwks_path",
                "cannot change while serving; restart to move the endpoint",
            ));
        }
        if next.signin_path() != self.signin_path() {
            return Err(ConfigError::new(
                "forward_auth.signin_path",
                "cannot change while serving; restart to move the endpoint",
            ));
        }
        Ok(next.policy())
    }

    /// Puts prepared rules in force (see [`ForwardAuth::prepare`]).
    pub fn install(&self, policy: Arc<Policy>) {
        self.live.store(policy);
    }

    /// The rules in force, to attach to a configuration
    /// ([`AuthProxy::configure_with`](crate::AuthProxy::configure_with)): decisions then read
    /// them from the same snapshot as the secrets and options.
    pub fn attachment(&self) -> Attached {
        self.policy()
    }

    /// The rules attached to `cfg`, when the service attached them.
    pub fn attached_to(cfg: &Snapshot) -> Option<Arc<Policy>> {
        cfg.attached.clone()?.downcast::<Policy>().ok()
    }
}

/// An optional endpoint's path (`raw`; empty: off), checked like the decision path and kept
/// apart from it (`decision`).
fn optional_path(
    field: &str,
    raw: &str,
    decision: &str,
    example: &str,
) -> Result<Option<Arc<str>>, ConfigError> {
    let p = raw.trim();
    if p.is_empty() {
        return Ok(None);
    }
    if !valid_path(p) {
        return Err(ConfigError::new(
            field,
            format!("must be a plain absolute path such as {example}, or empty for none"),
        ));
    }
    if p == decision || p.starts_with(&format!("{decision}/")) {
        return Err(ConfigError::new(
            field,
            "must not be the decision path or below it",
        ));
    }
    Ok(Some(Arc::from(p)))
}

/// The endpoint's path: absolute, plain (see [`is_plain_path`]), no trailing `/`, and only
/// unreserved characters.
fn valid_path(p: &str) -> bool {
    p.starts_with('/')
        && p.len() > 1
        && !p.ends_with('/')
        && is_plain_path(p)
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~'))
}

fn lowercase_list(
    field: &str,
    raw: &[String],
    check: fn(&str) -> bool,
    what: &str,
) -> Result<Vec<String>, ConfigError> {
    raw.iter()
        .map(|r| {
            let v = r.trim().to_ascii_lowercase();
            if check(&v) {
                Ok(v)
            } else {
                Err(ConfigError::new(field, format!("{r:?} is not {what}")))
            }
        })
        .collect()
}

impl ForwardAuthOptions {
    /// Checks every field; the error names the one at fault (`forward_auth.require.role`).
    pub fn validate(&self) -> Result<ForwardAuth, ConfigError> {
        let path = self.path.trim();
        if !valid_path(path) {
            return Err(ConfigError::new(
                "forward_auth.path",
                "must be a plain absolute path such as /_authjs/verify",
            ));
        }
        let emails = lowercase_list(
            "forward_auth.allowed_emails",
            &self.allowed_emails,
            is_email,
            "an email address",
        )?;
        let domains = lowercase_list(
            "forward_auth.allowed_email_domains",
            &self.allowed_email_domains,
            is_domain,
            "a domain name",
        )?;
        let mut email_rules = Vec::new();
        if !emails.is_empty() {
            email_rules.push(EmailRule::Emails(emails));
        }
        if !domains.is_empty() {
            email_rules.push(EmailRule::Domains(domains));
        }
        if let Some(list) = &self.trusted_proxies {
            parse_trust_list("forward_auth.trusted_proxies", list)?;
            tracing::warn!(
                "forward_auth.trusted_proxies is deprecated: set server.trusted_proxies, the one \
                 trust list for every route and the forward-auth endpoint (a file without it \
                 takes this list; otherwise this list is ignored)"
            );
        }
        let requirements = Requirements::parse("forward_auth", &self.require, &self.require_any)?;
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| AccessRule::compile(i, r))
            .collect::<Result<Vec<_>, _>>()?;
        let jwks_path = optional_path(
            "forward_auth.jwks_path",
            &self.jwks_path,
            path,
            "/_authjs/jwks.json",
        )?;
        let assertion = self
            .assertion
            .as_ref()
            .map(Assertion::new)
            .transpose()?
            .map(Arc::new);
        if let Some(a) = &assertion
            && (RESERVED_HEADERS.contains(&a.header.as_str())
                || self
                    .headers
                    .keys()
                    .any(|h| h.eq_ignore_ascii_case(a.header.as_str())))
        {
            return Err(ConfigError::new(
                "forward_auth.assertion.header",
                "is reserved (set by the endpoint itself, or an identity header)",
            ));
        }
        let signin_path = optional_path(
            "forward_auth.signin_path",
            &self.signin_path,
            path,
            "/_authjs/signin",
        )?;
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, claim) in &self.headers {
            let field = format!("forward_auth.headers.{name}");
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::new(field.clone(), "is not a valid header name"))?;
            if RESERVED_HEADERS.contains(&n.as_str()) || n.as_str().starts_with("proxy-") {
                return Err(ConfigError::new(
                    field,
                    "is reserved (set by the endpoint itself or hop-by-hop)",
                ));
            }
            let path: ClaimPath = claim
                .parse()
                .map_err(|e| ConfigError::new(field.clone(), format!("{e}")))?;
            headers.push((n, path));
        }
        if self.retry_after_secs == 0 {
            return Err(ConfigError::new(
                "forward_auth.retry_after_secs",
                "must be at least 1",
            ));
        }
        if jwks_path.is_some() && jwks_path == signin_path {
            return Err(ConfigError::new(
                "forward_auth.jwks_path",
                "must differ from forward_auth.signin_path",
            ));
        }
        Ok(ForwardAuth {
            path: Arc::from(path),
            signin_path,
            jwks_path,
            live: Arc::new(ArcSwap::from_pointee(Policy {
                on_unauthenticated: self.on_unauthenticated,
                email_rules,
                requirements,
                headers,
                retry_after_secs: self.retry_after_secs,
                rules,
                allow_cors_preflight: self.allow_cors_preflight,
                assertion,
                refresher: Refresher::new(self.update_age_s),
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::forward_auth::DEFAULT_PATH;

    fn field_of(o: ForwardAuthOptions) -> String {
        o.validate().unwrap_err().field
    }

    #[test]
    fn defaults_are_off_at_the_documented_path_with_loopback_trusted() {
        let o = ForwardAuthOptions::default();
        assert!(!o.enabled);
        let g = o.validate().unwrap();
        assert_eq!(g.path(), "/_authjs/verify");
        assert_eq!(g.policy().on_unauthenticated, OnUnauthenticated::Status401);
    }

    #[test]
    fn on_unauthenticated_reads_401_and_redirect() {
        let o: ForwardAuthOptions = toml_like(r#"{"on_unauthenticated":"redirect"}"#);
        assert_eq!(o.on_unauthenticated, OnUnauthenticated::Redirect);
        let o: ForwardAuthOptions = toml_like(r#"{"on_unauthenticated":"401"}"#);
        assert_eq!(o.on_unauthenticated, OnUnauthenticated::Status401);
        assert!(
            serde_json::from_str::<ForwardAuthOptions>(r#"{"on_unauthenticated":"403"}"#).is_err()
        );
    }

    fn toml_like(json: &str) -> ForwardAuthOptions {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_path_with_dot_segments_or_a_query_is_refused() {
        for p in ["", "/", "verify", "/a/../b", "/a?b", "/a//b", "/a b", "/a/"] {
            let o = ForwardAuthOptions {
                path: p.into(),
                ..Default::default()
            };
            assert_eq!(field_of(o), "forward_auth.path", "{p:?}");
        }
    }

    #[test]
    fn emails_and_domains_are_lowercased_and_checked() {
        let o = ForwardAuthOptions {
            allowed_emails: vec!["Ada@Example.COM".into()],
            allowed_email_domains: vec!["Example.com".into()],
            ..Default::default()
        };
        let g = o.validate().unwrap();
        assert_eq!(
            g.policy().email_rules,
            [
                EmailRule::Emails(vec!["ada@example.com".into()]),
                EmailRule::Domains(vec!["example.com".into()])
            ]
        );
        let bad = ForwardAuthOptions {
            allowed_email_domains: vec!["@example.com".into()],
            ..Default::default()
        };
        assert_eq!(field_of(bad), "forward_auth.allowed_email_domains");
        let bad = ForwardAuthOptions {
            allowed_emails: vec!["example.com".into()],
            ..Default::default()
        };
        assert_eq!(field_of(bad), "forward_auth.allowed_emails");
    }

    #[test]
    fn an_invalid_trusted_proxy_is_refused() {
        let o = ForwardAuthOptions {
            trusted_proxies: Some(vec!["10.0.0.0/33".into()]),
            ..Default::default()
        };
        assert_eq!(field_of(o), "forward_auth.trusted_proxies");
    }

    #[test]
    fn a_require_entry_needs_a_value_and_a_valid_claim_path() {
        let mut o = ForwardAuthOptions::default();
        o.require.insert("role".into(), vec![]);
        assert_eq!(field_of(o), "forward_auth.require.role");
        let mut o = ForwardAuthOptions::default();
        o.require.insert("a..b".into(), vec!["x".into()]);
        assert_eq!(field_of(o), "forward_auth.require.a..b");
    }

    #[test]
    fn extra_headers_may_not_replace_reserved_or_hop_by_hop_headers() {
        for name in [
            "X-Auth-Request-Email",
            "Set-Cookie",
            "Cache-Control",
            "Location",
            "Connection",
            "Proxy-Authorization",
        ] {
            let mut o = ForwardAuthOptions::default();
            o.headers.insert(name.into(), "email".into());
            assert_eq!(field_of(o), format!("forward_auth.headers.{name}"));
        }
        let mut o = ForwardAuthOptions::default();
        o.headers.insert("Bad Header".into(), "role".into());
        assert_eq!(field_of(o), "forward_auth.headers.Bad Header");
        let mut o = ForwardAuthOptions::default();
        o.headers
            .insert("X-Auth-Request-Role".into(), "role".into());
        assert_eq!(o.validate().unwrap().policy().headers.len(), 1);
    }

    #[test]
    fn update_replaces_the_rules_for_every_clone() {
        let g = ForwardAuthOptions::default().validate().unwrap();
        let mounted = g.clone();
        let mut next = ForwardAuthOptions::default();
        next.require.insert("role".into(), vec!["admin".into()]);
        g.update(&next).unwrap();
        assert_eq!(mounted.policy().requirements.all.len(), 1);
    }

    #[test]
    fn update_refuses_invalid_rules_and_keeps_the_old_ones() {
        let g = ForwardAuthOptions::default().validate().unwrap();
        let mut bad = ForwardAuthOptions::default();
        bad.require.insert("role".into(), vec![]);
        assert_eq!(
            g.update(&bad).unwrap_err().field,
            "forward_auth.require.role"
        );
        assert!(g.policy().requirements.all.is_empty());
    }

    #[test]
    fn update_refuses_a_new_path() {
        let g = ForwardAuthOptions::default().validate().unwrap();
        let moved = ForwardAuthOptions {
            path: "/elsewhere".into(),
            ..Default::default()
        };
        assert_eq!(g.update(&moved).unwrap_err().field, "forward_auth.path");
        assert_eq!(g.path(), DEFAULT_PATH);
    }

    #[test]
    fn retry_after_must_be_positive() {
        let o = ForwardAuthOptions {
            retry_after_secs: 0,
            ..Default::default()
        };
        assert_eq!(field_of(o), "forward_auth.retry_after_secs");
    }
}
