#!/usr/bin/env bash
# The stack answers end to end inside the guest: nginx -> every app instance's
# gunicorn -> devbox's entry point -> the app, which loaded. With app guests
# (nodes), each checks its own instance, and the front that nginx answers (its
# app guests may come up after it; the host checks the whole path). A server's
# front checks every instance through nginx: its app servers are up by then.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

# An instance's health: through nginx (a URL), or from its own socket (an app
# guest's), in the protocol its server speaks.
fetch() {
  if [[ $1 == http* ]]; then
    curl --noproxy "*" --insecure -sS --max-time 2 "$1"
  else
    (cd "$DEVBOX_ROOT" && python3 -m devbox.guest.ask_app "$DEVBOX_SERVER" "$1" /_devbox/health)
  fi
}
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null; }
nginx="http://127.0.0.1:$DEVBOX_GUEST_PORT"
role=$DEVBOX_GUEST_ROLE
[[ $DEVBOX_PRODUCTION/$role != true/front ]] || role=all
case $role in
  all) read -ra units <<< "$DEVBOX_GUEST_UNITS"
       # A server's nginx answers plain HTTP with a redirect: through HTTPS
       # (its certificate is for the server's names; not checked here).
       [[ $DEVBOX_PRODUCTION == false ]] || nginx="https://127.0.0.1:$DEVBOX_HTTPS_GUEST_PORT"
       urls=()  # each instance's own health, past nginx's balancer
       for instance in $(seq "$DEVBOX_INSTANCES"); do urls+=("$nginx/_devbox/instances/$instance/health"); done ;;
  app) units=("$DEVBOX_GUEST_UNITS")
       urls=("$DEVBOX_APP_BIND_UNIT") ;;
  front) curl --noproxy "*" -sS -o /dev/null --max-time 5 "$nginx/_devbox/health" \
           || die "nginx does not answer on $nginx (journalctl -u nginx)"
         exit 0 ;;
esac
for i in "${!urls[@]}"; do
  url=${urls[$i]}
  for _ in $(seq 60); do
    body=$(fetch "$url" 2>/dev/null || true)
    case $(field "$body" status) in
      ok) continue 2 ;;
      error) die "the stack is up, but the app ($DEVBOX_APP_WSGI) failed to load: $(field "$body" error); fix it, then fab reload" ;;
    esac
    sleep 0.5
  done
  if [[ -z ${units[$i]:-} ]]; then  # a front's: the instance runs on an app server
    die "$url did not answer within 30s; see app server $((i + 1))'s log (journalctl -u $DEVBOX_NAME@$((i + 1)) there)"
  fi
  journalctl -u "${units[$i]}" -n 20 --no-pager >&2 || true
  die "$url did not answer within 30s; the app log is above (also in $DEVBOX_PATHS_LOGS)"
done
