// Writes crates/authjs-token/tests/vectors/authjs-tokens.json: session tokens made by @auth/core's own `encode`
// (and one A256GCM token made with jose, which @auth/core's decode also accepts), for the
// Rust tests to decode. Run: node tests/e2e/authjs/make-fixtures.mjs (after npm ci there).
// Edge cases with the real decoder's verdicts are made by make-edge-fixtures.mjs.
import { writeFileSync } from "node:fs"
import { encode, decode } from "@auth/core/jwt"
import { EncryptJWT, base64url, calculateJwkThumbprint } from "jose"
import { hkdf } from "@panva/hkdf"

const HUNDRED_YEARS = 100 * 365 * 24 * 60 * 60
const claims = { name: "Ada Lovelace", email: "ada@example.com", picture: "https://example.com/ada.png", sub: "u-ada", role: "admin" }

const fixtures = []
async function add(name, secret, salt, decodeWith = secret) {
  const token = await encode({ token: claims, secret, salt, maxAge: HUNDRED_YEARS })
  const decoded = await decode({ token, secret: decodeWith, salt })
  fixtures.push({ name, secret: decodeWith, salt, token, claims: decoded })
}

await add("secret, plain cookie name", "secret", "authjs.session-token")
await add("secure cookie name", "secret", "__Secure-authjs.session-token")
await add("custom cookie name", "another-secret", "my.session")
await add("rotated: made with the older secret", "older", "authjs.session-token", ["newer", "older"])

// A256GCM, as Auth.js derives it: 32-byte key, kid = SHA-256 thumbprint.
{
  const secret = "secret"
  const salt = "authjs.session-token"
  const key = await hkdf("sha256", secret, salt, `Auth.js Generated Encryption Key (${salt})`, 32)
  const kid = await calculateJwkThumbprint({ kty: "oct", k: base64url.encode(key) }, "sha256")
  const now = Math.floor(Date.now() / 1000)
  const token = await new EncryptJWT(claims)
    .setProtectedHeader({ alg: "dir", enc: "A256GCM", kid })
    .setIssuedAt(now)
    .setExpirationTime(now + HUNDRED_YEARS)
    .setJti(crypto.randomUUID())
    .encrypt(key)
  const decoded = await decode({ token, secret, salt })
  fixtures.push({ name: "A256GCM", secret, salt, token, claims: decoded })
}

const out = new URL("../../../crates/authjs-token/tests/vectors/authjs-tokens.json", import.meta.url)
writeFileSync(out, JSON.stringify(fixtures, null, 2) + "\n")
console.log(`wrote ${fixtures.length} tokens to ${out.pathname}`)
