#!/usr/bin/env bash
# Forward-auth decisions per second, side by side in one run on this machine (loopback only,
# bounded by DURATION), each server with one worker/process, the same valid session cookie:
#   * authjs-proxy's /_authjs/verify (JWT session decoded locally);
#   * a Node verifier doing what Node apps do today: Express + @auth/core `decode` per request
#     (tests/e2e/authjs/verifier.mjs);
#   * Auth.js's own session route (tests/e2e/authjs/server.mjs, GET /api/auth/session).
#
#   bash benches/forward-auth.sh      # DURATION=10s CONNECTIONS=64 THREADS=1 ROUNDS=2
#
# On a shared machine throughput follows whatever else runs, so besides decisions/s and p99 the
# script reports CPU per decision (the server process's user+system time from /proc ÷ completed
# requests), in ROUNDS interleaved rounds; a saturated single worker's throughput is 1 / CPU per
# decision, so the CPU ratio is the contention-free form of the throughput ratio.
#
# Needs wrk, curl, Node and `npm ci --prefix tests/e2e/authjs` (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-2}
PEER_PORT=${PEER_PORT:-18091}
OURS_PORT=${OURS_PORT:-18092}
NODE_PORT=${NODE_PORT:-18093}
SECRET=bench-forward-auth-secret
for tool in wrk curl node; do
  command -v "$tool" >/dev/null || { echo "missing $tool"; exit 1; }
done
[ -d tests/e2e/authjs/node_modules/@auth/core ] || { echo "run: npm ci --prefix tests/e2e/authjs"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --release --bin authjs-proxy
cat > "$work/ours.toml" <<CONF
[server]
listen = "127.0.0.1:$OURS_PORT"
workers = 1
[proxy]
base_url = "http://127.0.0.1:$PEER_PORT"
session_strategy = "jwt"
secret = "$SECRET"
[forward_auth]
enabled = true
CONF

(cd tests/e2e/authjs && PORT=$PEER_PORT AUTH_SECRETS=$SECRET exec node server.mjs >/dev/null) &
peer_pid=$!; pids+=($peer_pid)
(cd tests/e2e/authjs && PORT=$NODE_PORT AUTH_SECRET=$SECRET exec node verifier.mjs >/dev/null) &
node_pid=$!; pids+=($node_pid)
RUST_LOG=warn ./target/release/authjs-proxy --config "$work/ours.toml" &
ours_pid=$!; pids+=($ours_pid)
for url in "http://127.0.0.1:$PEER_PORT/api/auth/csrf" "http://127.0.0.1:$OURS_PORT/healthz" \
           "http://127.0.0.1:$NODE_PORT/verify"; do
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$url" && break
    sleep 0.1
  done
done

# A real session cookie: sign in as Ada on Auth.js.
jar="$work/jar"
csrf=$(curl -s -c "$jar" "http://127.0.0.1:$PEER_PORT/api/auth/csrf" | sed 's/.*"csrfToken":"\([^"]*\)".*/\1/')
curl -s -o /dev/null -b "$jar" -c "$jar" "http://127.0.0.1:$PEER_PORT/api/auth/callback/credentials" \
  --data-urlencode "csrfToken=$csrf" --data-urlencode "email=ada@example.com" \
  --data-urlencode "password=analytical" --data-urlencode "callbackUrl=/"
token=$(awk '$6=="authjs.session-token"{print $7}' "$jar")
[ -n "$token" ] || { echo "sign-in failed: no session cookie"; exit 1; }
cookie="authjs.session-token=$token"

OURS="http://127.0.0.1:$OURS_PORT/_authjs/verify"
NODE="http://127.0.0.1:$NODE_PORT/verify"
SESSION="http://127.0.0.1:$PEER_PORT/api/auth/session"
for url in "$OURS" "$NODE" "$SESSION"; do
  code=$(curl -s -o "$work/body" -w '%{http_code}' -H "Cookie: $cookie" "$url")
  [ "$code" = 200 ] || { echo "$url answered $code with the cookie"; exit 1; }
done
grep -q ada@example.com "$work/body" || { echo "the session route did not recognise the cookie"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$OURS")
[ "$code" = 401 ] || { echo "authjs-proxy answered $code without a cookie"; exit 1; }

TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # name url pid -> prints a line; appends "rps p99 requests cpu_ticks" to $work/<name>
  local out rps p99 reqs errors t0 t1
  t0=$(cpu_ticks "$3")
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $cookie" "$2")
  t1=$(cpu_ticks "$3")
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' <<<"$out")
  printf '%-34s %9.0f decisions/s  p99 %8.2f ms  CPU %8.1f us/decision  %s\n' "$1" "$rps" "$p99" \
    "$(awk -v t=$((t1 - t0)) -v k="$TCK" -v n="$reqs" 'BEGIN{print t / k * 1e6 / n}')" "$errors"
  echo "$rps $p99 $reqs $((t1 - t0))" >> "$work/$4"
}
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, valid session cookie, one worker each, $ROUNDS interleaved rounds"
for round in $(seq 1 "$ROUNDS"); do
  run "authjs-proxy /_authjs/verify" "$OURS" "$ours_pid" ours
  run "Node verifier (Express + decode)" "$NODE" "$node_pid" node
  run "Auth.js session route" "$SESSION" "$peer_pid" authjs
done
summary() { # file -> "mean_rps max_p99 cpu_us_per_decision"
  awk -v k="$TCK" '{r += $1; if ($2 > p) p = $2; n += $3; t += $4; c++}
    END {printf "%.0f %.2f %.2f\n", r / c, p, t / k * 1e6 / n}' "$work/$1"
}
read -r o_rps o_p99 o_cpu < <(summary ours)
read -r n_rps n_p99 n_cpu < <(summary node)
read -r a_rps a_p99 a_cpu < <(summary authjs)
echo
printf '%-34s %9s %10s %16s\n' "summary (mean over rounds)" "decisions/s" "worst p99" "CPU/decision"
printf '%-34s %9.0f %8.2f ms %13.1f us\n' "authjs-proxy /_authjs/verify" "$o_rps" "$o_p99" "$o_cpu"
printf '%-34s %9.0f %8.2f ms %13.1f us\n' "Node verifier (Express + decode)" "$n_rps" "$n_p99" "$n_cpu"
printf '%-34s %9.0f %8.2f ms %13.1f us\n' "Auth.js session route" "$a_rps" "$a_p99" "$a_cpu"
awk -v o="$o_rps" -v n="$n_rps" -v a="$a_rps" -v oc="$o_cpu" -v nc="$n_cpu" -v ac="$a_cpu" 'BEGIN {
  printf "vs Node verifier:        %6.1fx decisions/s, %6.1fx less CPU per decision (target >= 30x)\n", o / n, nc / oc
  printf "vs Auth.js session route: %6.1fx decisions/s, %6.1fx less CPU per decision (target >= 100x)\n", o / a, ac / oc
}'
