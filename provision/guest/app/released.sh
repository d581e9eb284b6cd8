#!/usr/bin/env bash
# Waits until none of the processes PIDS holds the listening socket INODE
# (listener.sh): the app's old workers take no request any more. Gives up after
# SECONDS with status 1. Usage: released.sh INODE SECONDS [PID...]
set -euo pipefail

inode=${1:?usage: released.sh INODE SECONDS [PID...]}
seconds=${2:?usage: released.sh INODE SECONDS [PID...]}
shift 2
# find, not `ls -l | grep -q`: under pipefail grep's early exit gives ls a
# SIGPIPE, and with a thousand descriptors open that read as "not accepting".
holds_listener() { [[ -n $(find "/proc/$1/fd" -lname "socket:\[$inode\]" -print -quit 2>/dev/null) ]]; }
deadline=$((SECONDS + seconds))
while ((SECONDS < deadline)); do
  accepting=false
  for pid in "$@"; do
    holds_listener "$pid" && accepting=true
  done
  $accepting || exit 0
  sleep 0.01
done
exit 1
