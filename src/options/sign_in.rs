//! `[sign_in_protection]`: brute force and e-mail flooding stop at the proxy. Plain data; the
//! counting is [`crate::signin_guard`].

use serde::{Deserialize, Serialize};

use crate::core::error::ConfigError;

/// One budget: `max` events per `window_s` seconds (GCRA: a burst of `max`, refilled at
/// `max` per window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Events allowed in a burst, and per window.
    pub max: u32,
    /// The window, in seconds.
    pub window_s: u64,
}

/// The `[sign_in_protection]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignInProtectionOptions {
    /// On by default.
    pub enabled: bool,
    /// Form fields naming the account of a credentials sign-in; every one present counts.
    pub account_fields: Vec<String>,
    /// The ids of the app's credentials providers (`POST callback/<id>`). Default
    /// `["credentials"]`, Auth.js's default id.
    pub credentials_providers: Vec<String>,
    /// Failed credentials sign-ins per (account, client IP); spent → refused for `lockout_s`.
    pub account_ip_failures: Budget,
    /// Failed credentials sign-ins per client IP, any account; spent → refused for
    /// `lockout_s`.
    pub ip_failures: Budget,
    /// Failed credentials sign-ins per account from every IP: spent → `429` until the budget
    /// refills (a slow-down, never a lockout: nobody can lock a user out from elsewhere).
    pub account_failures: Budget,
    /// How long a spent lockout budget refuses, in seconds.
    pub lockout_s: u64,
    /// E-mail sign-ins (magic links) per recipient address.
    pub email_per_address: Budget,
    /// E-mail sign-ins per client IP, any address.
    pub email_per_ip: Budget,
}

impl Default for SignInProtectionOptions {
    fn default() -> Self {
        SignInProtectionOptions {
            enabled: true,
            account_fields: vec!["email".into(), "username".into()],
            credentials_providers: vec!["credentials".into()],
            account_ip_failures: Budget {
                max: 5,
                window_s: 600,
            },
            ip_failures: Budget {
                max: 20,
                window_s: 600,
            },
            account_failures: Budget {
                max: 50,
                window_s: 3600,
            },
            lockout_s: 600,
            email_per_address: Budget {
                max: 3,
                window_s: 600,
            },
            email_per_ip: Budget {
                max: 20,
                window_s: 600,
            },
        }
    }
}

impl SignInProtectionOptions {
    /// Checks every value; the error names the field at fault.
    pub fn check(&self) -> Result<(), ConfigError> {
        let budgets = [
            ("account_ip_failures", self.account_ip_failures),
            ("ip_failures", self.ip_failures),
            ("account_failures", self.account_failures),
            ("email_per_address", self.email_per_address),
            ("email_per_ip", self.email_per_ip),
        ];
        for (name, b) in budgets {
            if b.max == 0 || b.window_s == 0 || b.window_s > 31 * 24 * 3600 {
                return Err(ConfigError::new(
                    format!("sign_in_protection.{name}"),
                    "needs max >= 1 and window_s from 1 to 2678400 (31 days)",
                ));
            }
        }
        if self.lockout_s > 31 * 24 * 3600 {
            return Err(ConfigError::new(
                "sign_in_protection.lockout_s",
                "must be at most 2678400 (31 days)",
            ));
        }
        if self.enabled && self.account_fields.iter().all(|f| f.trim().is_empty()) {
            return Err(ConfigError::new(
                "sign_in_protection.account_fields",
                "must name at least one form field (e.g. \"email\")",
            ));
        }
        Ok(())
    }
}
