use serde_json::json;

use super::*;
use crate::forward_auth::decide::{Denial, check};
use crate::options::ForwardAuthOptions;

fn claims(v: Value) -> Subject {
    Subject::from_claims(v.as_object().unwrap().clone())
}

fn session(v: Value) -> Subject {
    Subject::from_session(v.as_object().unwrap().clone())
}

fn ada() -> Subject {
    claims(json!({
        "sub": "u-ada", "email": "Ada@Example.com", "name": "Ada Lovelace",
        "role": "admin", "groups": ["eng", "ops"], "org": {"team": "core", "level": 3},
        "verified": true
    }))
}

fn policy(edit: impl FnOnce(&mut ForwardAuthOptions)) -> crate::forward_auth::ForwardAuth {
    let mut o = ForwardAuthOptions::default();
    edit(&mut o);
    o.validate().unwrap()
}

fn decide(
    edit: impl FnOnce(&mut ForwardAuthOptions),
    query: &str,
    s: &Subject,
) -> Result<(), Denial> {
    let p = policy(edit).policy();
    check(&p, &p.requirements, &Narrowing::parse(query).unwrap(), s)
}

fn path(s: &str) -> ClaimPath {
    s.parse().unwrap()
}

// --- claim paths -------------------------------------------------------------------------

#[test]
fn claim_paths_reach_nested_values() {
    assert_eq!(ada().get(&path("org.team")), Some(&json!("core")));
    assert_eq!(ada().get(&path("org.missing")), None);
    assert_eq!(ada().get(&path("role.deeper")), None);
}

#[test]
fn malformed_claim_paths_are_refused() {
    for p in ["", ".", "a.", ".a", "a..b", "a b", "a\nb"] {
        assert!(p.parse::<ClaimPath>().is_err(), "{p:?}");
    }
}

#[test]
fn a_session_path_also_looks_under_user() {
    let s = session(json!({"user": {"id": "u-1", "role": "admin"}, "expires": "x"}));
    assert_eq!(s.get(&path("role")), Some(&json!("admin")));
    assert_eq!(s.get(&path("expires")), Some(&json!("x")));
    let c = claims(json!({"user": {"role": "admin"}}));
    assert_eq!(c.get(&path("role")), None, "claims are read as they are");
}

#[test]
fn a_null_claim_counts_as_absent() {
    assert_eq!(claims(json!({"role": null})).get(&path("role")), None);
}

// --- identity -----------------------------------------------------------------------------

#[test]
fn user_is_sub_else_user_id() {
    assert_eq!(ada().user_id().as_deref(), Some("u-ada"));
    let s = session(json!({"user": {"id": "u-db", "email": "d@x.com", "name": "D"}}));
    assert_eq!(s.user_id().as_deref(), Some("u-db"));
    assert_eq!(s.email().as_deref(), Some("d@x.com"));
    assert_eq!(s.name().as_deref(), Some("D"));
    let numeric = session(json!({"user": {"id": 42}}));
    assert_eq!(numeric.user_id().as_deref(), Some("42"));
    assert_eq!(claims(json!({})).user_id(), None);
}

// --- email rules --------------------------------------------------------------------------

#[test]
fn no_rules_admit_anyone_signed_in() {
    assert_eq!(decide(|_| {}, "", &claims(json!({"sub": "x"}))), Ok(()));
}

#[test]
fn allowed_emails_compare_case_insensitively() {
    let only_ada = |o: &mut ForwardAuthOptions| o.allowed_emails = vec!["ada@example.com".into()];
    assert_eq!(decide(only_ada, "", &ada()), Ok(()));
    let grace = claims(json!({"email": "grace@example.com"}));
    assert_eq!(decide(only_ada, "", &grace), Err(Denial::Email));
}

#[test]
fn allowed_domains_match_the_exact_domain_only() {
    let ex = |o: &mut ForwardAuthOptions| o.allowed_email_domains = vec!["example.com".into()];
    assert_eq!(decide(ex, "", &ada()), Ok(()));
    for email in [
        "x@sub.example.com",
        "x@example.com.evil.test",
        "x@evilexample.com",
        "example.com",
        "@example.com",
    ] {
        assert_eq!(
            decide(ex, "", &claims(json!({"email": email}))),
            Err(Denial::Email),
            "{email}"
        );
    }
}

#[test]
fn a_subject_without_email_fails_any_email_rule() {
    let ex = |o: &mut ForwardAuthOptions| o.allowed_email_domains = vec!["example.com".into()];
    assert_eq!(
        decide(ex, "", &claims(json!({"sub": "x"}))),
        Err(Denial::Email)
    );
    assert_eq!(
        decide(ex, "", &claims(json!({"email": 5}))),
        Err(Denial::Email)
    );
}

#[test]
fn configured_emails_and_domains_each_admit() {
    let both = |o: &mut ForwardAuthOptions| {
        o.allowed_emails = vec!["guest@other.org".into()];
        o.allowed_email_domains = vec!["example.com".into()];
    };
    assert_eq!(decide(both, "", &ada()), Ok(()));
    assert_eq!(
        decide(both, "", &claims(json!({"email": "guest@other.org"}))),
        Ok(())
    );
    assert_eq!(
        decide(both, "", &claims(json!({"email": "x@other.org"}))),
        Err(Denial::Email)
    );
}

