// A real Auth.js server (Express 4 + @auth/express) for the end-to-end tests of authjs-proxy.
//
// Environment:
//   PORT          port to listen on, on 127.0.0.1 (0 or unset: any free port)
//   AUTH_SECRETS  comma-separated secrets, newest first (default: AUTH_SECRET, else "e2e-secret")
//   BASE_PATH     where Auth.js is mounted (default /api/auth)
//   E2E_DATABASE_URL  set: database sessions in PostgreSQL through @auth/pg-adapter (the
//                 adapter's tables must exist), signed in with an e-mail provider whose
//                 "e-mail" is kept for the test: GET /__e2e/last-link?email=... answers the
//                 last sign-in link sent to that address. Unset: JWT sessions, credentials.
//
// Prints `listening on <port>` on stdout once it accepts connections.
import express from "express"
import { ExpressAuth } from "@auth/express"
import Credentials from "@auth/express/providers/credentials"
import PostgresAdapter from "@auth/pg-adapter"
import pg from "pg"

const USERS = {
  "ada@example.com": { id: "u-ada", name: "Ada Lovelace", password: "analytical" },
  "grace@example.com": { id: "u-grace", name: "Grace Hopper", password: "cobol" },
  // Her jwt callback adds a large claim: the session token exceeds 4 KB and is chunked.
  "big@example.com": { id: "u-big", name: "Big Claims", password: "chunky" },
}

const secrets = (process.env.AUTH_SECRETS ?? process.env.AUTH_SECRET ?? "e2e-secret")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean)
const basePath = process.env.BASE_PATH ?? "/api/auth"

const app = express()
app.set("trust proxy", true)
// Requests received per "METHOD path", so tests can prove what reached this instance.
const counts = {}
app.use((req, _res, next) => {
  const key = `${req.method} ${req.path}`
  counts[key] = (counts[key] ?? 0) + 1
  next()
})
app.get("/__e2e/counts", (_req, res) => res.json(counts))
// The W3C traceparent each "METHOD path" last arrived with, so tests can follow a trace here.
const traceparents = {}
app.use((req, _res, next) => {
  if (req.headers.traceparent) traceparents[`${req.method} ${req.path}`] = req.headers.traceparent
  next()
})
app.get("/__e2e/traceparents", (_req, res) => res.json(traceparents))

// Database mode: the sign-in links an e-mail provider would have sent, per address.
const databaseUrl = process.env.E2E_DATABASE_URL
const links = {}
app.get("/__e2e/last-link", (req, res) => {
  const link = links[String(req.query.email ?? "").toLowerCase()]
  if (link) res.json({ url: link })
  else res.status(404).json({ error: "no link sent to that address" })
})
const pool = databaseUrl ? new pg.Pool({ connectionString: databaseUrl, max: 4 }) : null
// A database the test stops must not take this server down with it.
pool?.on("error", () => {})
const database = pool
  ? {
      adapter: PostgresAdapter(pool),
      session: { strategy: "database" },
      providers: [
        {
          id: "email",
          type: "email",
          name: "Email",
          from: "e2e@example.com",
          maxAge: 24 * 60 * 60,
          options: {},
          async sendVerificationRequest({ identifier, url }) {
            links[identifier.toLowerCase()] = url
          },
        },
      ],
      // The default callbacks: the session route answers {user: {name, email, image}, expires}.
      callbacks: {},
    }
  : null

app.use(
  `${basePath}/*`,
  ExpressAuth({
    basePath,
    secret: secrets.length === 1 ? secrets[0] : secrets,
    trustHost: true,
    // Wrong passwords and forged CSRF tokens are what the tests send on purpose.
    logger: {
      error(error) {
        if (!["CredentialsSignin", "MissingCSRF"].includes(error?.type)) console.error(error)
      },
    },
    session: { strategy: "jwt" },
    providers: [
      Credentials({
        credentials: { email: { label: "Email" }, password: { label: "Password", type: "password" } },
        async authorize(credentials) {
          const user = USERS[credentials?.email]
          if (!user || user.password !== credentials?.password) return null
          return { id: user.id, name: user.name, email: credentials.email }
        },
      }),
    ],
    callbacks: {
      async jwt({ token, user }) {
        if (user?.email === "big@example.com") token.blob = "x".repeat(6000)
        // A role claim for the forward-auth rules (tests/e2e_front.rs): Ada is the admin.
        if (user?.email === "ada@example.com") token.role = "admin"
        return token
      },
      async session({ session, token }) {
        if (session.user) session.user.id = token.sub
        return session
      },
    },
    ...database,
  }),
)
app.get("/", (_req, res) => res.type("text").send("e2e Auth.js peer"))

const server = app.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`)
})
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)))
