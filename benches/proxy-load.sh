#!/usr/bin/env bash
# CPU per forwarded request: nginx, two bare actix-web + awc proxies, and authjs-proxy, in front
# of the same stand-in upstream, measured side by side in one run (loopback only, bounded).
# The bare proxies (examples/bare_proxy.rs) have no logic: "bare" forwards nothing but the path
# and answers with status and body alone; "bare+headers" is the shape of actix's http-proxy
# example (request headers up with X-Forwarded-For, answer headers down), the least a proxy in
# front of Auth.js must do (cookies up, Set-Cookie down).
#
#   bash benches/proxy-load.sh                 # WORKERS=1 ROUNDS=3 DURATION=6s CONNECTIONS=64
#   WORKERS=2 bash benches/proxy-load.sh       # the same with two workers each
#
# On a shared 2-core machine throughput follows CPU per request, and two workers per side
# measure contention, not code: the headline figure is CPU µs per request with one worker each,
# from `perf stat -e task-clock` on the proxy process divided by the requests wrk completed.
# Rounds are interleaved (nginx, bare, bare+headers, ours, nginx, ...) so drift hits all three alike; medians
# are reported.
#
# Needs wrk, nginx and perf (Debian: apt-get install wrk nginx-light linux-perf). The stand-in
# upstream is an nginx answering GET /api/auth/session with a fixed session JSON (no Auth.js
# logic), so the figures measure the proxies, not Auth.js.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-6s}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-1}
CONNECTIONS=${CONNECTIONS:-64}
UP_PORT=${UP_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
OURS_PORT=${OURS_PORT:-18083}
BARE_PORT=${BARE_PORT:-18084}
HDR_PORT=${HDR_PORT:-18085}
for tool in wrk nginx perf; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light linux-perf)"; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/up.pid" ] && kill "$(cat "$work/up.pid")" 2>/dev/null || true
  [ -f "$work/px.pid" ] && kill "$(cat "$work/px.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --release --bin authjs-proxy --example bare_proxy
. benches/stand-in.sh
body=$STAND_IN_BODY
start_stand_in "$work" "$UP_PORT"
cat > "$work/px.conf" <<CONF
worker_processes $WORKERS;
pid $work/px.pid;
error_log $work/px.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  keepalive_requests 1000000;
  upstream authjs { server 127.0.0.1:$UP_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /api/auth/ {
      proxy_pass http://authjs;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_redirect default;
    }
  }
}
CONF
cat > "$work/ours.toml" <<CONF
[server]
listen = "127.0.0.1:$OURS_PORT"
workers = $WORKERS
[proxy]
base_url = "http://127.0.0.1:$UP_PORT"
session_strategy = "jwt"
CONF

nginx -c "$work/px.conf" -e "$work/px.err"
RUST_LOG=warn ./target/release/authjs-proxy --config "$work/ours.toml" & pids+=($!)
ours_pid=$!
./target/release/examples/bare_proxy "127.0.0.1:$BARE_PORT" "http://127.0.0.1:$UP_PORT" "$WORKERS" >/dev/null 2>&1 & pids+=($!)
bare_pid=$!
./target/release/examples/bare_proxy "127.0.0.1:$HDR_PORT" "http://127.0.0.1:$UP_PORT" "$WORKERS" headers >/dev/null 2>&1 & pids+=($!)
hdr_pid=$!
for port in $UP_PORT $NGINX_PORT $OURS_PORT $BARE_PORT $HDR_PORT; do
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/api/auth/session" >/dev/null && break
    sleep 0.1
  done
done
[ "$(curl -s "http://127.0.0.1:$OURS_PORT/api/auth/session")" = "$body" ] || { echo "authjs-proxy answers wrongly"; exit 1; }
nginx_pids() { # the proxy nginx's master and workers
  local master; master=$(cat "$work/px.pid")
  echo "$master $(pgrep -P "$master" | tr '\n' ' ')" | xargs | tr ' ' ','
}

measure() { # name port pids -> one line "rps p99_ms cpu_us_per_request" on stdout
  local out secs clock reqs rps p99
  secs=${DURATION%s}
  perf stat -x, -e task-clock -p "$3" -o "$work/perf.$1" -- sleep "$secs" &
  local perf_pid=$!
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$2/api/auth/session")
  wait "$perf_pid" || true
  clock=$(awk -F, '/task-clock/{print $1}' "$work/perf.$1")
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$1: errors: $(grep 'Non-2xx\|Socket errors' <<<"$out")" >&2; fi
  awk -v r="$rps" -v p="$p99" -v c="$clock" -v n="$reqs" 'BEGIN { printf "%s %s %.2f\n", r, p, c * 1000 / n }'
}

echo "wrk -t1 -c$CONNECTIONS -d$DURATION x $ROUNDS interleaved rounds, $WORKERS worker(s) per proxy, GET /api/auth/session" >&2
: > "$work/nginx.txt"; : > "$work/bare.txt"; : > "$work/hdr.txt"; : > "$work/ours.txt"
for round in $(seq 1 "$ROUNDS"); do
  measure nginx "$NGINX_PORT" "$(nginx_pids)" >> "$work/nginx.txt"
  measure bare "$BARE_PORT" "$bare_pid" >> "$work/bare.txt"
  measure hdr "$HDR_PORT" "$hdr_pid" >> "$work/hdr.txt"
  measure ours "$OURS_PORT" "$ours_pid" >> "$work/ours.txt"
  echo "round $round done" >&2
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
col() { awk -v c="$2" '{print $c}' "$work/$1.txt" | median; }
printf '%-24s %12s %10s %16s\n' "proxy ($WORKERS worker)" "req/s" "p99 ms" "CPU µs/request"
for who in nginx bare hdr ours; do
  name=$who; [ "$who" = bare ] && name="bare actix-web + awc"; [ "$who" = hdr ] && name="bare+headers"; [ "$who" = ours ] && name="authjs-proxy"
  printf '%-24s %12.0f %10.2f %16.2f\n' "$name" "$(col $who 1)" "$(col $who 2)" "$(col $who 3)"
done
awk -v o="$(col ours 3)" -v b="$(col bare 3)" -v h="$(col hdr 3)" -v hp="$(col hdr 2)" -v n="$(col nginx 3)" -v orps="$(col ours 1)" -v nrps="$(col nginx 1)" -v op="$(col ours 2)" -v bp="$(col bare 2)" 'BEGIN {
  printf "CPU per request: authjs-proxy / bare stack %.2f (target <= 1.10), authjs-proxy / nginx %.2f\n", o / b, o / n
  printf "CPU per request: authjs-proxy / bare+headers %.2f, bare+headers / bare %.2f\n", o / h, h / b
  printf "throughput: authjs-proxy / nginx %.2f (target >= 0.70)\n", orps / nrps
  printf "p99: authjs-proxy %.2f ms, bare stack %.2f ms, bare+headers %.2f ms\n", op, bp, hp
}'
