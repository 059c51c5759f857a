// Writes crates/authjs-token/tests/vectors/authjs-bearer.json: `Authorization` header lines
// and what @auth/core's own `getToken` makes of them in a Node app when no session cookie is
// sent: the token it reads (`raw: true`) and whether the session decodes (`raw: false`). Each
// request goes as raw bytes to a Node `http` server on loopback whose handler calls `getToken`
// with the request, so Node's own header parsing (white space, repeated headers) is part of
// the verdict. The Rust tests read the same headers and must agree. Run: node
// tests/e2e/authjs/make-bearer-fixtures.mjs (after npm ci there).
import { writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { connect } from "node:net"
import { encode, getToken } from "@auth/core/jwt"

const HUNDRED_YEARS = 100 * 365 * 24 * 60 * 60
const SECRET = "bearer-secret"
const SALT = "authjs.session-token"
const T = await encode({ token: { sub: "u-bearer", name: "Bearer User" }, secret: SECRET, salt: SALT, maxAge: HUNDRED_YEARS })
const P = T.replaceAll(".", "%2E")
// Made for the https cookie: getToken decodes a Bearer token with its cookie name as salt.
const TS = await encode({ token: { sub: "u-bearer", name: "Bearer User" }, secret: SECRET, salt: `__Secure-${SALT}`, maxAge: HUNDRED_YEARS })

// Another user's session, for the cases where a cookie is sent too.
const U = await encode({ token: { sub: "u-cookie", name: "Cookie User" }, secret: SECRET, salt: SALT, maxAge: HUNDRED_YEARS })

const fixtures = { secret: SECRET, salt: SALT, token: T, secure_token: TS, cookie_token: U, cases: [] }

const server = createServer(async (req, res) => {
  // `/secure`: the app serves https (its cookies are the `__Secure-` ones).
  const secureCookie = req.url === "/secure"
  const raw = await getToken({ req, secret: SECRET, secureCookie, raw: true })
  const session = await getToken({ req, secret: SECRET, secureCookie })
  res.setHeader("content-type", "application/json")
  res.end(JSON.stringify({ raw: raw ?? null, accept: session !== null, sub: session?.sub ?? null }))
})
await new Promise((ok) => server.listen(0, "127.0.0.1", ok))
const { port } = server.address()

/** Sends one request with these `Authorization` lines; answers what the handler read. */
function ask(values, cookies, secure) {
  const head = [
    `GET ${secure ? "/secure" : "/"} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: close",
    ...cookies.map((c) => `Cookie: ${c}`),
    ...values.map((v) => `Authorization: ${v}`),
  ]
  return new Promise((ok, fail) => {
    // One byte per character: a character above U+007F stands for that byte (obs-text).
    const bytes = Buffer.from(head.join("\r\n") + "\r\n\r\n", "latin1")
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes))
    let got = ""
    socket.setTimeout(5000, () => socket.destroy(new Error("no answer")))
    socket.on("data", (d) => (got += d))
    socket.on("error", fail)
    socket.on("close", () => {
      const body = got.slice(got.indexOf("\r\n\r\n") + 4)
      if (!got.startsWith("HTTP/1.1 200")) fail(new Error(`refused: ${got.slice(0, 40)}`))
      else ok(JSON.parse(body))
    })
  })
}

/**
 * `values`: the request's `Authorization` header values (one line each), in order; `cookies`:
 * its `Cookie` header values; `secure`: asked of an app serving https. A character above
 * U+007F stands for that byte.
 */
async function add(name, values, { cookies = [], secure = false, ours, note } = {}) {
  const expect = await ask(values, cookies, secure)
  const session = expect.accept
  const f = { name, values, cookies, secure, expect }
  // A known divergence: what authjs-token reads instead, and why.
  if (ours) Object.assign(f, { ours: { ...expect, ...ours }, note })
  fixtures.cases.push(f)
  console.log(`${session ? "accept" : "reject"}  ${JSON.stringify(expect.raw)?.slice(0, 24)}  ${name}`)
}

await add("Bearer and the token", [`Bearer ${T}`])
await add("percent-encoded token", [`Bearer ${P}`])
await add("two spaces before the token", [`Bearer  ${T}`])
await add("a word after the token", [`Bearer ${T} extra`])
await add("a space after the token", [`Bearer ${T} `])
await add("white space around the value", [` \tBearer ${T}\t `])
await add("a tab after Bearer", [`Bearer\t${T}`])
await add("lower-case scheme", [`bearer ${T}`])
await add("upper-case scheme", [`BEARER ${T}`])
await add("another scheme", [`Token ${T}`])
await add("Basic credentials", ["Basic dXNlcjpwYXNz"])
await add("Bearer alone", ["Bearer"], {
  ours: { raw: null },
  note: "getToken reads the JavaScript value undefined as the string \"undefined\", which no decoder accepts; no token is found here",
})
await add("Bearer and a space alone", ["Bearer "], {
  ours: { raw: null },
  note: "trimmed to \"Bearer\": see \"Bearer alone\"",
})
await add("a lone percent sign", [`Bearer ${T}%`])
await add("a percent sign and one hex digit", [`Bearer ${T}%2`])
await add("a percent sign and no hex digits", [`Bearer ${T}%zz`])
await add("an escape that is not UTF-8", [`Bearer ${T}%C3%28`])
await add("an escape of a UTF-8 character", [`Bearer ${T}%C3%A9`])
await add("an escaped space before the token", [`Bearer %20${T}`])
await add("an escaped space inside the token", [`Bearer ${T.slice(0, 10)}%20${T.slice(10)}`])
await add("a comma after the token", [`Bearer ${T},`])
await add("a non-ASCII byte after the token", [`Bearer ${T} \u00e9`])
await add("non-ASCII bytes in the token", [`Bearer ${T}caf\u00c3\u00a9`], {
  ours: { raw: null },
  note: "a token with bytes above 0x7F can not decode; none is read",
})
await add("two Authorization headers", [`Bearer ${T}`, `Bearer ${T}`])
await add("an empty Authorization header, then Bearer", ["", `Bearer ${T}`])
await add("Basic, then Bearer", ["Basic dXNlcjpwYXNz", `Bearer ${T}`])
await add("a session cookie and Bearer: the cookie counts", [`Bearer ${T}`], { cookies: [`${SALT}=${U}`] })
await add("an empty session cookie, then Bearer", [`Bearer ${T}`], { cookies: [`${SALT}=`] })
await add("an undecodable session cookie and Bearer", [`Bearer ${T}`], { cookies: [`${SALT}=garbage`] })
await add("another cookie, then Bearer", [`Bearer ${T}`], { cookies: ["theme=dark"] })
await add("a token for the https cookie, over https", [`Bearer ${TS}`], { secure: true })
await add("a token for the https cookie, over http", [`Bearer ${TS}`], {
  ours: { accept: true, sub: "u-bearer" },
  note: "on http both default cookie names count, each with its own salt (a service behind a TLS-terminating proxy sees http); getToken with secureCookie false knows one",
})
await add("a token for the http cookie, over https", [`Bearer ${T}`], { secure: true })

server.close()
const out = new URL("../../../crates/authjs-token/tests/vectors/authjs-bearer.json", import.meta.url)
writeFileSync(out, JSON.stringify(fixtures, null, 1) + "\n")
console.log(`wrote ${fixtures.cases.length} Authorization cases to ${out.pathname}`)
