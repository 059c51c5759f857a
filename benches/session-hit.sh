#!/usr/bin/env bash
# CPU of a `get_server_session` cache hit through an actix handler: examples/embed.rs serves
# `/me` (the `Session` extractor: cookie parsing, cache key, cache hit, JSON answer) and `/`
# (a static body, the baseline) on one worker; wrk drives both with the same session cookie in
# interleaved rounds, and `perf stat -e task-clock` on the process gives CPU per request. The
# difference is what a cache hit costs through a handler. Loopback only; stops by itself.
#
#   bash benches/session-hit.sh          # ROUNDS=3 DURATION=5s CONNECTIONS=64
#
# Target (issue: hot path at the stack's ceiling): a cache hit through a handler under 3 µs of
# CPU. Needs wrk, nginx and perf (Debian: apt-get install wrk nginx-light linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
UP_PORT=${UP_PORT:-18191}
APP_PORT=${APP_PORT:-18192}
for tool in wrk nginx perf; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light linux-perf)"; exit 1; }
done
work=$(mktemp -d)
app=""
cleanup() {
  [ -n "$app" ] && kill "$app" 2>/dev/null || true
  [ -f "$work/up.pid" ] && kill "$(cat "$work/up.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --release --example embed
. benches/stand-in.sh
start_stand_in "$work" "$UP_PORT"
RUST_LOG=warn AUTH_UPSTREAM="http://127.0.0.1:$UP_PORT" LISTEN="127.0.0.1:$APP_PORT" WORKERS=1 \
  ./target/release/examples/embed >/dev/null 2>&1 &
app=$!
cookie="Cookie: authjs.session-token=bench-session"
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$APP_PORT/" >/dev/null && break; sleep 0.1; done
curl -sf -H "$cookie" "http://127.0.0.1:$APP_PORT/me" | grep -q '"Ada Lovelace"' || { echo "/me answers wrongly"; exit 1; }

measure() { # path -> "rps cpu_us_per_request"
  local out secs clock reqs
  secs=${DURATION%s}
  perf stat -x, -e task-clock -p "$app" -o "$work/perf" -- sleep "$secs" &
  local perf_pid=$!
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "$cookie" "http://127.0.0.1:$APP_PORT$1")
  wait "$perf_pid" || true
  clock=$(awk -F, '/task-clock/{print $1}' "$work/perf")
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$1: errors: $(grep 'Non-2xx\|Socket errors' <<<"$out")" >&2; fi
  awk -v r="$(awk '/^Requests\/sec/{print $2}' <<<"$out")" -v c="$clock" -v n="$reqs" 'BEGIN { printf "%s %.2f\n", r, c * 1000 / n }'
}

echo "wrk -t1 -c$CONNECTIONS -d$DURATION x $ROUNDS interleaved rounds, one worker, same session cookie" >&2
: > "$work/static.txt"; : > "$work/me.txt"
for round in $(seq 1 "$ROUNDS"); do
  measure / >> "$work/static.txt"
  measure /me >> "$work/me.txt"
  echo "round $round done" >&2
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
col() { awk -v c="$2" '{print $c}' "$work/$1.txt" | median; }
printf '%-40s %12s %16s\n' "handler (1 worker)" "req/s" "CPU µs/request"
printf '%-40s %12.0f %16.2f\n' "/ (static body, baseline)" "$(col static 1)" "$(col static 2)"
printf '%-40s %12.0f %16.2f\n' "/me (Session extractor, cache hit)" "$(col me 1)" "$(col me 2)"
awk -v m="$(col me 2)" -v s="$(col static 2)" 'BEGIN {
  printf "cache hit through a handler: %.2f µs CPU per request above the baseline (target < 3)\n", m - s
}'
