#!/usr/bin/env bash
# Logs that cannot fill the disk: nginx's and gunicorn's logs in paths.logs
# are rotated by size, checked every minute (a benchmark writes tens of MB a
# minute to the access log, far more than Debian's daily logrotate run allows).
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

changed=false
render logs/logrotate.conf.j2 && changed=true
render logs/logrotate.service.j2 && changed=true
render logs/logrotate.timer.j2 && changed=true
if $changed; then
  systemctl daemon-reload
fi
enable_units "$DEVBOX_NAME-logrotate.timer"
systemctl start "$DEVBOX_NAME-logrotate.timer"
