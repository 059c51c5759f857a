#!/usr/bin/env bash
# Resident memory of authjs-proxy (one worker): idle, and with CONNS open client connections
# (keep-alive, each having made one request). Loopback only; stops by itself.
#
#   bash benches/memory.sh            # CONNS=2000
#
# Targets (issue: hot path at the stack's ceiling): idle RSS under 20 MB; under 60 MB with
# 2,000 open client connections.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-2000}
PORT=${PORT:-18093}
UP_PORT=${UP_PORT:-18094}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

cargo build -q --release --bin authjs-proxy
# A stand-in upstream that answers every request with `null`.
python3 - "$UP_PORT" <<'PY' & pids+=($!)
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", "4"); self.end_headers(); self.wfile.write(b"null")
    def log_message(self, *a): pass
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
cat > "$work/p.toml" <<CONF
[server]
listen = "127.0.0.1:$PORT"
workers = 1
[proxy]
base_url = "http://127.0.0.1:$UP_PORT"
session_strategy = "jwt"
CONF
RUST_LOG=warn ./target/release/authjs-proxy --config "$work/p.toml" & pids+=($!)
proxy=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/api/auth/session" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$proxy/status"; }
sleep 1
echo "idle RSS (after one request): $(rss) MB (target < 20 MB)"
python3 - "$PORT" "$CONNS" "$proxy" <<'PY'
import socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
req = b"GET /api/auth/session HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(req)
    socks.append(s)
for s in socks:
    s.recv(4096)
time.sleep(1)
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
print(f"RSS with {n} open connections: {int(rss)/1024:.1f} MB (target < 60 MB)")
for s in socks:
    s.close()
PY
