//! The decision: the configured rules and the route's narrowing, all of which must pass.

use std::fmt;

use crate::forward_auth::access::Requirements;
use crate::forward_auth::policy::Policy;
use crate::forward_auth::rules::{Narrowing, Subject};

/// Why a signed-in subject was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// An email list or domain list did not contain the subject's email (or it has none).
    Email,
    /// A claim rule failed; the path is named (never the value).
    Claim(String),
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Email => f.write_str("email not allowed"),
            Denial::Claim(path) => write!(f, "claim {path} not accepted"),
        }
    }
}

/// The configured rules (`requirements`: a matching access rule's, else the section's) and the
/// route's narrowing, all of which must pass.
pub fn check(
    policy: &Policy,
    requirements: &Requirements,
    narrowing: &Narrowing,
    subject: &Subject,
) -> Result<(), Denial> {
    let email = subject.email();
    let email = email.as_deref();
    // Configured lists: any one admits (people plus whole domains), as in oauth2-proxy.
    let configured_ok =
        policy.email_rules.is_empty() || policy.email_rules.iter().any(|r| r.matches(email));
    if !configured_ok || !narrowing.email.iter().all(|r| r.matches(email)) {
        return Err(Denial::Email);
    }
    if let Some(path) = requirements.unmet(subject) {
        return Err(Denial::Claim(path));
    }
    for rule in &narrowing.require {
        if !rule.matches(subject) {
            return Err(Denial::Claim(rule.path().to_string()));
        }
    }
    Ok(())
}
