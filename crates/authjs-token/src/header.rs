//! The JWE protected header, read the way jose reads it: `TextDecoder` (fatal, one leading BOM
//! dropped), then `JSON.parse`, then "is it a plain object". So escapes are decoded, a duplicated
//! member keeps its last value, unknown members are ignored whatever they hold, and `null` is a
//! value like any other (`"kid": null` is a kid that matches nothing).
//!
//! The fast path borrows every string from the decoded header and allocates nothing; a member
//! name or value with escapes is decoded into an owned string.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::DecodeError;

/// A header member that must be a string when present.
#[derive(Debug, Default, PartialEq)]
pub(super) enum Member<'a> {
    /// Not in the header.
    #[default]
    Absent,
    /// A string (escapes decoded).
    Str(Cow<'a, str>),
    /// Present with another type, `null` included.
    Other,
}

impl Member<'_> {
    pub(super) fn is(&self, expected: &str) -> bool {
        matches!(self, Member::Str(s) if s == expected)
    }
}

/// The members of a `dir` JWE protected header that decoding looks at.
#[derive(Debug, Default)]
pub(super) struct JweHeader<'a> {
    pub alg: Member<'a>,
    pub enc: Member<'a>,
    pub kid: Member<'a>,
    pub zip: Member<'a>,
    /// `crit` is present (any value: Auth.js recognises no extension, so jose refuses it).
    pub crit: bool,
    /// Replicated claims (RFC 7516 §5.3), checked against the claims after decryption.
    pub iss: Option<JsValue>,
    pub sub: Option<JsValue>,
    pub aud: Option<JsValue>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Drops one leading UTF-8 byte order mark, as `TextDecoder` does by default.
pub(super) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

impl<'a> JweHeader<'a> {
    /// Parses the decoded protected header.
    pub(super) fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let bad = || DecodeError::Malformed("protected header is not a JSON object");
        let text = std::str::from_utf8(strip_bom(bytes)).map_err(|_| bad())?;
        let mut escaped_name = false;
        let mut de = serde_json::Deserializer::from_str(text);
        let header = HeaderSeed {
            escaped_name: &mut escaped_name,
        }
        .deserialize(&mut de)
        .map_err(|_| bad())?;
        de.end().map_err(|_| bad())?;
        // A member name with escapes is read without serde_json's string checks (so that an
        // unpaired surrogate is accepted, as JSON.parse does); check the text the strict way.
        if escaped_name {
            serde_json::from_str::<IgnoredAny>(text).map_err(|_| bad())?;
        }
        Ok(header)
    }

    /// jose's `jwtDecrypt`: a replicated `iss`/`sub` must be the same value as the claim
    /// (`===`), a replicated `aud` must serialize the same (`JSON.stringify`).
    pub(super) fn check_replicated(
        &self,
        claims: &Map<String, Value>,
        plaintext: &[u8],
    ) -> Result<(), DecodeError> {
        for (name, header) in [("iss", &self.iss), ("sub", &self.sub)] {
            if let Some(h) = header
                && !claims.get(name).is_some_and(|c| h.strictly_equals(c))
            {
                return Err(DecodeError::InvalidClaim(
                    "replicated header parameter mismatch",
                ));
            }
        }
        if let Some(h) = &self.aud {
            // Claims are held in a sorted map; JSON.stringify needs the order they came in.
            let claim = payload_member(plaintext, "aud")
                .map_err(|_| DecodeError::Malformed("payload is not a JSON object"))?;
            if claim.as_ref() != Some(h) {
                return Err(DecodeError::InvalidClaim(
                    "replicated header parameter mismatch",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Name {
    Alg,
    Enc,
    Kid,
    Zip,
    Crit,
    Iss,
    Sub,
    Aud,
    Unknown,
}

impl Name {
    fn of(name: &[u8]) -> Self {
        match name {
            b"alg" => Name::Alg,
            b"enc" => Name::Enc,
            b"kid" => Name::Kid,
            b"zip" => Name::Zip,
            b"crit" => Name::Crit,
            b"iss" => Name::Iss,
            b"sub" => Name::Sub,
            b"aud" => Name::Aud,
            _ => Name::Unknown,
        }
    }
}

struct HeaderSeed<'f> {
    escaped_name: &'f mut bool,
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = JweHeader<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = JweHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut h = JweHeader::default();
        while let Some(key) = map.next_key_seed(NameSeed)? {
            let name = match key {
                NameRead::Plain(n) => n,
                NameRead::Escaped(n) => {
                    *self.escaped_name = true;
                    n
                }
            };
            // Later duplicates overwrite earlier ones, as in JSON.parse.
            match name {
                Name::Alg => h.alg = map.next_value_seed(MemberSeed)?,
                Name::Enc => h.enc = map.next_value_seed(MemberSeed)?,
                Name::Kid => h.kid = map.next_value_seed(MemberSeed)?,
                Name::Zip => h.zip = map.next_value_seed(MemberSeed)?,
                Name::Crit => {
                    map.next_value::<IgnoredAny>()?;
                    h.crit = true;
                }
                Name::Iss => h.iss = Some(map.next_value()?),
                Name::Sub => h.sub = Some(map.next_value()?),
                Name::Aud => h.aud = Some(map.next_value()?),
                Name::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(h)
    }
}

enum NameRead {
    /// Read from the text as is (checked here for raw control characters).
    Plain(Name),
    /// Had escapes; the caller validates the whole text.
    Escaped(Name),
}

/// Reads a member name as bytes: borrowed when it has no escapes, and with serde_json's lenient
/// escape handling (an unpaired surrogate is kept, as JSON.parse keeps it).
struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = NameRead;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = NameRead;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        // The lenient read lets raw control characters through; JSON.parse does not.
        if v.iter().any(|b| *b < 0x20) {
            return Err(E::custom("control character in a member name"));
        }
        Ok(NameRead::Plain(Name::of(v)))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(NameRead::Escaped(Name::of(v)))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.visit_borrowed_bytes(v.as_bytes())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.visit_bytes(v.as_bytes())
    }
}

/// Reads a member that matters only when it is a string.
struct MemberSeed;

impl<'de> DeserializeSeed<'de> for MemberSeed {
    type Value = Member<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Member::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Member::Other)
    }
}

/// A JSON value as JavaScript holds it after `JSON.parse`: numbers are doubles, object members
/// keep JavaScript's property order (array-index names first, ascending, then the others in the
/// order first seen; a duplicate keeps its place and takes the last value). Two values are equal
/// exactly when `JSON.stringify` writes them the same.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum JsValue {
    Null,
    Bool(bool),
    /// `-0` and `0` compare equal, as both stringify to `0`.
    Num(f64),
    Str(String),
    Arr(Vec<JsValue>),
    Obj(Vec<(String, JsValue)>),
}

