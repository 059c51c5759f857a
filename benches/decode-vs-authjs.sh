#!/usr/bin/env bash
# Local token decode, authjs-proxy vs @auth/core, measured in the same run on the same token
# (tests/fixtures/authjs-tokens.json). Needs Node and `npm ci --prefix tests/e2e/authjs`.
# Usage: bash benches/decode-vs-authjs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
authjs_ns=$(node tests/e2e/authjs/bench-decode.mjs)
ours_ns=$(cargo bench -q --bench token -- --output-format bencher '^decode$' 2>/dev/null \
  | awk '/^test decode /{gsub(",", "", $5); print $5}')
echo "@auth/core decode:   ${authjs_ns} ns/op"
echo "authjs-proxy decode: ${ours_ns} ns/op"
awk -v a="$authjs_ns" -v o="$ours_ns" 'BEGIN { printf "speed-up: %.0fx (target: at least 100x)\n", a / o }'
