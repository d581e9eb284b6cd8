#!/usr/bin/env bash
# ExecReload of the app unit: gunicorn's graceful reload (HUP), made safe for
# saves that come faster than old workers wind down.
#
# After a HUP the old worker lingers while its WebSockets are open (up to
# graceful_timeout). gunicorn still counts it, so the next HUP retires that
# one instead of the worker serving now: two workers then answer side by
# side, one with stale code, until the reload after. Retired workers are
# therefore told to quit (their clients reconnect to the current worker)
# before the HUP. Usage: gunicorn-reload.sh MASTER_PID
set -euo pipefail

master=${1:?usage: gunicorn-reload.sh MASTER_PID}
workers() { ps -o pid= --sort=start_time --ppid "$master" || true; }

mapfile -t pids < <(workers)
if ((${#pids[@]} > 1)); then
  kill -QUIT "${pids[@]:0:${#pids[@]}-1}" 2>/dev/null || true
  for _ in $(seq 100); do
    (($(workers | wc -l) <= 1)) && break
    sleep 0.02
  done
fi
kill -HUP "$master"