impl JsValue {
    /// `this === claim` for a header parameter and a claim: primitives by value; an object or
    /// array parsed from the header is never the same object as one parsed from the claims.
    fn strictly_equals(&self, claim: &Value) -> bool {
        match (self, claim) {
            (JsValue::Null, Value::Null) => true,
            (JsValue::Bool(a), Value::Bool(b)) => a == b,
            (JsValue::Num(a), Value::Number(b)) => b.as_f64() == Some(*a),
            (JsValue::Str(a), Value::String(b)) => a == b,
            _ => false,
        }
    }
}

/// ECMAScript array index: the canonical decimal form of an integer below 2^32 - 1.
fn array_index(name: &str) -> Option<u32> {
    let n: u32 = name.parse().ok()?;
    (n != u32::MAX && n.to_string() == name).then_some(n)
}

impl<'de> de::Deserialize<'de> for JsValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsValueVisitor)
    }
}

struct JsValueVisitor;

impl<'de> Visitor<'de> for JsValueVisitor {
    type Value = JsValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsValue, E> {
        Ok(JsValue::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsValue, E> {
        Ok(JsValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsValue, E> {
        Ok(JsValue::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsValue, E> {
        Ok(JsValue::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsValue, E> {
        Ok(JsValue::Num(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsValue, E> {
        Ok(JsValue::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<JsValue, E> {
        Ok(JsValue::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsValue, A::Error> {
        let mut v = Vec::new();
        while let Some(e) = seq.next_element()? {
            v.push(e);
        }
        Ok(JsValue::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsValue, A::Error> {
        let mut members: Vec<(String, JsValue)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, JsValue>()? {
            match members.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = v,
                None => members.push((k, v)),
            }
        }
        // Array-index names come first in ascending order; the sort is stable for the rest.
        members.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |i| (0, i)));
        Ok(JsValue::Obj(members))
    }
}

/// The last value of one top-level member of a JSON object text, in JavaScript's terms.
fn payload_member(
    plaintext: &[u8],
    name: &'static str,
) -> Result<Option<JsValue>, serde_json::Error> {
    struct Pick(&'static str);
    impl<'de> Visitor<'de> for Pick {
        type Value = Option<JsValue>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                if k == self.0 {
                    found = Some(map.next_value()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(strip_bom(plaintext));
    let v = de.deserialize_map(Pick(name))?;
    de.end()?;
    Ok(v)
}
