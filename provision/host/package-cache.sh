#!/usr/bin/env bash
# Caching proxies on the host for a guest that installs its packages online (a
# public box) but has no route out (the libvirt guest here): Debian's through
# apt-cacher-ng, Python's through proxpi (a PyPI cache, from PyPI). Each
# serves packages only: apt-cacher-ng only Debian's (and the mirrors it
# knows), never arbitrary hosts; proxpi only pypi.org's. Re-provisioning is
# faster through them too. Only this host and the network each ADDRESS is on
# may reach them: the host answers its addresses on any interface, so without
# the guard (an nftables table of devbox's own) the LAN or another bridge's
# guests could route to them. Idempotent; no service manager needed.
#   package-cache.sh ADDRESS...        start both, listening on each ADDRESS
#   package-cache.sh guard ADDRESS...  only the guard (start makes it too)
#   package-cache.sh stop              stop both (the caches stay on disk)
set -euo pipefail

run=/run/devbox-package-cache
state=/var/lib/devbox/pypi-cache
cache=/var/cache/devbox/pypi
proxpi=proxpi==1.3.1
gunicorn=gunicorn==23.0.0

die() { echo "package-cache.sh: $*" >&2; exit 1; }
stop() {  # stop NAME: the daemon whose pid file is $run/NAME.pid
  local pid
  pid=$(cat "$run/$1.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$run/$1.pid" "$run/$1.addresses"
}
running() {  # running NAME ADDRESSES: with exactly these addresses
  [[ -f $run/$1.pid && $(cat "$run/$1.addresses" 2>/dev/null) == "$2" ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null
}
answers() { curl --noproxy '*' -fsS --max-time 10 -o /dev/null "$@" 2>/dev/null; }
wait_for() {  # wait_for NAME LOG URL: up to 30 s, while it runs
  local name=$1 log=$2; shift 2
  for _ in $(seq 150); do
    answers "$@" && return 0
    [[ ! -f $run/$name.pid ]] || kill -0 "$(cat "$run/$name.pid")" 2>/dev/null || break
    sleep 0.2
  done
  stop "$name"
  tail -5 "$log" >&2
  die "the $name cache did not answer on $1 (its log above: $log)"
}

guard_table=${DEVBOX_CACHE_GUARD:-devbox-caches}   # the tests name one of their own
# guard ADDRESS...: the caches' ports on each ADDRESS (this host's, in $ours)
# answer only what comes in on that address's own interface, or from this host (lo).
guard() {
  local rules="" address interface
  for address in "$@"; do
    interface=$(awk -v a="$address" 'index($4, a "/") == 1 {print $2; exit}' <<<"$ours")
    [[ $interface != lo ]] || continue  # the host's own (guests' packets for it: network.sh's guard)
    rules+="    ip daddr $address tcp dport { $apt_port, $pip_port } iifname != { \"lo\", \"$interface\" } drop"$'\n'
  done
  nft -f - <<EOF
table ip $guard_table
delete table ip $guard_table
table ip $guard_table {
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
$rules  }
}
EOF
}

case ${1:-} in
  stop) stop apt; stop pip; nft delete table ip "$guard_table" 2>/dev/null || true; exit 0 ;;
  ""|-*) die "usage: package-cache.sh ADDRESS... | guard ADDRESS... | stop" ;;
esac
# The ports are devbox's settings' (HOST_CACHE_PORTS), which give a libvirt
# guest its cache URLs.
root=$(cd "$(dirname "$0")/../.." && pwd)
read -r apt_port pip_port < <(cd "$root" && .venv/bin/python -c \
  'from devbox.settings import HOST_CACHE_PORTS as p; print(p["apt"], p["pip"])' 2>/dev/null) \
  || { echo "package-cache.sh: run ./setup.sh first (it makes .venv, which has devbox's settings)" >&2; exit 1; }
mode=start
if [[ $1 == guard ]]; then
  mode=guard
  shift
fi
addresses="$*"
ours=$(ip -o -4 addr show)
for address in "$@"; do
  [[ $ours == *" inet $address/"* ]] || die "$address is not an address of this host; start its network first"
done
guard "$@"
[[ $mode == start ]] || exit 0
command -v apt-cacher-ng >/dev/null || die "apt-cacher-ng is not installed; run ./setup.sh (provision/host/packages.sh libvirt)"
mkdir -p "$run" "$cache"

if ! running apt "$addresses"; then
  stop apt
  install -d -o apt-cacher-ng -g apt-cacher-ng /var/cache/apt-cacher-ng /var/log/apt-cacher-ng
  chown apt-cacher-ng "$run"
  # ForceManaged: only the repositories it remaps (Debian's among them); no
  # CONNECT. Debian's from deb.debian.org, as a box's sources name it (the
  # package's default backend may be a mirror this host cannot reach). No
  # report page: its maintenance actions (expire, import, delete) would be
  # open to any guest, with no password.
  start-stop-daemon --start --chuid apt-cacher-ng --exec /usr/sbin/apt-cacher-ng -- \
    -c /etc/apt-cacher-ng ForeGround=0 "BindAddress=$addresses" "Port=$apt_port" "pidfile=$run/apt.pid" \
    "SocketPath=$run/apt.socket" ForceManaged=1 PassThroughPattern='^$' ReportPage= \
    "Remap-debrep=file:deb_mirror*.gz /debian ; http://deb.debian.org/debian/" \
    || die "apt-cacher-ng did not start; is port $apt_port taken? (ss -ltnp 'sport = :$apt_port')"
  echo "$addresses" > "$run/apt.addresses"
fi
# Debian's release file through the cache: it answers, and reaches Debian.
wait_for apt /var/log/apt-cacher-ng/apt-cacher.err "http://$1:$apt_port/deb.debian.org/debian/dists/bookworm/Release"

if ! running pip "$addresses"; then
  stop pip
  # Debian's Python: the cache runs as nobody, who may not read another one under /root.
  if [[ $(cat "$state/venv/.complete" 2>/dev/null) != "$proxpi $gunicorn" ]]; then
    rm -rf "$state/venv"
    /usr/bin/python3 -m venv "$state/venv"
    "$state/venv/bin/pip" install --isolated --quiet --disable-pip-version-check "$proxpi" "$gunicorn" \
      || die "could not install $proxpi (pip's message above)"
    echo "$proxpi $gunicorn" > "$state/venv/.complete"
  fi
  chown nobody "$cache"
  binds=()
  for address in "$@"; do binds+=(--bind "$address:$pip_port"); done
  PROXPI_INDEX_URL=https://pypi.org/simple/ PROXPI_EXTRA_INDEX_URLS="" PROXPI_CACHE_DIR=$cache \
    "$state/venv/bin/gunicorn" --daemon --user nobody --group nogroup --workers 1 --threads 8 \
    --pid "$run/pip.pid" --error-logfile "$state/cache.log" "${binds[@]}" proxpi.server:app \
    || die "the PyPI cache did not start; is port $pip_port taken? (ss -ltnp 'sport = :$pip_port')"
  echo "$addresses" > "$run/pip.addresses"
fi
# One small project's page: the index of every project is large.
wait_for pip "$state/cache.log" "http://$1:$pip_port/index/six/"
echo "package caches on $addresses: apt :$apt_port, PyPI :$pip_port"
