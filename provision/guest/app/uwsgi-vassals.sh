#!/usr/bin/env bash
# An app instance under uWSGI (server: uwsgi) is an emperor holding the
# instance's socket (devbox/appserver/uwsgi_emperor.py) and its vassals: one
# per link in the instance's vassals folder, each link to devbox's uwsgi.ini
# and numbered in the order they were made. A reload adds a link. The emperor starts
# a new vassal beside the old one, on the same socket; just before it accepts,
# the new vassal removes the older links, and the emperor retires their
# vassals gracefully: they stop accepting, and their open requests, WebSockets
# included, go on for up to the mercy. So clients connected before a reload
# get every broadcast until they reconnect, as under gunicorn.
#
#   start  DIR INI                ExecStartPre: the first vassal, and no other
#   reload DIR INI EMPEROR BIND   ExecReload: a new vassal; returns once no old
#                                 worker can take a request
#   retire DIR EMPEROR NAME       vassal NAME's hook, just before its worker
#                                 accepts: the vassals before it retire
set -euo pipefail

usage="usage: uwsgi-vassals.sh start DIR INI | reload DIR INI EMPEROR_PID BIND | retire DIR EMPEROR_PID NAME"
command=${1:?$usage} dir=${2:?$usage}
# The links, oldest first: numbers of ten digits sort as they count (not a
# clock, which may step back).
links() { find "$dir" -maxdepth 1 -name '*.ini' -printf '%f\n' | sort; }
link() {
  local last
  last=$(links | tail -n 1)
  last=${last%.ini}
  ln -s "$1" "$dir/$(printf '%010d' $((10#${last:-0} + 1))).ini"
}
# The workers of the emperor's vassals (ps pads its pids with spaces).
workers() { ps -o pid= --ppid "$1" | tr -d ' ' | xargs -r -n1 ps -o pid= --ppid | tr -d ' '; }

case $command in
  start)
    rm -rf "$dir"
    install -d -m 700 "$dir"
    link "${3:?$usage}"
    ;;
  reload)
    ini=${3:?$usage} emperor=${4:?$usage} bind=${5:?$usage}
    mapfile -t old < <(workers "$emperor")
    inode=$(bash "$(dirname "$0")/listener.sh" "$bind")
    link "$ini"
    kill -WINCH "$emperor"   # look at the folder now, not at its next scan
    [[ -n $inode ]] || exit 0
    # A retiring worker lets go of the socket once it stopped accepting
    # (devbox/appserver/uwsgi_retire.py); that is once the new one has loaded
    # the app, which takes seconds under software emulation.
    bash "$(dirname "$0")/released.sh" "$inode" 60 "${old[@]}" && exit 0
    echo "uwsgi-vassals.sh: the old worker still takes requests after 60s; the new vassal did not start (fab logs)" >&2
    exit 1
    ;;
  retire)
    emperor=${3:?$usage} name=${4:?$usage}
    # The ones before it; a later one, still loading, retires this one in turn.
    links | awk -v name="$name.ini" '$0 < name' | sed "s|^|$dir/|" | xargs -r rm -f
    kill -WINCH "$emperor"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