// --- claim rules --------------------------------------------------------------------------

fn role_admin_or_staff(o: &mut ForwardAuthOptions) {
    o.require
        .insert("role".into(), vec!["admin".into(), "staff".into()]);
}

#[test]
fn require_accepts_any_listed_value() {
    assert_eq!(decide(role_admin_or_staff, "", &ada()), Ok(()));
    let staff = claims(json!({"role": "staff"}));
    assert_eq!(decide(role_admin_or_staff, "", &staff), Ok(()));
}

#[test]
fn require_refuses_other_values_and_missing_claims() {
    for s in [
        claims(json!({"role": "user"})),
        claims(json!({})),
        claims(json!({"role": {"admin": true}})),
    ] {
        assert_eq!(
            decide(role_admin_or_staff, "", &s),
            Err(Denial::Claim("role".into()))
        );
    }
}

#[test]
fn require_is_case_sensitive() {
    assert_eq!(
        decide(role_admin_or_staff, "", &claims(json!({"role": "Admin"}))),
        Err(Denial::Claim("role".into()))
    );
}

#[test]
fn a_list_claim_matches_when_any_element_does() {
    let ops = |o: &mut ForwardAuthOptions| {
        o.require.insert("groups".into(), vec!["ops".into()]);
    };
    assert_eq!(decide(ops, "", &ada()), Ok(()));
    assert_eq!(
        decide(ops, "", &claims(json!({"groups": ["eng"]}))),
        Err(Denial::Claim("groups".into()))
    );
}

#[test]
fn nested_numbers_and_booleans_compare_as_text() {
    let rules = |o: &mut ForwardAuthOptions| {
        o.require.insert("org.level".into(), vec!["3".into()]);
        o.require.insert("verified".into(), vec!["true".into()]);
    };
    assert_eq!(decide(rules, "", &ada()), Ok(()));
}

#[test]
fn every_require_entry_must_match() {
    let rules = |o: &mut ForwardAuthOptions| {
        o.require.insert("role".into(), vec!["admin".into()]);
        o.require.insert("org.team".into(), vec!["infra".into()]);
    };
    assert_eq!(
        decide(rules, "", &ada()),
        Err(Denial::Claim("org.team".into()))
    );
}

#[test]
fn session_rules_find_claims_under_user() {
    let s = session(json!({"user": {"email": "a@example.com", "role": "admin"}}));
    assert_eq!(decide(role_admin_or_staff, "", &s), Ok(()));
}

// --- query narrowing ----------------------------------------------------------------------

#[test]
fn query_domains_narrow_an_open_policy() {
    assert_eq!(
        decide(|_| {}, "allowed_email_domains=example.com,b.com", &ada()),
        Ok(())
    );
    assert_eq!(
        decide(|_| {}, "allowed_email_domains=b.com", &ada()),
        Err(Denial::Email)
    );
}

#[test]
fn query_emails_narrow_an_open_policy() {
    assert_eq!(
        decide(|_| {}, "allowed_emails=ADA%40example.com", &ada()),
        Ok(())
    );
    assert_eq!(
        decide(|_| {}, "allowed_emails=grace%40example.com", &ada()),
        Err(Denial::Email)
    );
}

#[test]
fn query_domains_never_widen_configured_domains() {
    let only_b = |o: &mut ForwardAuthOptions| o.allowed_email_domains = vec!["b.com".into()];
    assert_eq!(
        decide(only_b, "allowed_email_domains=example.com,b.com", &ada()),
        Err(Denial::Email)
    );
}

#[test]
fn query_emails_never_widen_configured_emails() {
    let only_grace =
        |o: &mut ForwardAuthOptions| o.allowed_emails = vec!["grace@example.com".into()];
    assert_eq!(
        decide(only_grace, "allowed_emails=ada%40example.com", &ada()),
        Err(Denial::Email)
    );
}

#[test]
fn query_require_never_widens_configured_require() {
    let only_staff = |o: &mut ForwardAuthOptions| {
        o.require.insert("role".into(), vec!["staff".into()]);
    };
    assert_eq!(
        decide(only_staff, "require=role:admin,staff", &ada()),
        Err(Denial::Claim("role".into()))
    );
}

#[test]
fn query_require_narrows_configured_require() {
    let staff = claims(json!({"role": "staff"}));
    assert_eq!(
        decide(role_admin_or_staff, "require=role:admin", &ada()),
        Ok(())
    );
    assert_eq!(
        decide(role_admin_or_staff, "require=role:admin", &staff),
        Err(Denial::Claim("role".into()))
    );
}

#[test]
fn repeated_query_require_must_all_match() {
    let q = "require=groups:eng&require=groups:ops&require=org.team:core";
    assert_eq!(decide(|_| {}, q, &ada()), Ok(()));
    let q = "require=groups:eng&require=groups:finance";
    assert_eq!(
        decide(|_| {}, q, &ada()),
        Err(Denial::Claim("groups".into()))
    );
}

