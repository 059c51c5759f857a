// Times @auth/core's own `decode` on the first fixture token; prints nanoseconds per decode.
// Used by benches/decode-vs-authjs.sh as the baseline.
import { readFileSync } from "node:fs"
import { decode } from "@auth/core/jwt"

const [f] = JSON.parse(readFileSync(new URL("../../../crates/authjs-token/tests/vectors/authjs-tokens.json", import.meta.url)))
const args = { token: f.token, secret: f.secret, salt: f.salt }
for (let i = 0; i < 500; i++) await decode(args) // warm-up
const n = Number(process.env.ITERATIONS ?? 5000)
const start = process.hrtime.bigint()
for (let i = 0; i < n; i++) await decode(args)
const ns = Number(process.hrtime.bigint() - start) / n
console.log(Math.round(ns))
