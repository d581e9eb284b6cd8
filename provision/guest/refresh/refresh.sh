#!/usr/bin/env bash
# Live refresh (development mode): devbox's hub that open pages listen to and
# that `fab watch` tells (devbox/guest/refresh.py), with a token only root in
# the guest can read, so only fab watch (over SSH) can make pages refresh. The
# hub runs from a root-owned copy under a throw-away user; with dev_mode off it
# is removed.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

service=$DEVBOX_NAME-refresh.service
unit=/etc/systemd/system/$service
hub=/usr/local/lib/$DEVBOX_NAME/refresh.py   # the unit runs this copy
token=$DEVBOX_PATHS_CONFIG/refresh.token

if [[ $DEVBOX_DEV_MODE != true ]]; then
  if [[ -f $unit ]]; then
    systemctl disable --now --quiet "$service"
    rm -f "$unit"
    systemctl daemon-reload
  fi
  exit 0
fi

if [[ ! -s $token ]]; then
  (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$token")
fi
changed=false
if install_file "$DEVBOX_ROOT/devbox/guest/refresh.py" "$hub"; then
  changed=true
fi
if render refresh/refresh.service.j2; then
  systemctl daemon-reload
  changed=true
fi
enable_units "$service"
if $changed; then
  systemctl restart "$service"
else
  systemctl start "$service"
fi
