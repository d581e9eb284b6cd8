#!/usr/bin/env bash
# The stack answers end to end inside the guest: nginx -> gunicorn -> app.
set -euo pipefail
source "$DEVBOX_ROOT/provision/lib.sh"

url="http://127.0.0.1:$DEVBOX_GUEST_PORT/healthz"
for _ in $(seq 60); do
  curl -fsS --max-time 2 "$url" >/dev/null 2>&1 && exit 0
  sleep 0.5
done
journalctl -u "$DEVBOX_NAME.service" -n 20 --no-pager >&2 || true
die "$url did not answer within 30s; the app log is above (also in $DEVBOX_PATHS_LOGS)"
