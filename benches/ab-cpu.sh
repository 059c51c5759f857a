#!/usr/bin/env bash
# CPU per forwarded request of two authjs-proxy binaries side by side: the way to see whether a
# change to the hot path pays, on a shared machine where separate runs drift more than the change.
#
#   git worktree add /tmp/base <rev> && (cd /tmp/base && cargo build --release --bin authjs-proxy)
#   cargo build --release --bin authjs-proxy
#   bash benches/ab-cpu.sh /tmp/base/target/release/authjs-proxy target/release/authjs-proxy
#
# Both run with one worker in front of the same stand-in upstream (an nginx answering
# GET /api/auth/session); wrk -t1 -c64 alternates between them for ROUNDS rounds of DURATION
# seconds; CPU per request is `perf stat -e task-clock` on the proxy ÷ requests completed.
# Prints every round, the medians and B/A. Needs wrk, nginx and perf. Loopback only, bounded.
#
# A_ENV / B_ENV add environment variables to one side only (`VAR=value ...`), to compare one
# binary with itself under two settings, e.g. tracing on with sampling 0 against off:
#   B_ENV="OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 OTEL_TRACES_SAMPLER=traceidratio \
#     OTEL_TRACES_SAMPLER_ARG=0" bash benches/ab-cpu.sh target/release/authjs-proxy target/release/authjs-proxy
#
# MODE=forward-auth compares forward-auth decisions instead: both binaries get `[forward_auth]`
# and a secret, and wrk asks GET /_authjs/verify with one valid session cookie (a JWT session
# decoded locally; minted by binary A's `token encode`).
set -euo pipefail
A=$(realpath "$1"); B=$(realpath "$2")
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}; DURATION=${DURATION:-4}; MODE=${MODE:-forward}
SECRET=ab-cpu-bench-secret
PATH_ASKED=/api/auth/session
[ "$MODE" = forward-auth ] && PATH_ASKED=/_authjs/verify
UP_PORT=${UP_PORT:-18281}; A_PORT=${A_PORT:-18283}; B_PORT=${B_PORT:-18284}
for tool in wrk nginx perf; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light linux-perf)"; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/up.pid" ] && kill "$(cat "$work/up.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT
. benches/stand-in.sh
start_stand_in "$work" "$UP_PORT"
start() { # binary port env -> pid
  cat > "$work/$2.toml" <<CONF
[server]
listen = "127.0.0.1:$2"
workers = 1
[proxy]
base_url = "http://127.0.0.1:$UP_PORT"
session_strategy = "jwt"
CONF
  [ "$MODE" = forward-auth ] && printf 'secret = "%s"\n[forward_auth]\nenabled = true\n' "$SECRET" >> "$work/$2.toml"
  # shellcheck disable=SC2086 # $3 is a list of VAR=value words
  env RUST_LOG=warn $3 "$1" --config "$work/$2.toml" >/dev/null 2>&1 &
  echo $!
}
a_pid=$(start "$A" "$A_PORT" "${A_ENV:-}"); pids+=("$a_pid")
b_pid=$(start "$B" "$B_PORT" "${B_ENV:-}"); pids+=("$b_pid")
for port in $UP_PORT $A_PORT $B_PORT; do
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/api/auth/session" >/dev/null && break
    sleep 0.1
  done
done
cookie=()
if [ "$MODE" = forward-auth ]; then
  token=$(echo '{"sub":"u-ada","email":"ada@example.com","name":"Ada"}' \
    | "$A" token encode --secret "$SECRET")
  cookie=(-H "Cookie: authjs.session-token=$token")
  for port in $A_PORT $B_PORT; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "${cookie[@]}" "http://127.0.0.1:$port$PATH_ASKED")
    [ "$code" = 200 ] || { echo "forward-auth on port $port answered $code, not 200"; exit 1; }
  done
fi
for port in $A_PORT $B_PORT; do wrk -t1 -c64 -d1s "${cookie[@]}" "http://127.0.0.1:$port$PATH_ASKED" >/dev/null; done
: > "$work/a.txt"; : > "$work/b.txt"
for _ in $(seq 1 "$ROUNDS"); do
  for who in a b; do
    port=$A_PORT; pid=$a_pid; [ "$who" = b ] && { port=$B_PORT; pid=$b_pid; }
    perf stat -x, -e task-clock -p "$pid" -o "$work/stat" -- sleep "$DURATION" &
    perf_pid=$!
    wrk -t1 -c64 -d"${DURATION}s" "${cookie[@]}" "http://127.0.0.1:$port$PATH_ASKED" > "$work/wrk"
    wait "$perf_pid" || true
    awk -F, -v n="$(awk '/requests in/{print $1}' "$work/wrk")" '/task-clock/{printf "%.2f\n", $1 * 1000 / n}' "$work/stat" >> "$work/$who.txt"
  done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "A $(tr '\n' ' ' < "$work/a.txt")median $(median "$work/a.txt") µs/request"
echo "B $(tr '\n' ' ' < "$work/b.txt")median $(median "$work/b.txt") µs/request"
awk -v a="$(median "$work/a.txt")" -v b="$(median "$work/b.txt")" 'BEGIN { printf "B/A %.3f\n", b / a }'
