#!/usr/bin/env bash
# The stack answers end to end inside the guest: nginx -> every app instance's
# gunicorn -> devbox's entry point -> the app, which loaded.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null; }
# Each instance's own health, past nginx's balancer.
for instance in $(seq "$DEVBOX_INSTANCES"); do
  url="http://127.0.0.1:$DEVBOX_GUEST_PORT/_devbox/instances/$instance/health"
  for _ in $(seq 60); do
    body=$(curl --noproxy "*" -sS --max-time 2 "$url" 2>/dev/null) || body=
    case $(field "$body" status) in
      ok) continue 2 ;;
      error) die "the stack is up, but the app ($DEVBOX_APP_WSGI) failed to load: $(field "$body" error); fix it, then fab reload" ;;
    esac
    sleep 0.5
  done
  journalctl -u "$DEVBOX_NAME@$instance.service" -n 20 --no-pager >&2 || true
  die "$url did not answer within 30s; the app log is above (also in $DEVBOX_PATHS_LOGS)"
done
