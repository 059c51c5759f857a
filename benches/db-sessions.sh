#!/usr/bin/env bash
# Forward-auth decisions per second for database sessions, side by side in one run on this
# machine (loopback only, bounded by DURATION), each server with one worker/process, asked for
# SESSIONS distinct sessions in turn (default 1000: a real e-mail sign-in through Auth.js with
# @auth/pg-adapter, then that many more rows for the same user, as a busy site has many users):
#   * authjs-proxy's /_authjs/verify reading the adapter's tables, session cache off;
#   * the same with the session cache on (ttl 5 s);
#   * Auth.js's own session route (tests/e2e/authjs/server.mjs in database mode).
#
#   bash benches/db-sessions.sh      # DURATION=10s CONNECTIONS=64 THREADS=1 ROUNDS=2 SESSIONS=1000
#   INDEX=1 bash benches/db-sessions.sh   # with a unique index on "sessionToken" (the adapter's
#                                         # documented schema has none: every lookup scans)
#
# Besides decisions/s and p99 it reports CPU per decision (user+system time from /proc ÷
# completed requests) of the answering server alone and with PostgreSQL's (the postmaster and
# its backends: the proxy without cache and Auth.js both query it), in ROUNDS interleaved
# rounds. On a shared machine throughput follows whatever else runs; the CPU figures do not.
#
# Needs wrk, curl, Node, `npm ci --prefix tests/e2e/authjs` and PostgreSQL's initdb and
# postgres (on PATH or in /usr/lib/postgresql/<version>/bin; run as the postgres user when root).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-2}
SESSIONS=${SESSIONS:-1000}
INDEX=${INDEX:-0}
PG_PORT=${PG_PORT:-18190}
PEER_PORT=${PEER_PORT:-18191}
NOCACHE_PORT=${NOCACHE_PORT:-18192}
CACHE_PORT=${CACHE_PORT:-18193}
SECRET=bench-db-sessions-secret
for tool in wrk curl node; do
  command -v "$tool" >/dev/null || { echo "missing $tool"; exit 1; }
done
[ -d tests/e2e/authjs/node_modules/@auth/pg-adapter ] || { echo "run: npm ci --prefix tests/e2e/authjs"; exit 1; }
pgbin() {
  command -v "$1" 2>/dev/null && return
  ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1
}
INITDB=$(pgbin initdb); POSTGRES=$(pgbin postgres)
[ -n "$INITDB" ] && [ -n "$POSTGRES" ] || { echo "missing PostgreSQL (apt-get install postgresql)"; exit 1; }
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$work"

if [ -z "${BIN:-}" ]; then # BIN=<an authjs-proxy binary> measures that one instead
  cargo build -q --release --bin authjs-proxy
  BIN=${CARGO_TARGET_DIR:-target}/release/authjs-proxy
fi

"${as_pg[@]}" "$INITDB" -D "$work/pg" -U postgres -A trust -E UTF8 --no-sync >/dev/null
"${as_pg[@]}" "$POSTGRES" -D "$work/pg" -p "$PG_PORT" -k "$work" -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off 2>"$work/pg.log" &
pids+=($!)
DB="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
for _ in $(seq 1 100); do grep -q "ready to accept connections" "$work/pg.log" && break; sleep 0.1; done
node -e '
  const pg = require("./tests/e2e/authjs/node_modules/pg");
  const c = new pg.Client(process.argv[1]);
  c.connect().then(() => c.query(require("fs").readFileSync(process.argv[2], "utf8"))).then(() => c.end());
' "$DB" tests/fixtures/db-sessions/pg-adapter.sql

(cd tests/e2e/authjs && PORT=$PEER_PORT AUTH_SECRETS=$SECRET E2E_DATABASE_URL=$DB exec node server.mjs >/dev/null) &
peer_pid=$!; pids+=($peer_pid)
for port in $NOCACHE_PORT $CACHE_PORT; do
  ttl=0; [ "$port" = "$CACHE_PORT" ] && ttl=5000
  cat > "$work/proxy-$port.toml" <<CONF
