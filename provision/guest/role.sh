#!/usr/bin/env bash
# With app guests (nodes), what a guest does not run in its role stops for
# good: the app on the front (it ran there with nodes: 0), nginx, Redis and the
# refresh hub on an app guest (the box has them installed and enabled).
set -euo pipefail

case $DEVBOX_GUEST_ROLE in
  front) mapfile -t idle < <(systemctl list-units --all --plain --no-legend "$DEVBOX_NAME@*.service" | awk '{print $1}') ;;
  app) idle=(nginx.service redis-server.service "$DEVBOX_NAME-refresh.service") ;;
  *) idle=() ;;
esac
for unit in "${idle[@]}"; do
  systemctl disable --now --quiet "$unit" 2>/dev/null || true
done
