// Verifies an authjs-proxy identity assertion the way an app behind it would: jose's
// jwtVerify against the proxy's JWKS endpoint.
//
//   node verify-assertion.mjs <jwks url> <issuer> <audience or ""> <assertion>
//
// Prints the payload as JSON and exits 0, or prints `refused: <jose error code>` and exits 1.
import { createRemoteJWKSet, jwtVerify } from "jose"

const [jwksUrl, issuer, audience, token] = process.argv.slice(2)
const keys = createRemoteJWKSet(new URL(jwksUrl))
try {
  const { payload, protectedHeader } = await jwtVerify(token, keys, {
    issuer,
    audience: audience || undefined,
    algorithms: ["ES256"],
  })
  console.log(JSON.stringify({ payload, header: protectedHeader }))
} catch (e) {
  console.log(`refused: ${e.code ?? e.name}`)
  process.exit(1)
}
