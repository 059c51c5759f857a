// Writes crates/authjs-token/tests/vectors/jose-edge-tokens.json: edge-case tokens with the verdict of the real
// decoders, for the Rust tests to mirror (they need no Node).
// * "jwe": session tokens and the verdict of @auth/core's own `decode` (jose's jwtDecrypt with
//   clockTolerance 15). Made by jose's EncryptJWT where it can produce the case, by hand
//   (`seal` below: the same dir + A256CBC-HS512/A256GCM construction, any header bytes)
//   where it cannot.
// * "jws": HS256 JWTs made by jose's SignJWT and the verdict of jose's jwtVerify with the
//   options our JWS mode offers (algorithms, clockTolerance 15, audience, issuer).
// The clock is pinned to NOW for every encode and decode. A fixture with "mirrored": false is
// a known divergence: the Rust test asserts the verdict we give instead (see its comment).
// Run: node tests/e2e/authjs/make-edge-fixtures.mjs (after npm ci there).
import { writeFileSync } from "node:fs"
import { createCipheriv, createHmac } from "node:crypto"
import { deflateRawSync } from "node:zlib"
import { decode } from "@auth/core/jwt"
import { EncryptJWT, SignJWT, jwtVerify, base64url, calculateJwkThumbprint } from "jose"
import { hkdf } from "@panva/hkdf"

const NOW = 1_800_000_000
{
  const RealDate = Date
  class PinnedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(NOW * 1000 + 500)
      else super(...args)
    }
    static now() {
      return NOW * 1000 + 500
    }
  }
  globalThis.Date = PinnedDate
}

const SALT = "authjs.session-token"
const SECRET = "edge-secret"
const FAR = NOW + 3600

async function keyFor(secret, enc = "A256CBC-HS512", salt = SALT) {
  const len = enc === "A256GCM" ? 32 : 64
  const key = await hkdf("sha256", secret, salt, `Auth.js Generated Encryption Key (${salt})`, len)
  const kid = await calculateJwkThumbprint({ kty: "oct", k: base64url.encode(key) }, `sha${len << 3}`)
  return { key, kid }
}
const CBC = await keyFor(SECRET)
const GCM = await keyFor(SECRET, "A256GCM")

const b64 = (b) => Buffer.from(b).toString("base64url")
const json = (v) => Buffer.from(JSON.stringify(v))
// Fixed IVs keep the file stable across runs where the inputs are unchanged.
const IV16 = Buffer.alloc(16, 7)
const IV12 = Buffer.alloc(12, 9)

/** A compact JWE with exactly these protected-header bytes (or encoded part) and plaintext. */
function seal({ header, h, plaintext, gcm = false, key = gcm ? GCM.key : CBC.key, parts = (p) => p }) {
  h ??= b64(Buffer.from(header))
  const aad = Buffer.from(h, "latin1")
  let iv, ct, tag
  if (gcm) {
    iv = IV12
    const c = createCipheriv("aes-256-gcm", Buffer.from(key), iv)
    c.setAAD(aad)
    ct = Buffer.concat([c.update(plaintext), c.final()])
    tag = c.getAuthTag()
  } else {
    iv = IV16
    const c = createCipheriv("aes-256-cbc", Buffer.from(key).subarray(32), iv)
    ct = Buffer.concat([c.update(plaintext), c.final()])
    const al = Buffer.alloc(8)
    al.writeBigUInt64BE(BigInt(aad.length * 8))
    tag = createHmac("sha512", Buffer.from(key).subarray(0, 32))
      .update(Buffer.concat([aad, iv, ct, al]))
      .digest()
      .subarray(0, 32)
  }
  const p = parts({ h, ek: "", iv: b64(iv), ct: b64(ct), tag: b64(tag) })
  return `${p.h}.${p.ek}.${p.iv}.${p.ct}.${p.tag}`
}
const H = (extra = "") => `{"alg":"dir","enc":"A256CBC-HS512","kid":"${CBC.kid}"${extra}}`
const CLAIMS = { sub: "u-edge", name: "Edge", exp: FAR }
const P = json(CLAIMS)

