#!/usr/bin/env bash
# One command from a bare Debian/Ubuntu machine (as root) to a running devbox:
#   ./setup.sh              install, build the lxc box, bring the guest up
#   ./setup.sh test [ARGS]  the same, then the whole test suite and the host suite
#                           again under each other worker class (ARGS: only pytest ARGS)
#   ./setup.sh down         destroy the guest and take the host network down
# Idempotent: on a machine that has everything it only checks, in seconds.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*"; }
die() { echo "setup.sh: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (sudo ./setup.sh): it installs packages and creates the lxc bridge"
command=${1:-up}
[[ $# -gt 0 ]] && shift

if [[ $command == down ]]; then
  vagrant destroy -f || true
  provision/host/network.sh stop
  exit 0
fi
[[ $command == up || $command == test ]] || die "unknown command '$command'; use: ./setup.sh [up|test|down]"

say "host packages"
provision/host/packages.sh

say "Python environment (.venv)"
stamp=.venv/.requirements
want=$(cat requirements/host.txt requirements/app.txt | sha256sum | cut -c1-16)
if [[ $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements/host.txt
  echo "$want" > "$stamp"
fi
py=.venv/bin/python
settings() { "$py" -m devbox.settings "$@"; }
settings >/dev/null || die "fix devbox.yaml (message above) and run ./setup.sh again"
echo "ok"

say "guest Python wheels (installed offline in the guest)"
# Every worker class's set, so switching `worker` needs no network.
# The guest is Debian 12: CPython 3.11, glibc 2.36. pip does not widen a
# manylinux_2_X platform to older glibc tags by itself, so list them.
platforms=(--platform manylinux2014_x86_64)
for glibc in $(seq 17 36); do platforms+=(--platform "manylinux_2_${glibc}_x86_64"); done
workers=$("$py" -c 'from devbox.settings import WORKERS; print(*WORKERS)')
for worker in $workers; do
  wheels="$(settings wheelhouse)/$worker"
  "$py" -m pip download --quiet --disable-pip-version-check --dest "$wheels" \
    --only-binary=:all: --implementation cp --python-version 3.11 "${platforms[@]}" -r "requirements/worker-$worker.txt"
  echo "$worker: $(ls "$wheels" | wc -l) wheels in $wheels"
done

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
  curl -fsS --max-time 2 "$url/healthz" >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS --max-time 2 "$url/healthz" >/dev/null || die "$url does not answer; see 'vagrant ssh -c \"journalctl -u $(settings name) -n 50\"'"
say "devbox is up: $url"

if [[ $command == test ]]; then
  configured=$(settings worker)
  say "tests ($configured worker)"
  status=0
  .venv/bin/python -m pytest "$@" || status=$?
  (($# == 0)) || exit $status
  # The whole run also proves the other worker classes: the guest is switched
  # to each (DEVBOX_WORKER), the host suite runs again, then it switches back.
  for worker in $workers; do
    [[ $worker != "$configured" ]] || continue
    say "host tests ($worker worker)"
    switch DEVBOX_WORKER="$worker" && DEVBOX_WORKER=$worker .venv/bin/python -m pytest tests/host || status=1
  done
  say "back to the $configured worker"
  switch || status=1
  exit $status
fi