[server]
listen = "127.0.0.1:$port"
workers = 1
[proxy]
base_url = "http://127.0.0.1:$PEER_PORT"
session_strategy = "database"
[proxy.session_cache]
ttl_ms = $ttl
[proxy.session_store.postgres]
url = "$DB"
pool_size = 8
schema = "pg-adapter"
[forward_auth]
enabled = true
CONF
  RUST_LOG=warn "$BIN" --config "$work/proxy-$port.toml" &
  pids+=($!)
  eval "pid_$port=$!"
done
for url in "http://127.0.0.1:$PEER_PORT/api/auth/csrf" "http://127.0.0.1:$NOCACHE_PORT/healthz" \
           "http://127.0.0.1:$CACHE_PORT/healthz"; do
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$url" && break
    sleep 0.1
  done
done

# A real session row: an e-mail sign-in on Auth.js, following the link it "sent".
jar="$work/jar"
csrf=$(curl -s -c "$jar" "http://127.0.0.1:$PEER_PORT/api/auth/csrf" | sed 's/.*"csrfToken":"\([^"]*\)".*/\1/')
curl -s -o /dev/null -b "$jar" -c "$jar" "http://127.0.0.1:$PEER_PORT/api/auth/signin/email" \
  --data-urlencode "csrfToken=$csrf" --data-urlencode "email=ada@example.com" \
  --data-urlencode "callbackUrl=/"
link=$(curl -s "http://127.0.0.1:$PEER_PORT/__e2e/last-link?email=ada@example.com" | sed 's/.*"url":"\([^"]*\)".*/\1/')
curl -s -o /dev/null -b "$jar" -c "$jar" "$link"
token=$(awk '$6=="authjs.session-token"{print $7}' "$jar")
[ -n "$token" ] || { echo "sign-in failed: no session cookie"; exit 1; }
cookie="authjs.session-token=$token"

# The other sessions, and a wrk script that asks for each in turn.
node -e '
  const pg = require("./tests/e2e/authjs/node_modules/pg");
  const c = new pg.Client(process.argv[1]);
  c.connect().then(() => c.query(
    `INSERT INTO sessions ("userId", expires, "sessionToken")
       SELECT (SELECT id FROM users WHERE email = $$ada@example.com$$), now() + interval $$30 days$$,
              $$bench-$$ || i FROM generate_series(1, $1::int) i`, [process.argv[2]])).then(() => c.end());
' "$DB" "$SESSIONS"
if [ "$INDEX" = 1 ]; then
  node -e '
    const pg = require("./tests/e2e/authjs/node_modules/pg");
    const c = new pg.Client(process.argv[1]);
    c.connect().then(() => c.query(`CREATE UNIQUE INDEX ON sessions ("sessionToken"); ANALYZE`)).then(() => c.end());
  ' "$DB"
fi
cat > "$work/sessions.lua" <<LUA
local i = 0
request = function()
  i = i % $SESSIONS + 1
  return wrk.format("GET", nil, {["Cookie"] = "authjs.session-token=bench-" .. i})
end
LUA

NOCACHE="http://127.0.0.1:$NOCACHE_PORT/_authjs/verify"
CACHE="http://127.0.0.1:$CACHE_PORT/_authjs/verify"
SESSION="http://127.0.0.1:$PEER_PORT/api/auth/session"
for url in "$NOCACHE" "$CACHE" "$SESSION"; do
  code=$(curl -s -o "$work/body" -w '%{http_code}' -H "Cookie: $cookie" "$url")
  [ "$code" = 200 ] || { echo "$url answered $code with the cookie"; exit 1; }
done
for url in "$NOCACHE" "$CACHE" "$SESSION"; do
  code=$(curl -s -o "$work/body" -w '%{http_code}' -H "Cookie: authjs.session-token=bench-$SESSIONS" "$url")
  [ "$code" = 200 ] || { echo "$url answered $code for the session bench-$SESSIONS"; exit 1; }