const fixtures = { now: NOW, salt: SALT, secret: SECRET, jwe: [], jws: [] }

async function jwe(name, token, { secret = SECRET, mirrored = true, note } = {}) {
  let expect
  try {
    expect = { accept: true, claims: await decode({ token, secret, salt: SALT }) }
  } catch (e) {
    expect = { accept: false, error: `${e.constructor.name}: ${e.message}` }
  }
  if (expect.accept) expect.claims = compact(expect.claims)
  const f = { name, token, expect }
  if (secret !== SECRET) f.secret = secret
  // The claims of a divergence may not even be representable in the Rust test's JSON parser.
  if (!mirrored) Object.assign(f, { mirrored, note, expect: { accept: expect.accept } })
  fixtures.jwe.push(f)
  console.log(`jwe  ${expect.accept ? "accept" : "reject"}  ${name}`)
}

// Long runs of one character are written as {"$repeat": "x", "times": n}: the Rust test expands
// them, and the file stays small.
function compact(claims) {
  const out = {}
  for (const [k, v] of Object.entries(claims)) {
    out[k] = typeof v === "string" && v.length > 1000 && v === v[0].repeat(v.length) ? { $repeat: v[0], times: v.length } : v
  }
  return out
}

function encryptJWT(claims, header = {}, { gcm = false } = {}) {
  const k = gcm ? GCM : CBC
  return new EncryptJWT(claims).setProtectedHeader({ alg: "dir", enc: gcm ? "A256GCM" : "A256CBC-HS512", kid: k.kid, ...header })
}

