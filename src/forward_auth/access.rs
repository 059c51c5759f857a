//! Access rules by original path and method (`[[forward_auth.rules]]`), first match wins, like
//! oauth2-proxy's skip-auth routes and Authelia's access rules; and the claim requirements a
//! signed-in subject must meet (all of `require`, and one whole group of `require_any`).

use std::collections::BTreeMap;

use actix_web::http::Method;
use regex::Regex;

use crate::core::error::ConfigError;
use crate::forward_auth::original::{Original, normalize};
use crate::forward_auth::rules::{ClaimPath, Require, Subject};
use crate::options::forward_auth::{RuleAction, RuleOptions};

/// Claim requirements: every one of `all`, and every one of at least one group of `any_of`
/// (no groups: nothing more).
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    pub(crate) all: Vec<Require>,
    pub(crate) any_of: Vec<Vec<Require>>,
}

impl Requirements {
    /// Reads `require` and `require_any` (`field` names them in errors).
    pub fn parse(
        field: &str,
        require: &BTreeMap<String, Vec<String>>,
        require_any: &[BTreeMap<String, Vec<String>>],
    ) -> Result<Self, ConfigError> {
        let all = parse_group(&format!("{field}.require"), require)?;
        let mut any_of = Vec::with_capacity(require_any.len());
        for (i, group) in require_any.iter().enumerate() {
            let field = format!("{field}.require_any[{i}]");
            if group.is_empty() {
                return Err(ConfigError::new(field, "must name at least one claim"));
            }
            any_of.push(parse_group(&field, group)?);
        }
        Ok(Requirements { all, any_of })
    }

    /// The first requirement `subject` fails (its claim path), `None` when it meets them.
    pub fn unmet(&self, subject: &Subject) -> Option<String> {
        if let Some(r) = self.all.iter().find(|r| !r.matches(subject)) {
            return Some(r.path().to_string());
        }
        let any_group = self.any_of.is_empty()
            || self
                .any_of
                .iter()
                .any(|group| group.iter().all(|r| r.matches(subject)));
        (!any_group).then(|| "require_any".to_owned())
    }
}

