#!/usr/bin/env bash
# ExecReload of the app unit under uWSGI (server: uwsgi): a chain reload
# through the master's fifo. The worker finishes its requests (WebSockets: up
# to the ini's worker-reload-mercy), then a new one loads the new code; the
# socket stays open meanwhile, so requests wait and none fails.
# Usage: uwsgi-reload.sh MASTER_PID FIFO
set -euo pipefail

master=${1:?usage: uwsgi-reload.sh MASTER_PID FIFO}
fifo=${2:?usage: uwsgi-reload.sh MASTER_PID FIFO}
# (A redirect to a missing fifo would make a plain file of it.)
[[ -p $fifo ]] || { echo "uwsgi-reload.sh: no uWSGI master fifo at $fifo; is the instance up?" >&2; exit 1; }
mapfile -t old < <(ps -o pid= --ppid "$master" | tr -d ' ')
echo c > "$fifo"
# The master looks for a worker that exited only once a second: a line on
# its fifo, once the old worker has exited (a zombie until the master looks),
# wakes it to start the new one at once.
for _ in $(seq 1000); do
  gone=true
  for pid in "${old[@]}"; do
    [[ $(ps -o stat= -p "$pid" 2>/dev/null) != [^Z]* ]] || gone=false
  done
  $gone && break
  sleep 0.01
done
echo > "$fifo"
