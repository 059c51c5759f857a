# Sourced by the load scripts: the stand-in upstream, an nginx answering GET /api/auth/session
# with a fixed session JSON (no Auth.js logic), so the figures measure what is in front of it.
#
#   start_stand_in "$work" "$UP_PORT"    # writes $work/up.conf, starts nginx (pid in $work/up.pid)
#   "$STAND_IN_BODY"                     # the session JSON it answers
# The caller's cleanup stops it: kill "$(cat "$work/up.pid")".

STAND_IN_BODY='{"user":{"name":"Ada Lovelace","email":"ada@example.com","id":"u-ada"},"expires":"2030-01-01T00:00:00.000Z"}'

start_stand_in() { # work_dir port
  cat > "$1/up.conf" <<CONF
worker_processes 1;
pid $1/up.pid;
error_log $1/up.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1; uwsgi_temp_path $1; scgi_temp_path $1;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$2;
    location = /api/auth/session { default_type application/json; return 200 '$STAND_IN_BODY'; }
  }
}
CONF
  nginx -c "$1/up.conf" -e "$1/up.err"
}
