use super::*;

fn claims(v: serde_json::Value) -> Claims {
    Claims(v.as_object().unwrap().clone())
}

#[test]
fn a_uuid_jti_is_its_own_id_whatever_the_key() {
    let c = claims(serde_json::json!({"jti": "0f8fad5b-d9cb-469f-a165-70867728950e"}));
    let (a, b) = (IdKey::random(), IdKey::random());
    assert_eq!(TokenId::of(&a, &c, "x"), TokenId::of(&b, &c, "y"));
    assert_eq!(
        TokenId::of(&a, &c, "x").hex(),
        "0f8fad5bd9cb469fa16570867728950e"
    );
}

#[test]
fn other_jtis_and_tokens_without_one_are_named_by_a_keyed_hash() {
    let odd = claims(serde_json::json!({"jti": "not-a-uuid"}));
    let none = claims(serde_json::json!({"sub": "u"}));
    let (a, b) = (IdKey::derive("one"), IdKey::derive("two"));
    assert_eq!(
        TokenId::of(&a, &odd, "t"),
        TokenId::of(&IdKey::derive("one"), &odd, "t")
    );
    assert_ne!(TokenId::of(&a, &odd, "t"), TokenId::of(&b, &odd, "t"));
    assert_ne!(TokenId::of(&a, &none, "t1"), TokenId::of(&a, &none, "t2"));
    assert_eq!(TokenId::of(&a, &none, "t1"), TokenId::of_bytes(&a, "t1"));
}

#[test]
fn ids_read_back_from_hex_and_nothing_else_reads() {
    let id = TokenId(0x1234);
    assert_eq!(TokenId::from_hex(&id.hex()), Some(id));
    for bad in [
        "",
        "12",
        "zz000000000000000000000000000000",
        "+0000000000000000000000000000001",
    ] {
        assert_eq!(TokenId::from_hex(bad), None, "{bad:?}");
    }
}

#[test]
fn a_revoked_token_is_refused_until_it_expires_and_then_forgotten() {
    let list = Revocations::default();
    assert!(list.is_empty());
    list.revoke_token(TokenId(7), 1_000, 900);
    assert!(list.token_revoked(TokenId(7), 999));
    assert!(!list.token_revoked(TokenId(8), 999));
    assert!(!list.token_revoked(TokenId(7), 1_000));
    list.sweep(1_000);
    assert!(list.is_empty());
}

#[test]
fn an_expired_token_is_not_listed_at_all() {
    let list = Revocations::default();
    assert!(!list.revoke_token(TokenId(7), 100, 100));
    assert!(list.is_empty());
}

#[test]
fn a_subject_cutoff_refuses_older_tokens_of_that_subject_only() {
    let list = Revocations::default();
    let cut = Cutoff {
        before: 500,
        until: 2_000,
    };
    list.revoke_subject("ada", cut, 500);
    assert!(list.subject_revoked(Some("ada"), Some(499), 600));
    assert!(!list.subject_revoked(Some("ada"), Some(500), 600));
    assert!(!list.subject_revoked(Some("bob"), Some(1), 600));
    assert!(list.subject_revoked(Some("ada"), None, 600));
    assert!(!list.subject_revoked(Some("ada"), Some(1), 2_000));
    assert_eq!(list.subjects(600), vec![("ada".to_owned(), cut)]);
}

#[test]
fn an_older_cutoff_never_replaces_a_newer_one() {
    let list = Revocations::default();
    let newer = Cutoff {
        before: 800,
        until: 5_000,
    };
    list.revoke_subject("ada", newer, 100);
    assert!(!list.revoke_subject(
        "ada",
        Cutoff {
            before: 300,
            until: 5_000
        },
        100
    ));
    assert_eq!(list.subjects(100), vec![("ada".to_owned(), newer)]);
}

#[test]
fn a_published_message_applies_and_junk_is_ignored() {
    let list = Revocations::default();
    let now = now_secs();
    shared::apply_for_tests(&list, &format!("t {} {}", TokenId(9).hex(), now + 60), 3600);
    shared::apply_for_tests(&list, &format!("s 10 {} ada lovelace", now + 60), 3600);
    for junk in [
        "",
        "t",
        "t zz 1",
        "s x y z",
        "q 1 2 3",
        "t 00 99999999999999999999999",
    ] {
        shared::apply_for_tests(&list, junk, 3600);
    }
    assert!(list.token_revoked(TokenId(9), now));
    assert!(list.subject_revoked(Some("ada lovelace"), Some(9), now));
    assert_eq!(list.token_count(), 1);
}

#[test]
fn what_redis_says_is_bounded_by_the_session_max_age() {
    let list = Revocations::default();
    let now = now_secs();
    shared::apply_for_tests(&list, &format!("t {} {}", TokenId(9).hex(), u64::MAX), 60);
    assert!(list.token_revoked(TokenId(9), now + 59));
    assert!(!list.token_revoked(TokenId(9), now + 61));
}
