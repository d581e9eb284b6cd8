#!/usr/bin/env bash
# ExecReload of the app unit: gunicorn's graceful reload (HUP), returning only
# once old code can no longer take a request, and safe for saves that come
# faster than old workers wind down. Usage: reload.sh MASTER_PID BIND
# (BIND as gunicorn's --bind: unix:/path or 127.0.0.1:PORT)
#
# - After a HUP the old worker lingers while its WebSockets are open (up to
#   graceful_timeout). gunicorn still counts it, so the next HUP would retire
#   it instead of the worker serving now, leaving stale code answering. Workers
#   retired earlier are therefore stopped first. They no longer accept, and
#   under eventlet they ignore QUIT, so they are killed: their WebSocket
#   clients reconnect to the current worker and catch up.
# - A retiring worker keeps accepting until it notices the stop (within 50 ms
#   with devbox's eventlet worker, a second with gunicorn's own). The reload
#   waits until it has closed the listening socket.
set -euo pipefail

master=${1:?usage: reload.sh MASTER_PID BIND}
bind=${2:?usage: reload.sh MASTER_PID BIND}
# ps pads its pids with spaces; /proc/"  123" is no process.
workers() { ps -o pid= --sort=start_time --ppid "$master" | tr -d ' ' || true; }

mapfile -t old < <(workers)
if ((${#old[@]} > 1)); then
  kill -KILL "${old[@]:0:${#old[@]}-1}" 2>/dev/null || true
  for _ in $(seq 100); do
    (($(workers | wc -l) <= 1)) && break
    sleep 0.02
  done
  mapfile -t old < <(workers)
fi

inode=$(bash "$(dirname "$0")/listener.sh" "$bind")
kill -HUP "$master"
[[ -n $inode ]] || exit 0
# (Past that, a worker that lingers still counts as retired.)
bash "$(dirname "$0")/released.sh" "$inode" 2 "${old[@]}" || true