// --- made by jose's encoder ------------------------------------------------------------
await jwe("EncryptJWT zip DEF", await encryptJWT(CLAIMS, { zip: "DEF" }).encrypt(CBC.key))
await jwe("EncryptJWT zip DEF, A256GCM", await encryptJWT(CLAIMS, { zip: "DEF" }, { gcm: true }).encrypt(GCM.key))
await jwe("EncryptJWT zip DEF, large compressible claims", await encryptJWT({ ...CLAIMS, pad: "ab".repeat(2000) }, { zip: "DEF" }).encrypt(CBC.key))
await jwe("EncryptJWT replicated iss/sub/aud", await encryptJWT({ name: "R" }).setIssuer("https://issuer.example").setSubject("u-r").setAudience(["a", "b"]).setExpirationTime(FAR).replicateIssuerAsHeader().replicateSubjectAsHeader().replicateAudienceAsHeader().encrypt(CBC.key))
await jwe("EncryptJWT header iss differs from claim", await encryptJWT({ iss: "claim", exp: FAR }, { iss: "header" }).encrypt(CBC.key))
await jwe("EncryptJWT header sub with no sub claim", await encryptJWT({ exp: FAR }, { sub: "u" }).encrypt(CBC.key))
await jwe("EncryptJWT header aud string, claim aud array", await encryptJWT({ aud: ["a"], exp: FAR }, { aud: "a" }).encrypt(CBC.key))
await jwe("EncryptJWT header aud array in another order", await encryptJWT({ aud: ["a", "b"], exp: FAR }, { aud: ["b", "a"] }).encrypt(CBC.key))
await jwe("EncryptJWT header aud object, same key order", await encryptJWT({ aud: { x: 1, y: [2] }, exp: FAR }, { aud: { x: 1, y: [2] } }).encrypt(CBC.key))
await jwe("EncryptJWT header aud object, other key order", await encryptJWT({ aud: { x: 1, y: 2 }, exp: FAR }, { aud: { y: 2, x: 1 } }).encrypt(CBC.key))
await jwe("EncryptJWT header aud object, integer keys first", await encryptJWT({ aud: { b: 1, 2: 0, 1: 0 }, exp: FAR }, { aud: { 1: 0, 2: 0, b: 1 } }).encrypt(CBC.key))
await jwe("EncryptJWT header iss null, claim iss null", await encryptJWT({ iss: null, exp: FAR }, { iss: null }).encrypt(CBC.key))
await jwe("EncryptJWT header iss null, no iss claim", await encryptJWT({ exp: FAR }, { iss: null }).encrypt(CBC.key))
await jwe("EncryptJWT header iss array equal to claim", await encryptJWT({ iss: ["x"], exp: FAR }, { iss: ["x"] }).encrypt(CBC.key))
await jwe("EncryptJWT header sub number equal to claim", await encryptJWT({ sub: 5, exp: FAR }, { sub: 5 }).encrypt(CBC.key))
for (const [label, exp] of [["NOW-15", NOW - 15], ["NOW-14", NOW - 14], ["NOW-14.5", NOW - 14.5], ["NOW-15.5", NOW - 15.5], ["NOW", NOW], ["0", 0], ["-1", -1], ["1e300", 1e300]]) {
  await jwe(`EncryptJWT exp ${label}`, await encryptJWT({ sub: "t" }).setExpirationTime(exp).encrypt(CBC.key))
}
for (const [label, nbf] of [["NOW+15", NOW + 15], ["NOW+15.5", NOW + 15.5], ["NOW+16", NOW + 16], ["NOW-100", NOW - 100]]) {
  await jwe(`EncryptJWT nbf ${label}`, await encryptJWT({ sub: "t", exp: FAR }).setNotBefore(nbf).encrypt(CBC.key))
}
for (const [label, claims] of [
  ["iat string", { iat: "1800000000" }], ["iat null", { iat: null }], ["iat true", { iat: true }],
  ["iat 1.5", { iat: 1.5 }], ["iat far future", { iat: NOW + 1e6 }], ["iat object", { iat: {} }],
  ["exp string", { exp: String(FAR) }], ["exp null", { exp: null }], ["exp array", { exp: [FAR] }],
  ["nbf string", { nbf: "0" }], ["nbf null", { nbf: null }], ["nbf false", { nbf: false }],
]) {
  await jwe(`EncryptJWT ${label}`, await encryptJWT({ sub: "t", exp: FAR, ...claims }).encrypt(CBC.key))
}
await jwe("EncryptJWT no exp", await encryptJWT({ sub: "t" }).encrypt(CBC.key))
await jwe("EncryptJWT claims with unicode and nested values", await encryptJWT({ ...CLAIMS, name: "Zoë 🙂", roles: ["a", { b: [1, 2.5, null, true] }], "": "empty key" }).encrypt(CBC.key))