done
grep -q ada@example.com "$work/body" || { echo "the session route did not recognise the session"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: authjs.session-token=not-a-session" "$NOCACHE")
[ "$code" = 401 ] || { echo "authjs-proxy answered $code for an unknown session"; exit 1; }

TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
postmaster=$(head -1 "$work/pg/postmaster.pid")
pg_ticks() { # the postmaster, its ended children (cutime + cstime) and its live ones
  local t p
  t=$(awk '{print $16 + $17}' "/proc/$postmaster/stat")
  for p in "$postmaster" $(pgrep -P "$postmaster"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

run() { # name url pid file -> prints a line; appends "rps p99 requests cpu_ticks pg_ticks"
  local out rps p99 reqs errors t0 t1 g0 g1
  t0=$(cpu_ticks "$3"); g0=$(pg_ticks)
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/sessions.lua" "$2")
  t1=$(cpu_ticks "$3"); g1=$(pg_ticks)
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' <<<"$out")
  printf '%-36s %9.0f decisions/s  p99 %8.2f ms  CPU %7.1f us/decision (+PostgreSQL %7.1f)  %s\n' \
    "$1" "$rps" "$p99" \
    "$(awk -v t=$((t1 - t0)) -v k="$TCK" -v n="$reqs" 'BEGIN{print t / k * 1e6 / n}')" \
    "$(awk -v t=$((t1 - t0 + g1 - g0)) -v k="$TCK" -v n="$reqs" 'BEGIN{print t / k * 1e6 / n}')" "$errors"
  echo "$rps $p99 $reqs $((t1 - t0)) $((g1 - g0))" >> "$work/$4"
}
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $SESSIONS database sessions in turn (index on the token: $INDEX), one worker each, $ROUNDS interleaved rounds"
for round in $(seq 1 "$ROUNDS"); do
  run "authjs-proxy verify, database, no cache" "$NOCACHE" "$(eval echo \$pid_$NOCACHE_PORT)" nocache
  run "authjs-proxy verify, database + cache" "$CACHE" "$(eval echo \$pid_$CACHE_PORT)" cache
  run "Auth.js session route (pg-adapter)" "$SESSION" "$peer_pid" authjs
done
summary() { # file -> "mean_rps max_p99 cpu_us cpu_with_pg_us"
  awk -v k="$TCK" '{r += $1; if ($2 > p) p = $2; n += $3; t += $4; g += $5; c++}
    END {printf "%.0f %.2f %.2f %.2f\n", r / c, p, t / k * 1e6 / n, (t + g) / k * 1e6 / n}' "$work/$1"
}
read -r n_rps n_p99 n_cpu n_all < <(summary nocache)
read -r c_rps c_p99 c_cpu c_all < <(summary cache)
read -r a_rps a_p99 a_cpu a_all < <(summary authjs)
echo
printf '%-36s %11s %10s %13s %16s\n' "summary (mean over rounds)" "decisions/s" "worst p99" "CPU/decision" "+PostgreSQL"
printf '%-36s %11.0f %8.2f ms %10.1f us %13.1f us\n' "authjs-proxy, database, no cache" "$n_rps" "$n_p99" "$n_cpu" "$n_all"
printf '%-36s %11.0f %8.2f ms %10.1f us %13.1f us\n' "authjs-proxy, database + cache" "$c_rps" "$c_p99" "$c_cpu" "$c_all"
printf '%-36s %11.0f %8.2f ms %10.1f us %13.1f us\n' "Auth.js session route" "$a_rps" "$a_p99" "$a_cpu" "$a_all"
awk -v n="$n_rps" -v c="$c_rps" -v a="$a_rps" -v na="$n_all" -v ca="$c_all" -v aa="$a_all" 'BEGIN {
  printf "no cache vs Auth.js session route: %6.1fx decisions/s, %6.1fx less CPU per decision, PostgreSQL included (target >= 20x)\n", n / a, aa / na
  printf "cache    vs Auth.js session route: %6.1fx decisions/s, %6.1fx less CPU per decision, PostgreSQL included\n", c / a, aa / ca
}'