#[test]
fn repeated_query_domain_lists_must_all_match() {
    let q = "allowed_email_domains=example.com&allowed_email_domains=b.com";
    assert_eq!(decide(|_| {}, q, &ada()), Err(Denial::Email));
}

#[test]
fn malformed_narrowing_values_are_errors() {
    for q in [
        "allowed_email_domains=",
        "allowed_email_domains=a.com,",
        "allowed_email_domains=%40a.com",
        "allowed_emails=a.com",
        "require=role",
        "require=role:",
        "require=:admin",
        "require=a..b:x",
        "require=role:admin,",
    ] {
        assert!(Narrowing::parse(q).is_err(), "{q}");
    }
    assert_eq!(Narrowing::parse(""), Ok(Narrowing::default()));
}

#[test]
fn other_query_parameters_are_the_clients_and_ignored() {
    let q = "page=2&widen=true&sort=name";
    assert_eq!(Narrowing::parse(q), Ok(Narrowing::default()));
    assert_eq!(decide(|_| {}, q, &ada()), Ok(()));
}

#[test]
fn a_misspelt_narrowing_key_is_refused_never_ignored() {
    for q in [
        "allowed_email_domain=typo.com",
        "Allowed_Email_Domains=corp.com",
        "allowed-emails=a@corp.com",
        "require_all=role:admin",
        "Require=role:admin",
        "require[]=role:admin",
        "REQUIRE=role:admin",
    ] {
        assert_eq!(
            Narrowing::parse(q),
            Err(RuleError::UnknownKey(
                q.split('=').next().unwrap().to_owned()
            )),
            "{q}"
        );
    }
}

#[test]
fn an_email_claim_that_is_not_exactly_one_address_never_matches() {
    let domain = |o: &mut ForwardAuthOptions| o.allowed_email_domains = vec!["corp.com".into()];
    let email = |o: &mut ForwardAuthOptions| o.allowed_emails = vec!["a@corp.com".into()];
    for claim in [
        "x@evil.example, a@corp.com",
        "x@evil.example@corp.com",
        "x y@corp.com",
        "<x@evil.example>a@corp.com",
        "x(comment)@corp.com",
        "\"x@evil\"@corp.com",
        "x;a@corp.com",
        " a@corp.com",
        "a@corp.com ",
    ] {
        let s = claims(json!({ "sub": "u", "email": claim }));
        assert_eq!(decide(domain, "", &s), Err(Denial::Email), "{claim}");
        assert_eq!(decide(email, "", &s), Err(Denial::Email), "{claim}");
        assert_eq!(
            decide(|_| {}, "allowed_email_domains=corp.com", &s),
            Err(Denial::Email),
            "{claim}"
        );
    }
    let s = claims(json!({ "sub": "u", "email": "A@Corp.com" }));
    assert_eq!(decide(domain, "", &s), Ok(()));
    assert_eq!(decide(email, "", &s), Ok(()));
}

#[test]
fn a_client_query_next_to_narrowing_cannot_widen_it() {
    let q = "allowed_email_domains=b.com&page=2&allowed_email_domains=example.com";
    assert_eq!(decide(|_| {}, q, &ada()), Err(Denial::Email));
}

// --- header values ------------------------------------------------------------------------

#[test]
fn claims_render_as_header_text() {
    assert_eq!(claim_text(&json!("a")).as_deref(), Some("a"));
    assert_eq!(claim_text(&json!(3)).as_deref(), Some("3"));
    assert_eq!(claim_text(&json!(true)).as_deref(), Some("true"));
    assert_eq!(
        claim_text(&json!(["eng", "ops"])).as_deref(),
        Some("eng,ops")
    );
    assert_eq!(claim_text(&json!({"a": 1})), None);
    assert_eq!(claim_text(&json!([["nested"]])), None);
}

#[test]
fn header_injection_through_a_claim_is_refused() {
    for evil in [
        "admin\r\nX-Auth-Request-Email: root@example.com",
        "admin\nSet-Cookie: a=b",
        "admin\r",
        "a\0b",
        "a\tb",
        "a\u{7f}b",
        "a\u{85}b",
        " leading",
        "",
    ] {
        assert_eq!(safe_header_value(evil), None, "{evil:?}");
    }
    let long = "x".repeat(MAX_HEADER_VALUE + 1);
    assert_eq!(safe_header_value(&long), None);
}

#[test]
fn injection_through_a_list_claim_is_refused() {
    let text = claim_text(&json!(["ok", "x\r\nSet-Cookie: a=b"])).unwrap();
    assert_eq!(safe_header_value(&text), None);
}

#[test]
fn ordinary_and_non_ascii_values_are_kept() {
    assert_eq!(safe_header_value("Ada Lovelace").unwrap(), "Ada Lovelace");
    assert_eq!(
        safe_header_value("Grace Höpper").unwrap().as_bytes(),
        "Grace Höpper".as_bytes()
    );
}