// --- made by hand: header bytes no encoder writes ---------------------------------------
await jwe("hand: plain header (control)", seal({ header: H(), plaintext: P }))
await jwe("hand: enc with a JSON escape", seal({ header: `{"alg":"dir","enc":"A256CBC\\u002DHS512","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: alg with a JSON escape", seal({ header: `{"alg":"\\u0064ir","enc":"A256CBC-HS512","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: kid with a JSON escape", seal({ header: `{"alg":"dir","enc":"A256CBC-HS512","kid":"\\u${CBC.kid.charCodeAt(0).toString(16).padStart(4, "0")}${CBC.kid.slice(1)}"}`, plaintext: P }))
await jwe("hand: member name with a JSON escape", seal({ header: `{"\\u0061lg":"dir","enc":"A256CBC-HS512","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: escaped slash and unicode in an unknown member", seal({ header: H(`,"x":"a\\/b\\u00e9\\ud83d\\ude00\\n"`), plaintext: P }))
await jwe("hand: whitespace around members", seal({ header: ` {\n\t"alg" : "dir",\r\n "enc":"A256CBC-HS512" , "kid":"${CBC.kid}" } \n`, plaintext: P }))
await jwe("hand: duplicate alg, last is dir", seal({ header: `{"alg":"none","alg":"dir","enc":"A256CBC-HS512","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: duplicate alg, last is not dir", seal({ header: `{"alg":"dir","alg":"none","enc":"A256CBC-HS512","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: duplicate kid, last matches", seal({ header: `{"alg":"dir","enc":"A256CBC-HS512","kid":"nope","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: duplicate kid, last is null", seal({ header: `{"alg":"dir","enc":"A256CBC-HS512","kid":"${CBC.kid}","kid":null}`, plaintext: P }))
await jwe("hand: duplicate unknown member", seal({ header: H(`,"x":1,"x":[2]`), plaintext: P }))
await jwe("hand: kid null", seal({ header: `{"alg":"dir","enc":"A256CBC-HS512","kid":null}`, plaintext: P }))
await jwe("hand: kid number", seal({ header: `{"alg":"dir","enc":"A256CBC-HS512","kid":1}`, plaintext: P }))
await jwe("hand: kid empty string", seal({ header: `{"alg":"dir","enc":"A256CBC-HS512","kid":""}`, plaintext: P }))
await jwe("hand: no kid, first secret", seal({ header: `{"alg":"dir","enc":"A256CBC-HS512"}`, plaintext: P }), { secret: [SECRET, "other"] })
await jwe("hand: no kid, second secret", seal({ header: `{"alg":"dir","enc":"A256CBC-HS512"}`, plaintext: P }), { secret: ["other", SECRET] })
await jwe("hand: kid of the second secret", seal({ header: H(), plaintext: P }), { secret: ["other", SECRET] })
await jwe("hand: zip null", seal({ header: H(`,"zip":null`), plaintext: P }))
await jwe("hand: zip lowercase def", seal({ header: H(`,"zip":"def"`), plaintext: deflateRawSync(P) }))
await jwe("hand: zip GZIP", seal({ header: H(`,"zip":"GZIP"`), plaintext: P }))
await jwe("hand: zip DEF", seal({ header: H(`,"zip":"DEF"`), plaintext: deflateRawSync(P) }))
await jwe("hand: zip with a JSON escape", seal({ header: H(`,"zip":"\\u0044EF"`), plaintext: deflateRawSync(P) }))
await jwe("hand: zip DEF, A256GCM", seal({ header: `{"alg":"dir","enc":"A256GCM","kid":"${GCM.kid}","zip":"DEF"}`, plaintext: deflateRawSync(P), gcm: true }))
await jwe("hand: zip DEF, stored (uncompressed) blocks", seal({ header: H(`,"zip":"DEF"`), plaintext: deflateRawSync(P, { level: 0 }) }))
await jwe("hand: zip DEF, trailing bytes after the stream", seal({ header: H(`,"zip":"DEF"`), plaintext: Buffer.concat([deflateRawSync(P), Buffer.from("trailing junk")]) }))
{
  const d = deflateRawSync(P)
  await jwe("hand: zip DEF, truncated stream", seal({ header: H(`,"zip":"DEF"`), plaintext: d.subarray(0, d.length - 3) }))
}
await jwe("hand: zip DEF, plaintext not deflated", seal({ header: H(`,"zip":"DEF"`), plaintext: P }))
await jwe("hand: zip DEF, zlib-wrapped instead of raw", seal({ header: H(`,"zip":"DEF"`), plaintext: (await import("node:zlib")).deflateSync(P) }))
await jwe("hand: zip DEF, empty plaintext", seal({ header: H(`,"zip":"DEF"`), plaintext: Buffer.alloc(0) }))
{
  const sized = (n) => {
    const base = JSON.stringify({ sub: "big", exp: FAR, pad: "" })
    return Buffer.from(JSON.stringify({ sub: "big", exp: FAR, pad: "x".repeat(n - base.length) }))
  }
  await jwe("hand: zip DEF, inflates to exactly 250000 bytes", seal({ header: H(`,"zip":"DEF"`), plaintext: deflateRawSync(sized(250000)) }))
  await jwe("hand: zip DEF, inflates to 250001 bytes", seal({ header: H(`,"zip":"DEF"`), plaintext: deflateRawSync(sized(250001)) }))
  await jwe("hand: zip DEF, inflates to 1 MB", seal({ header: H(`,"zip":"DEF"`), plaintext: deflateRawSync(sized(1_000_000)) }))
}
await jwe("hand: crit null", seal({ header: H(`,"crit":null`), plaintext: P }))
await jwe("hand: crit empty", seal({ header: H(`,"crit":[]`), plaintext: P }))
await jwe("hand: crit exp", seal({ header: H(`,"crit":["exp"],"exp":1`), plaintext: P }))
for (const [label, header] of [["array", `["dir","A256CBC-HS512","${CBC.kid}"]`], ["string", `"dir"`], ["null", `null`], ["number", `1`], ["empty", ``], ["two objects", `${H()}{}`], ["trailing comma", H(",")]]) {
  await jwe(`hand: header is ${label}`, seal({ header, plaintext: P }))
}
await jwe("hand: header with a UTF-8 BOM", seal({ header: `\ufeff${H()}`, plaintext: P }))
await jwe("hand: header with two UTF-8 BOMs", seal({ header: `\ufeff\ufeff${H()}`, plaintext: P }))
await jwe("hand: header with invalid UTF-8 in an unknown member", seal({ h: b64(Buffer.concat([Buffer.from(H(`,"x":"`).slice(0, -1)), Buffer.from([0xc3, 0x28]), Buffer.from(`"}`)])), plaintext: P }))
await jwe("hand: header with a raw tab inside a string", seal({ header: H(`,"x":"a\tb"`), plaintext: P }))
await jwe("hand: header with a raw control character in a member name", seal({ header: H(`,"a\u0001":1`), plaintext: P }))
await jwe("hand: header with an unpaired surrogate in an unknown member", seal({ header: H(`,"x":"\\ud800"`), plaintext: P }))
await jwe("hand: header with an unpaired surrogate in a member name", seal({ header: H(`,"\\udc00x":1`), plaintext: P }))
await jwe("hand: header with a huge number in an unknown member", seal({ header: H(`,"x":1e400`), plaintext: P }))
await jwe("hand: header with typ and cty", seal({ header: H(`,"typ":"JWT","cty":"json"`), plaintext: P }))
await jwe("hand: alg missing", seal({ header: `{"enc":"A256CBC-HS512","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: alg empty", seal({ header: `{"alg":"","enc":"A256CBC-HS512","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: alg A256KW", seal({ header: `{"alg":"A256KW","enc":"A256CBC-HS512","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: enc missing", seal({ header: `{"alg":"dir","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: enc number", seal({ header: `{"alg":"dir","enc":512,"kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: enc A128GCM", seal({ header: `{"alg":"dir","enc":"A128GCM","kid":"${CBC.kid}"}`, plaintext: P }))
await jwe("hand: header iss 5, claim iss 5.0", seal({ header: H(`,"iss":5`), plaintext: Buffer.from(`{"iss":5.0,"exp":${FAR}}`) }))
await jwe("hand: header aud [1e2], claim aud [100]", seal({ header: H(`,"aud":[1e2]`), plaintext: Buffer.from(`{"aud":[100],"exp":${FAR}}`) }))
await jwe("hand: header aud -0, claim aud 0", seal({ header: H(`,"aud":-0`), plaintext: Buffer.from(`{"aud":0,"exp":${FAR}}`) }))
await jwe("hand: header aud with a duplicate key", seal({ header: H(`,"aud":{"a":1,"b":2,"a":3}`), plaintext: Buffer.from(`{"aud":{"a":3,"b":2},"exp":${FAR}}`) }))
await jwe("hand: header aud escaped the other way", seal({ header: H(`,"aud":"\\u0061"`), plaintext: Buffer.from(`{"aud":"a","exp":${FAR}}`) }))
await jwe("hand: claim aud duplicated, last matches", seal({ header: H(`,"aud":"b"`), plaintext: Buffer.from(`{"aud":"a","exp":${FAR},"aud":"b"}`) }))

// --- made by hand: payload bytes ---------------------------------------------------------
await jwe("hand: payload with a UTF-8 BOM", seal({ header: H(), plaintext: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), P]) }))
await jwe("hand: payload is an array", seal({ header: H(), plaintext: Buffer.from(`[1]`) }))
await jwe("hand: payload is null", seal({ header: H(), plaintext: Buffer.from(`null`) }))
await jwe("hand: payload is not JSON", seal({ header: H(), plaintext: Buffer.from(`{sub:1}`) }))
await jwe("hand: payload with duplicate keys", seal({ header: H(), plaintext: Buffer.from(`{"sub":"first","exp":${FAR},"sub":"last"}`) }))
await jwe("hand: payload with duplicate exp, last expired", seal({ header: H(), plaintext: Buffer.from(`{"exp":${FAR},"exp":1}`) }))
await jwe("hand: payload exp 1.8e9 written with an exponent", seal({ header: H(), plaintext: Buffer.from(`{"exp":1.8000036e9}`) }))
await jwe("hand: payload with invalid UTF-8", seal({ header: H(), plaintext: Buffer.concat([Buffer.from(`{"sub":"`), Buffer.from([0xff]), Buffer.from(`"}`)]) }))
await jwe("hand: payload with an unpaired surrogate", seal({ header: H(), plaintext: Buffer.from(`{"sub":"\\ud800","exp":${FAR}}`) }), {
  mirrored: false,
  note: "Rust strings cannot hold an unpaired surrogate: rejected rather than altered",
})
await jwe("hand: payload with a number beyond f64", seal({ header: H(), plaintext: Buffer.from(`{"sub":"t","exp":1e400}`) }), {
  mirrored: false,
  note: "serde_json refuses numbers that overflow f64 (JSON.parse gives Infinity): rejected",
})

// --- made by hand: compact serialization --------------------------------------------------
const padded = (s) => s + "=".repeat((4 - (s.length % 4)) % 4)
await jwe("hand: header part with base64 padding", seal({ h: padded(b64(H())), plaintext: P }))
await jwe("hand: header part with one = too few", seal({ h: b64(H()) + "=", plaintext: P }))
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
// 32 bytes take 43 characters: the last one carries 4 bits of data and 2 unused bits.
const flipUnusedBit = (s) => s.slice(0, -1) + B64URL[B64URL.indexOf(s.at(-1)) ^ 1]
await jwe("hand: tag with non-zero trailing bits", seal({ header: H(), plaintext: P, parts: (p) => ({ ...p, tag: flipUnusedBit(p.tag) }) }))
await jwe("hand: iv part with padding", seal({ header: H(), plaintext: P, parts: (p) => ({ ...p, iv: padded(p.iv) }) }))
await jwe("hand: ciphertext part with whitespace", seal({ header: H(), plaintext: P, parts: (p) => ({ ...p, ct: p.ct.slice(0, 8) + " \n" + p.ct.slice(8) }) }))
await jwe("hand: iv part with standard-alphabet characters", seal({ header: H(), plaintext: P, parts: (p) => ({ ...p, iv: p.iv.replace(/-/g, "+").replace(/_/g, "/").replace(/^./, "+") }) }))
await jwe("hand: encrypted key present", seal({ header: H(), plaintext: P, parts: (p) => ({ ...p, ek: "AAAA" }) }))
await jwe("hand: empty iv", seal({ header: H(), plaintext: P, parts: (p) => ({ ...p, iv: "" }) }))
await jwe("hand: empty tag", seal({ header: H(), plaintext: P, parts: (p) => ({ ...p, tag: "" }) }))
await jwe("hand: short tag", seal({ header: H(), plaintext: P, parts: (p) => ({ ...p, tag: p.tag.slice(0, 22) }) }))
await jwe("hand: GCM with a 12-byte tag", seal({ header: `{"alg":"dir","enc":"A256GCM","kid":"${GCM.kid}"}`, plaintext: P, gcm: true, parts: (p) => ({ ...p, tag: p.tag.slice(0, 16) }) }))

// --- JWS: jose's SignJWT and jwtVerify ---------------------------------------------------
const JWS_KEY = "jws-edge-secret"
async function jws(name, token, { audience, issuer } = {}) {
  let expect
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(JWS_KEY), { algorithms: ["HS256"], clockTolerance: 15, audience, issuer })
    expect = { accept: true, claims: payload }
  } catch (e) {
    expect = { accept: false, error: `${e.constructor.name}: ${e.message}` }
  }
  const f = { name, token, expect }
  if (audience !== undefined) f.audience = Array.isArray(audience) ? audience : [audience]
  if (issuer !== undefined) f.issuer = Array.isArray(issuer) ? issuer : [issuer]
  fixtures.jws.push(f)
  console.log(`jws  ${expect.accept ? "accept" : "reject"}  ${name}`)
}
const sign = (claims) => new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(new TextEncoder().encode(JWS_KEY))
await jws("aud string, no audience option", await sign({ sub: "j", aud: "api", exp: FAR }))
await jws("aud number, no audience option", await sign({ sub: "j", aud: 7, exp: FAR }))
await jws("aud string in the audience list", await sign({ sub: "j", aud: "api", exp: FAR }), { audience: ["web", "api"] })
await jws("aud array meeting the audience list", await sign({ sub: "j", aud: ["x", "api"], exp: FAR }), { audience: ["api"] })
await jws("aud array missing the audience list", await sign({ sub: "j", aud: ["x", "y"], exp: FAR }), { audience: ["api"] })
await jws("aud string outside the audience list", await sign({ sub: "j", aud: "other", exp: FAR }), { audience: ["api"] })
await jws("no aud with an audience option", await sign({ sub: "j", exp: FAR }), { audience: ["api"] })
await jws("aud number with an audience option", await sign({ sub: "j", aud: 7, exp: FAR }), { audience: ["7"] })
await jws("iss in the issuer list", await sign({ sub: "j", iss: "https://a", exp: FAR }), { issuer: ["https://b", "https://a"] })
await jws("iss outside the issuer list", await sign({ sub: "j", iss: "https://c", exp: FAR }), { issuer: ["https://a"] })
await jws("no iss with an issuer option", await sign({ sub: "j", exp: FAR }), { issuer: ["https://a"] })
await jws("iss array with an issuer option", await sign({ sub: "j", iss: ["https://a"], exp: FAR }), { issuer: ["https://a"] })
await jws("iss number, no issuer option", await sign({ sub: "j", iss: 1, exp: FAR }))
for (const [label, exp] of [["NOW-15", NOW - 15], ["NOW-14", NOW - 14], ["NOW-14.5", NOW - 14.5], ["NOW-16", NOW - 16]]) {
  await jws(`exp ${label}`, await sign({ sub: "j", exp }))
}
for (const [label, nbf] of [["NOW+15", NOW + 15], ["NOW+15.5", NOW + 15.5]]) {
  await jws(`nbf ${label}`, await sign({ sub: "j", nbf, exp: FAR }))
}
await jws("exp string", await sign({ sub: "j", exp: String(FAR) }))
await jws("iat string", await sign({ sub: "j", iat: "x", exp: FAR }))
await jws("no exp", await sign({ sub: "j" }))

const out = new URL("../../../crates/authjs-token/tests/vectors/jose-edge-tokens.json", import.meta.url)
writeFileSync(out, JSON.stringify(fixtures, null, 1) + "\n")
console.log(`wrote ${fixtures.jwe.length} JWE and ${fixtures.jws.length} JWS fixtures to ${out.pathname}`)
