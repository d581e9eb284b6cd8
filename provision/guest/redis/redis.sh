#!/usr/bin/env bash
# Redis, the message queue devbox offers every app as REDIS_URL: during a
# graceful reload the old and the new worker both serve clients, and a
# Flask-SocketIO broadcast reaches both only through a queue.
# With one guest it listens on loopback only (Debian's default). With app
# guests (nodes) it also listens on the front's fixed address, with the
# password the Vagrantfile made for this devbox.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

conf=/etc/redis/devbox.conf
main=/etc/redis/redis.conf
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if [[ $DEVBOX_NODES == 0 ]]; then
  echo "# devbox: one guest, Redis on loopback only (Debian's defaults in redis.conf)" > "$tmp"
else
  if [[ $(ip -4 -o addr show) != *" $DEVBOX_GUEST_ADDRESS/"* ]]; then
    [[ $DEVBOX_PRODUCTION == false ]] || die "this server lacks the address $DEVBOX_GUEST_ADDRESS, which its app" \
      "servers would reach Redis on; set front_address in deploy.yaml to its address on their network"
    die "this guest lacks its fixed address $DEVBOX_GUEST_ADDRESS, which app guests reach Redis on; run vagrant reload"
  fi
  if [[ -n ${DEVBOX_REDIS_PASSWORD:-} ]]; then
    check_secret DEVBOX_REDIS_PASSWORD "$DEVBOX_REDIS_PASSWORD"
    printf '# devbox: app guests reach Redis here, with the password.\nbind 127.0.0.1 -::1 %s\nrequirepass %s\n' \
      "$DEVBOX_GUEST_ADDRESS" "$DEVBOX_REDIS_PASSWORD" > "$tmp"
  elif grep -qs '^requirepass ' "$conf"; then
    cp "$conf" "$tmp"   # a named step (fab) without the secrets: keep them
  else
    die "Redis's password comes from the host; run vagrant provision (a server: fab deploy)"
  fi
fi
changed=false
install_file "$tmp" "$conf" 640 && changed=true
chgrp redis "$conf"
grep -qx "include $conf" "$main" || { echo "include $conf" >> "$main"; changed=true; }
enable_units redis-server
if $changed; then
  systemctl restart redis-server
else
  systemctl start redis-server
fi
for _ in $(seq 20); do
  [[ $(bash "$(dirname "$0")/cli.sh" ping 2>/dev/null) == PONG ]] && exit 0
  sleep 0.25
done
die "redis-server does not answer on 127.0.0.1:$DEVBOX_REDIS_PORT (journalctl -u redis-server)"
