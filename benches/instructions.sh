#!/usr/bin/env bash
# Instructions per request of two authjs-proxy runs, counted by valgrind's callgrind: unlike
# CPU time, the count does not follow whatever else the machine runs, so a difference of a few
# hundred nanoseconds shows where `benches/ab-cpu.sh` only shows noise. It counts user-space
# instructions only (not the kernel's work for the sockets) and is no measure of time: use it
# beside ab-cpu.sh, for changes in our own code.
#
#   bash benches/instructions.sh A_BINARY B_BINARY          # REQUESTS=4000 MODE=forward
#   B_ENV="OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 OTEL_TRACES_SAMPLER=traceidratio \
#     OTEL_TRACES_SAMPLER_ARG=0" bash benches/instructions.sh target/release/authjs-proxy target/release/authjs-proxy
#
# Each side runs alone under callgrind with one worker in front of the stand-in upstream
# (benches/stand-in.sh); after 200 warm-up requests its counters are zeroed, REQUESTS requests
# are sent over 4 keep-alive connections, and the counters are dumped. Prints instructions per
# request of each side and B/A. MODE=forward-auth asks GET /_authjs/verify with a session
# cookie instead. A_ENV / B_ENV add environment variables to one side. Needs valgrind, nginx,
# python3. Loopback only, bounded.
set -euo pipefail
A=$(realpath "$1"); B=$(realpath "$2")
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-4000}; MODE=${MODE:-forward}
SECRET=instructions-bench-secret
PATH_ASKED=/api/auth/session
[ "$MODE" = forward-auth ] && PATH_ASKED=/_authjs/verify
UP_PORT=${UP_PORT:-18291}; PORT=${PORT:-18293}
for tool in valgrind callgrind_control nginx python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install valgrind nginx-light)"; exit 1; }
done
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -f "$work/up.pid" ] && kill "$(cat "$work/up.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT
. benches/stand-in.sh
start_stand_in "$work" "$UP_PORT"
cat > "$work/proxy.toml" <<CONF
[server]
listen = "127.0.0.1:$PORT"
workers = 1
[proxy]
base_url = "http://127.0.0.1:$UP_PORT"
session_strategy = "jwt"
CONF
[ "$MODE" = forward-auth ] && printf 'secret = "%s"\n[forward_auth]\nenabled = true\n' "$SECRET" >> "$work/proxy.toml"
cookie=
if [ "$MODE" = forward-auth ]; then
  cookie="authjs.session-token=$(echo '{"sub":"u-ada","email":"ada@example.com","name":"Ada"}' \
    | "$A" token encode --secret "$SECRET")"
fi

send() { # count: requests over 4 keep-alive connections; fails on any answer but 200
  python3 - "$PORT" "$PATH_ASKED" "$cookie" "$1" <<'PY'
import http.client, sys, threading
port, path, cookie, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
headers = {"Cookie": cookie} if cookie else {}
bad = []
def client(n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(n):
        c.request("GET", path, headers=headers)
        r = c.getresponse(); r.read()
        if r.status != 200:
            bad.append(r.status)
    c.close()
threads = [threading.Thread(target=client, args=(count // 4,)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
sys.exit(f"answers other than 200: {bad[:5]}" if bad else 0)
PY
}

measure() { # binary env -> instructions per request
  local out="$work/callgrind.out"
  rm -f "$out"*
  # shellcheck disable=SC2086 # $2 is a list of VAR=value words
  env RUST_LOG=warn $2 valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$1" --config "$work/proxy.toml" >/dev/null 2>"$work/valgrind.err" &
  pid=$!
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
    sleep 0.2
  done
  send 200
  callgrind_control -z "$pid" >/dev/null 2>&1
  send "$REQUESTS"
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  # The first dump (`$out.1`) holds what was counted since the zeroing.
  awk -v n="$REQUESTS" '/^(summary|totals):/ {s = $2} END {printf "%.0f\n", s / n}' "$out.1"
}
a=$(measure "$A" "${A_ENV:-}")
b=$(measure "$B" "${B_ENV:-}")
echo "A $a instructions/request"
echo "B $b instructions/request"
awk -v a="$a" -v b="$b" 'BEGIN {printf "B/A %.3f (%+d instructions/request)\n", b / a, b - a}'
