#!/usr/bin/env bash
# One command from a bare Debian/Ubuntu machine (as root) to a running devbox:
#   ./setup.sh              install, build the lxc box, bring the guest up
#   ./setup.sh test [ARGS]  the same, then the whole test suite, and the stack suite
#                           again under each other worker class, with 3 app
#                           instances, with 2 app guests and with a second app
#                           (ARGS: only pytest ARGS)
#   ./setup.sh down         destroy the guest and take the host network down
# Idempotent: on a machine that has everything it only checks, in seconds.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*"; }
die() { echo "setup.sh: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (sudo ./setup.sh): it installs packages and creates the lxc bridge"
command=${1:-up}
[[ $# -gt 0 ]] && shift
# The second app the stack suite also runs against: plain Flask + Flask-SocketIO,
# written without devbox in mind.
test_app=tests/apps/plain

if [[ $command == down ]]; then
  # Every guest, app guests (nodes) included, whatever nodes says now.
  # (instances must then be 1: each app guest runs one.)
  DEVBOX_NODES=$(.venv/bin/python -c 'from devbox.settings import MAX_NODES; print(MAX_NODES)' 2>/dev/null || echo 0) \
    DEVBOX_INSTANCES=1 vagrant destroy -f || true
  provision/host/forward.sh clear
  provision/host/network.sh stop
  exit 0
fi
[[ $command == up || $command == test ]] || die "unknown command '$command'; use: ./setup.sh [up|test|down]"

say "host packages"
provision/host/packages.sh

say "Python environment (.venv)"
py=.venv/bin/python
settings() { "$py" -m devbox.settings "$@"; }
# pip_install FILE...: install these requirement files, unless they are unchanged since last time.
pip_install() {
  local stamp want
  stamp=.venv/.installed-$(echo "$*" | sha256sum | cut -c1-8)
  want=$(cat "$@" | sha256sum | cut -c1-16)
  [[ $(cat "$stamp" 2>/dev/null) == "$want" ]] && return 0
  "$py" -m pip install --quiet --disable-pip-version-check $(printf -- '-r %s ' "$@") && echo "$want" > "$stamp"
}
[[ -x $py ]] || python3 -m venv .venv
# devbox's own packages (the settings loader needs them), then with the app's:
# tests of the app import it on the host.
pip_install requirements/host.txt
settings >/dev/null || exit 2   # the loader has said what is wrong, in one line
pip_install requirements/host.txt "$(settings app.requirements)"
echo "ok"

say "guest Python wheels (installed offline in the guest)"
# Every worker class's set with the app's requirements, so switching `worker`
# needs no network; the test run also switches to the second app.
"$py" -m devbox.host.wheels || die "fetching wheels failed (message above)"
[[ $command != test ]] || DEVBOX_APP=$test_app "$py" -m devbox.host.wheels || die "fetching wheels failed (message above)"
echo "ok"

say "lxc box"
provision/host/build-box.sh "$(settings boxes.lxc)"

say "host network for lxc"
provision/host/network.sh

# Re-provision the running guest, quietly unless it fails; ARGS are env assignments.
switch() {
  local log=.cache/provision.log
  env "$@" vagrant provision > "$log" 2>&1 || { cat "$log"; echo "setup.sh: provisioning failed (above)" >&2; return 1; }
  grep -o 'devbox: provisioned in .*' "$log"
}

say "vagrant up"
url="http://localhost:$(settings host_port)"
state=$(vagrant status --machine-readable | awk -F, '$3 == "state" {print $4; exit}')
if [[ $state == running ]]; then
  # A re-run also repairs a guest whose provisioning failed; seconds when up to date.
  vagrant provision
else
  vagrant up --provider=lxc
fi
for _ in $(seq 60); do
  curl --noproxy "*" -fsS --max-time 2 "$url/_devbox/health" >/dev/null 2>&1 && break
  sleep 1
done
curl --noproxy "*" -fsS --max-time 2 "$url/_devbox/health" >/dev/null \
  || die "$url does not answer or the app failed to load; see 'vagrant ssh -c \"journalctl -u $(settings name) -n 50\"'"
say "devbox is up: $url"

if [[ $command == test ]]; then
  configured=$(settings worker)
  say "tests ($configured worker, $(settings app.wsgi))"
  status=0
  "$py" -m pytest "$@" || status=$?
  (($# == 0)) || exit $status
  # The whole run also proves the stack with the other worker classes and with
  # a second app: the guest is switched to each (DEVBOX_WORKER, DEVBOX_APP, as a
  # user would switch settings), the stack suite runs again, then it switches back.
  workers=$("$py" -c 'from devbox.settings import WORKERS; print(*WORKERS)')
  for worker in $workers; do
    [[ $worker != "$configured" ]] || continue
    say "stack tests ($worker worker)"
    switch DEVBOX_WORKER="$worker" && DEVBOX_WORKER=$worker "$py" -m pytest tests/stack || status=1
  done
  # Production's topology: several app instances behind nginx's sticky balancing.
  say "stack tests (3 app instances)"
  switch DEVBOX_INSTANCES=3 && DEVBOX_INSTANCES=3 "$py" -m pytest tests/stack tests/demo/host/test_instances.py || status=1
  # Several guests: a front with nginx and Redis, two app guests on the private
  # network (brought up beside the running guest, and destroyed after).
  say "stack tests (2 app guests)"
  if DEVBOX_NODES=2 vagrant up > .cache/nodes.log 2>&1 || { cat .cache/nodes.log; false; }; then
    switch DEVBOX_NODES=2 && DEVBOX_NODES=2 "$py" -m pytest tests/stack tests/demo/host/test_instances.py tests/nodes \
      || status=1
  else
    status=1
  fi
  DEVBOX_NODES=2 vagrant destroy -f '/^app[0-9]+$/' > .cache/nodes.log 2>&1 || { cat .cache/nodes.log; status=1; }
  say "stack tests (the second app, $test_app)"
  switch DEVBOX_APP="$test_app" && DEVBOX_APP=$test_app "$py" -m pytest tests/stack || status=1
  say "back to the configured app and worker"
  switch || status=1
  exit $status
fi
