#!/usr/bin/env bash
# Proxy throughput and latency: authjs-proxy vs nginx, in front of the same stand-in upstream,
# measured in one run on this machine (loopback only, bounded by DURATION).
#
#   bash benches/proxy-load.sh            # DURATION=10s CONNECTIONS=64 by default
#
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light). The stand-in upstream is an
# nginx answering GET /api/auth/session with a fixed session JSON (no Auth.js logic), so the
# figures measure the proxies, not Auth.js.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
UP_PORT=${UP_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
OURS_PORT=${OURS_PORT:-18083}
BARE_PORT=${BARE_PORT:-18084}
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx-light)"; exit 1; }
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
body='{"user":{"name":"Ada Lovelace","email":"ada@example.com","id":"u-ada"},"expires":"2030-01-01T00:00:00.000Z"}'

cat > "$work/up.conf" <<CONF
worker_processes 1;
pid $work/up.pid;
error_log $work/up.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UP_PORT;
    location = /api/auth/session { default_type application/json; return 200 '$body'; }
  }
}
CONF
cat > "$work/px.conf" <<CONF
worker_processes 2;
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
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
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
workers = 2
[proxy]
base_url = "http://127.0.0.1:$UP_PORT"
session_strategy = "jwt"
CONF

nginx -c "$work/up.conf" -e "$work/up.err"
nginx -c "$work/px.conf" -e "$work/px.err"
RUST_LOG=warn ./target/release/authjs-proxy --config "$work/ours.toml" & pids+=($!)
./target/release/examples/bare_proxy "127.0.0.1:$BARE_PORT" "http://127.0.0.1:$UP_PORT" >/dev/null 2>&1 & pids+=($!)
for port in $UP_PORT $NGINX_PORT $OURS_PORT $BARE_PORT; do
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/api/auth/session" >/dev/null && break
    sleep 0.1
  done
done
[ "$(curl -s "http://127.0.0.1:$OURS_PORT/api/auth/session")" = "$body" ] || { echo "authjs-proxy answers wrongly"; exit 1; }

run() { # name port -> "rps p99_ms"
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$2/api/auth/session")
  local rps p99 errors
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/{print}' <<<"$out")
  printf '%-22s %12.0f req/s   p99 %8.2f ms  %s\n' "$1" "$rps" "$p99" "$errors" >&2
  echo "$rps $p99"
}
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, GET /api/auth/session" >&2
read -r up_rps up_p99 < <(run "upstream (direct)" $UP_PORT)
read -r nx_rps nx_p99 < <(run "nginx proxy" $NGINX_PORT)
read -r our_rps our_p99 < <(run "authjs-proxy" $OURS_PORT)
read -r bare_rps bare_p99 < <(run "bare actix+awc proxy" $BARE_PORT)
awk -v o="$our_rps" -v n="$nx_rps" -v b="$bare_rps" -v op="$our_p99" -v np="$nx_p99" -v up="$up_p99" 'BEGIN {
  printf "throughput authjs-proxy / nginx: %.2f (target >= 1.00)\n", o / n
  printf "throughput authjs-proxy / bare actix+awc proxy: %.2f\n", o / b
  printf "added p99 over direct: authjs-proxy %.2f ms, nginx %.2f ms\n", op - up, np - up
}'
