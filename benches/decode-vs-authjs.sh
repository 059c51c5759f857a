#!/usr/bin/env bash
# Token decode in one run on the same token (the first conformance vector,
# crates/authjs-token/tests/vectors/authjs-tokens.json): the authjs-token crate, @auth/core's
# own `decode`, and the Python peer fastapi-nextauth-jwt (python-jose + cryptography, key
# derived once). Needs Node (`npm ci --prefix tests/e2e/authjs`) and python3; the Python peer
# is installed with pip into target/bench-venv on first use (not part of CI).
# Usage: bash benches/decode-vs-authjs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import fastapi_nextauth_jwt" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q fastapi-nextauth-jwt
fi

ours_ns=$(cargo bench -q -p authjs-token --bench decode -- --output-format bencher '^decode$' 2>/dev/null \
  | awk '/^test decode /{gsub(",", "", $5); print $5}')
authjs_ns=$(node tests/e2e/authjs/bench-decode.mjs)
python_ns=$("$venv/bin/python" benches/decode-python-peer.py)

echo "authjs-token decode:         ${ours_ns} ns/op"
echo "@auth/core decode:           ${authjs_ns} ns/op"
echo "fastapi-nextauth-jwt decode: ${python_ns} ns/op"
awk -v a="$authjs_ns" -v p="$python_ns" -v o="$ours_ns" 'BEGIN {
  printf "speed-up vs @auth/core:           %.0fx (target: at least 300x)\n", a / o
  printf "speed-up vs fastapi-nextauth-jwt: %.0fx (target: at least 20x)\n", p / o
}'