fn parse_group(
    field: &str,
    group: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Require>, ConfigError> {
    let mut out = Vec::with_capacity(group.len());
    for (claim, values) in group {
        let field = format!("{field}.{claim}");
        let path: ClaimPath = claim
            .parse()
            .map_err(|e| ConfigError::new(field.clone(), format!("{e}")))?;
        if values.is_empty() {
            return Err(ConfigError::new(
                field,
                "must list at least one accepted value",
            ));
        }
        out.push(Require::new(path, values.clone()));
    }
    Ok(out)
}

/// Which paths a rule applies to.
#[derive(Debug, Clone)]
enum PathMatch {
    /// The path itself or anything below it (segment boundary).
    Prefix(String),
    /// The whole path matches.
    Regex(Regex),
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct AccessRule {
    path: PathMatch,
    methods: Vec<Method>,
    /// What it does.
    pub action: RuleAction,
    /// Unauthenticated requests get `401`, never a redirect.
    pub api: bool,
    /// Requirements replacing the section's (authenticate rules that set any).
    pub requirements: Option<Requirements>,
}

impl AccessRule {
    /// Compiles `[[forward_auth.rules]]` entry `i`.
    pub fn compile(i: usize, opts: &RuleOptions) -> Result<Self, ConfigError> {
        let field = format!("forward_auth.rules[{i}]");
        let path = match (&opts.path, &opts.path_regex) {
            (Some(p), None) => {
                let normal = normalize(p).map_err(|_| {
                    ConfigError::new(
                        format!("{field}.path"),
                        "must be an absolute path without escapes or backslashes",
                    )
                })?;
                PathMatch::Prefix(normal.trim_end_matches('/').to_owned())
            }
            (None, Some(re)) => {
                PathMatch::Regex(Regex::new(&format!("^(?:{re})$")).map_err(|e| {
                    ConfigError::new(
                        format!("{field}.path_regex"),
                        format!("is not a regex: {e}"),
                    )
                })?)
            }
            _ => {
                return Err(ConfigError::new(
                    field,
                    "needs exactly one of path and path_regex",
                ));
            }
        };
        let methods = opts
            .methods
            .iter()
            .map(|m| {
                Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes()).map_err(|_| {
                    ConfigError::new(format!("{field}.methods"), format!("{m:?} is not a method"))
                })
            })
            .collect::<Result<_, _>>()?;
        let sets_requirements = !opts.require.is_empty() || !opts.require_any.is_empty();
        if sets_requirements && opts.action != RuleAction::Authenticate {
            return Err(ConfigError::new(
                field,
                "require and require_any apply only to action = \"authenticate\"",
            ));
        }
        let requirements = sets_requirements
            .then(|| Requirements::parse(&field, &opts.require, &opts.require_any))
            .transpose()?;
        Ok(AccessRule {
            path,
            methods,
            action: opts.action,
            api: opts.api,
            requirements,
        })
    }

    /// Whether the rule applies to `original` (a rule never matches an unknown path).
    ///
    /// A rule that restricts (deny, or its own requirements) matches whatever the case of the
    /// path, since many app routers ignore case; an `allow` rule matches the exact case only.
    /// `GET` in `methods` covers `HEAD` (frameworks answer `HEAD` with the `GET` handler).
    fn matches(&self, original: &Original) -> bool {
        if !self.methods.is_empty() {
            let Some(method) = &original.method else {
                return false;
            };
            let head_as_get = *method == Method::HEAD && self.methods.contains(&Method::GET);
            if !self.methods.contains(method) && !head_as_get {
                return false;
            }
        }
        let Some(path) = &original.path else {
            return false;
        };
        let restricts = self.action == RuleAction::Deny || self.requirements.is_some();
        match &self.path {
            PathMatch::Prefix(prefix) => {
                let rest = if restricts {
                    path.get(..prefix.len())
                        .filter(|head| head.eq_ignore_ascii_case(prefix))
                        .map(|_| &path[prefix.len()..])
                } else {
                    path.strip_prefix(prefix.as_str())
                };
                prefix.is_empty()
                    || rest.is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
            PathMatch::Regex(re) if restricts => {
                re.is_match(path) || re.is_match(&path.to_ascii_lowercase())
            }
            PathMatch::Regex(re) => re.is_match(path),
        }
    }
}

/// The first of `rules` that applies to `original`.
pub fn first_match<'r>(rules: &'r [AccessRule], original: &Original) -> Option<&'r AccessRule> {
    rules.iter().find(|r| r.matches(original))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_json: serde_json::Value) -> AccessRule {
        AccessRule::compile(0, &serde_json::from_value(toml_json).unwrap()).unwrap()
    }

    fn at(method: &str, path: &str) -> Original {
        Original {
            method: Some(method.parse().unwrap()),
            path: Some(path.into()),
        }
    }

    #[test]
    fn a_prefix_matches_on_segment_boundaries() {
        let r = rule(serde_json::json!({"path": "/public/", "action": "allow"}));
        assert!(r.matches(&at("GET", "/public")));
        assert!(r.matches(&at("GET", "/public/a/b")));
        assert!(!r.matches(&at("GET", "/publicity")));
        assert!(!r.matches(&at("GET", "/")));
    }

    #[test]
    fn a_regex_matches_the_whole_path() {
        let r = rule(serde_json::json!({"path_regex": "/api/v[0-9]+/health", "action": "allow"}));
        assert!(r.matches(&at("GET", "/api/v2/health")));
        assert!(!r.matches(&at("GET", "/api/v2/health/x")));
        assert!(!r.matches(&at("GET", "/x/api/v2/health")));
    }

    #[test]
    fn methods_narrow_a_rule_and_an_unknown_path_matches_nothing() {
        let r =
            rule(serde_json::json!({"path": "/", "methods": ["get", "HEAD"], "action": "allow"}));
        assert!(r.matches(&at("GET", "/x")));
        assert!(!r.matches(&at("POST", "/x")));
        let unknown = Original {
            method: Some(Method::GET),
            path: None,
        };
        assert!(!r.matches(&unknown));
        let no_method = Original {
            method: None,
            path: Some("/x".into()),
        };
        assert!(
            !r.matches(&no_method),
            "a method-scoped rule needs the method"
        );
        assert!(r.matches(&at("HEAD", "/x")), "GET covers HEAD");
    }

    #[test]
    fn a_restricting_rule_ignores_case_and_an_allow_rule_does_not() {
        let deny = rule(serde_json::json!({"path": "/internal", "action": "deny"}));
        assert!(deny.matches(&at("GET", "/Internal/x")));
        let allow = rule(serde_json::json!({"path": "/public", "action": "allow"}));
        assert!(!allow.matches(&at("GET", "/PUBLIC/x")));
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let rules = vec![
            rule(serde_json::json!({"path": "/public/private", "action": "deny"})),
            rule(serde_json::json!({"path": "/public", "action": "allow"})),
        ];
        let got = |p| first_match(&rules, &at("GET", p)).map(|r| r.action);
        assert_eq!(got("/public/private/x"), Some(RuleAction::Deny));
        assert_eq!(got("/public/x"), Some(RuleAction::Allow));
        assert_eq!(got("/other"), None);
    }

    #[test]
    fn bad_rules_are_refused_naming_the_field() {
        for (bad, field) in [
            (serde_json::json!({}), "forward_auth.rules[0]"),
            (
                serde_json::json!({"path": "/a", "path_regex": "x"}),
                "forward_auth.rules[0]",
            ),
            (
                serde_json::json!({"path": "a"}),
                "forward_auth.rules[0].path",
            ),
            (
                serde_json::json!({"path": "/a%2fb"}),
                "forward_auth.rules[0].path",
            ),
            (
                serde_json::json!({"path_regex": "("}),
                "forward_auth.rules[0].path_regex",
            ),
            (
                serde_json::json!({"path": "/", "methods": ["G T"]}),
                "forward_auth.rules[0].methods",
            ),
            (
                serde_json::json!({"path": "/", "action": "allow", "require": {"role": ["a"]}}),
                "forward_auth.rules[0]",
            ),
            (
                serde_json::json!({"path": "/", "require_any": [{}]}),
                "forward_auth.rules[0].require_any[0]",
            ),
        ] {
            let opts: RuleOptions = serde_json::from_value(bad.clone()).unwrap();
            let err = AccessRule::compile(0, &opts).unwrap_err();
            assert_eq!(err.field, field, "{bad}");
        }
    }

    #[test]
    fn any_of_groups_admit_a_subject_meeting_one_whole_group() {
        let mut admin = BTreeMap::new();
        admin.insert("role".to_owned(), vec!["admin".to_owned()]);
        let mut ops = BTreeMap::new();
        ops.insert("groups".to_owned(), vec!["ops".to_owned()]);
        let req = Requirements::parse("f", &BTreeMap::new(), &[admin, ops]).unwrap();
        let subject = |v: serde_json::Value| Subject::from_claims(v.as_object().unwrap().clone());
        assert_eq!(
            req.unmet(&subject(serde_json::json!({"role": "admin"}))),
            None
        );
        assert_eq!(
            req.unmet(&subject(serde_json::json!({"groups": ["x", "ops"]}))),
            None
        );
        assert!(
            req.unmet(&subject(serde_json::json!({"role": "user"})))
                .is_some()
        );
    }
}
