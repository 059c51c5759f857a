#!/usr/bin/env bash
# Forward-auth decisions per second, side by side in one run on this machine (loopback only,
# bounded by DURATION), each server with one worker/process, the same valid session cookie:
#   * authjs-proxy's /_authjs/verify (JWT session decoded locally);
#   * a Node verifier doing what Node apps do today: Express + @auth/core `decode` per request
#     (tests/e2e/authjs/verifier.mjs);
#   * Auth.js's own session route (tests/e2e/authjs/server.mjs, GET /api/auth/session).
#
#   bash benches/forward-auth.sh      # DURATION=10s CONNECTIONS=64 THREADS=1 ROUNDS=2
#   MODE=nginx bash benches/forward-auth.sh
#
# MODE=nginx puts a real nginx (one worker, auth_request) in front of a static page three times,
# side by side: once asking authjs-proxy's decision, once a no-op static 200 verifier inside
# nginx (the architecture's limit), and once a no-op verifier over HTTP (a second nginx, one
# worker, `return 200`, asked over keep-alive exactly as authjs-proxy is: the floor of any
# verifier behind auth_request). It prints pages/s through each, the ratios, and the CPU per
# decision of authjs-proxy and of the no-op HTTP verifier (target: >= 0.85x and <= 6 us).
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
MODE=${MODE:-peers}
NGINX_PORT=${NGINX_PORT:-18094}; NOOP_PORT=${NOOP_PORT:-18095}
NOOP_HTTP_PORT=${NOOP_HTTP_PORT:-18096}; VERIFIER_PORT=${VERIFIER_PORT:-18097}
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

if [ "$MODE" = nginx ]; then
  command -v nginx >/dev/null || { echo "missing nginx (apt-get install nginx-light)"; exit 1; }
  mkdir -p "$work/nginx/www"
  echo page > "$work/nginx/www/index.html"
  page_server() { # port verifier-location-body
    cat <<SERVER
  server {
    listen 127.0.0.1:$1;
    location / {
      auth_request /_verify;
      auth_request_set \$auth_user \$upstream_http_x_auth_request_user;
      add_header X-User \$auth_user;
      root $work/nginx/www;
      try_files /index.html =404;
    }
    location = /_verify {
      internal;
      $2
    }
  }
SERVER
  }
  nginx_head() { # dir: one worker in the foreground, its temp files in dir; opens http {
    cat <<HEAD
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log stderr error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
HEAD
  }
  ask() { # upstream: the auth_request subrequest as the README's snippet sends it
    echo "proxy_pass http://$1/_authjs/verify; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_pass_request_body off; proxy_set_header Content-Length \"\";"
  }
  cat > "$work/nginx.conf" <<CONF
$(nginx_head "$work/nginx")
  upstream authjs_proxy { server 127.0.0.1:$OURS_PORT; keepalive 64; }
  upstream noop_verifier { server 127.0.0.1:$VERIFIER_PORT; keepalive 64; }
$(page_server "$NGINX_PORT" "$(ask authjs_proxy)")
$(page_server "$NOOP_PORT" "return 200;")
$(page_server "$NOOP_HTTP_PORT" "$(ask noop_verifier)")
}
CONF
  mkdir -p "$work/verifier"
  cat > "$work/verifier.conf" <<CONF
$(nginx_head "$work/verifier")
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$VERIFIER_PORT; location / { return 200; } }
}
CONF
  nginx -c "$work/nginx.conf" -p "$work/nginx" &
  nginx_pid=$!; pids+=($nginx_pid)
  nginx -c "$work/verifier.conf" -p "$work/verifier" &
  verifier_pid=$!; pids+=($verifier_pid)
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$NOOP_PORT/" && break; sleep 0.1; done
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$VERIFIER_PORT/" && break; sleep 0.1; done
  for port in "$NGINX_PORT" "$NOOP_PORT" "$NOOP_HTTP_PORT"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$port/")
    [ "$code" = 200 ] || { echo "nginx on $port answered $code with the cookie"; exit 1; }
  done
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT/")
  [ "$code" = 401 ] || { echo "nginx with authjs-proxy answered $code without a cookie"; exit 1; }
  TCK=$(getconf CLK_TCK)
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  echo "nginx auth_request, one worker each, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS interleaved rounds"
  : > "$work/through"; : > "$work/noop"; : > "$work/noop-http"
  for round in $(seq 1 "$ROUNDS"); do
    for side in through noop noop-http; do
      port=$NGINX_PORT; verifier=$ours_pid
      [ "$side" = noop ] && port=$NOOP_PORT
      [ "$side" = noop-http ] && port=$NOOP_HTTP_PORT && verifier=$verifier_pid
      t0=$(cpu_ticks "$verifier")
      out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "Cookie: $cookie" "http://127.0.0.1:$port/")
      t1=$(cpu_ticks "$verifier")
      rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
      reqs=$(awk '/requests in/{print $1}' <<<"$out")
      errors=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' <<<"$out")
      printf '%-44s %9.0f pages/s  %s\n' "nginx + $side" "$rps" "$errors"
      echo "$rps $reqs $((t1 - t0))" >> "$work/$side"
    done
  done
  awk -v k="$TCK" 'FNR == 1 {f++} {r[f] += $1; n[f]++; q[f] += $2; t[f] += $3}
    END {
      printf "through authjs-proxy: %.0f pages/s, static verifier: %.0f pages/s, ratio %.3f (target >= 0.85)\n", r[1] / n[1], r[2] / n[2], (r[1] / n[1]) / (r[2] / n[2])
      printf "through a no-op HTTP verifier (nginx return 200): %.0f pages/s, ratio %.3f to the static verifier; authjs-proxy reaches %.3f of it\n", r[3] / n[3], (r[3] / n[3]) / (r[2] / n[2]), (r[1] / n[1]) / (r[3] / n[3])
      printf "authjs-proxy CPU per decision: %.2f us (target <= 6); the no-op HTTP verifier: %.2f us\n", t[1] / k * 1e6 / q[1], t[3] / k * 1e6 / q[3]
    }' "$work/through" "$work/noop" "$work/noop-http"
  exit 0
fi

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
