"""Times fastapi-nextauth-jwt (the Python peer: python-jose + cryptography) decoding the first
conformance vector, with its key derived once (in the constructor), as a FastAPI app holds it.
Prints nanoseconds per decode. Used by benches/decode-vs-authjs.sh."""
import json
import os
import pathlib
import time

from fastapi_nextauth_jwt import NextAuthJWT

root = pathlib.Path(__file__).resolve().parent.parent
vector = json.loads((root / "crates/authjs-token/tests/vectors/authjs-tokens.json").read_text())[0]
auth = NextAuthJWT(
    secret=vector["secret"],
    cookie_name=vector["salt"],
    secure_cookie=False,
    csrf_prevention_enabled=False,
)


class Request:
    """What the dependency reads of a starlette Request: the parsed cookies and the method."""

    method = "GET"
    cookies = {vector["salt"]: vector["token"]}


req = Request()
claims = auth(req)
assert claims["sub"] == vector["claims"]["sub"], claims
for _ in range(500):  # warm-up
    auth(req)
n = int(os.environ.get("ITERATIONS", "5000"))
start = time.perf_counter_ns()
for _ in range(n):
    auth(req)
print(round((time.perf_counter_ns() - start) / n))
