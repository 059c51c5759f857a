// Decodes a session token with @auth/core's own `decode`.
// stdin: {"token": "...", "secret": "..." | ["...", ...], "salt": "authjs.session-token"}
// stdout: the claims as JSON, or `null` when @auth/core refuses the token.
import { decode } from "@auth/core/jwt"

let input = ""
for await (const chunk of process.stdin) input += chunk
const { token, secret, salt } = JSON.parse(input)
const claims = await decode({ token, secret, salt }).catch(() => null)
console.log(JSON.stringify(claims ?? null))
