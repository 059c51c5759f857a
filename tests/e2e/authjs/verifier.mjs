// What a Node app does today to guard requests with Auth.js sessions: Express plus
// @auth/core's `decode` on every request. The baseline of benches/forward-auth.sh.
//
// Environment: PORT (0 or unset: any free port), AUTH_SECRET (default "e2e-secret").
// Prints `listening on <port>` once it accepts connections.
import express from "express"
import { decode } from "@auth/core/jwt"

const secret = process.env.AUTH_SECRET ?? "e2e-secret"
const salt = "authjs.session-token"
const app = express()

function sessionCookie(header) {
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=")
    if (i > 0 && part.slice(0, i).trim() === salt) return decodeURIComponent(part.slice(i + 1).trim())
  }
  return undefined
}

app.get("/verify", async (req, res) => {
  res.set("Cache-Control", "no-store")
  const token = sessionCookie(req.headers.cookie)
  let claims = null
  if (token) {
    try {
      claims = await decode({ token, secret, salt })
    } catch {
      claims = null
    }
  }
  if (!claims) return res.status(401).json({ error: "not signed in" })
  if (claims.sub) res.set("X-Auth-Request-User", claims.sub)
  if (claims.email) res.set("X-Auth-Request-Email", claims.email)
  res.status(200).end()
})

const server = app.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`)
})
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)))
