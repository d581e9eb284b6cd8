#!/usr/bin/env bash
# One command from a bare Debian/Ubuntu machine (as root) to a running devbox:
#   ./setup.sh [--provider P]        install, build the box, bring the guest up
#   ./setup.sh [--provider P] test [ARGS]
#                          the same, then the whole test suite (devbox's and
#                          your app's), and the stack suite again under each
#                          other worker class, with 3 app instances, with 2 app
#                          guests, with a second app, and on a libvirt VM
#                          (ARGS: only pytest ARGS, no other pass); with
#                          libvirt: the suite through 8001 on the VM only
#   ./setup.sh down        destroy the guests and take the host networks down
#                          (the local CA for HTTPS stays, trusted: it says so)
#   ./setup.sh untrust     take the local CA out of the host's trust stores
# P: lxc (a container) or libvirt (a VM; here under software emulation,
# provisioned online through the host's package caches); default: devbox.yaml's
# provider, else lxc.
# Idempotent: on a machine that has everything it only checks, in seconds.
set -euo pipefail
cd "$(dirname "$0")"

# Each stage says how long it took when the next begins; the summary lists them all.
stage= stage_began=$SECONDS timings=()
end_stage() {
  [[ -z $stage ]] || timings+=("$(printf '%6ss  %s' $((SECONDS - stage_began)) "$stage")")
  stage=
}
say() { end_stage; stage=$* stage_began=$SECONDS; printf '\n==> %s\n' "$*"; }
summary() { end_stage; printf '\n==> took %ss %s:\n' "$SECONDS" "${1:-in all}"; printf '%s\n' "${timings[@]}"; }
die() { echo "setup.sh: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (sudo ./setup.sh): it installs packages and creates the guest's network"
provider=
case ${1:-} in
  --provider) provider=${2:-}; shift 2 || shift ;;
  --provider=*) provider=${1#*=}; shift ;;
esac
# check_provider NAME WHERE-IT-CAME-FROM
check_provider() {
  [[ $1 == lxc || $1 == libvirt ]] \
    || die "$2 is not one ./setup.sh runs; use lxc or libvirt (VirtualBox and the others: vagrant up, see README)"
}
[[ -z $provider ]] || check_provider "$provider" "--provider '$provider'"
command=${1:-up}
[[ $# -gt 0 ]] && shift
# The second app the stack suite also runs against: plain Flask + Flask-SocketIO,
# written without devbox in mind.
test_app=tests/apps/plain
# The libvirt VM the lxc test run also tries runs from a copy of this folder
# (its own Vagrant folder and its own copy to sync from; below), kept outside
# it: the lxc guest sees this whole folder.
vm_tree=/var/tmp/devbox-libvirt-tree-$(echo "$PWD" | sha256sum | cut -c1-8)

if [[ $command == down ]]; then
  # Every guest, app guests (nodes) included, whatever nodes says now.
  # (instances must then be 1: each app guest runs one.)
  nodes=$(.venv/bin/python -c 'from devbox.settings import MAX_NODES; print(MAX_NODES)' 2>/dev/null || echo 0)
  # App guests not created are lxc's (the only provider they have): else Vagrant
  # would take libvirt for them, and fail the whole destroy without libvirtd.
  DEVBOX_NODES=$nodes DEVBOX_INSTANCES=1 VAGRANT_DEFAULT_PROVIDER=lxc vagrant destroy -f \
    || echo "setup.sh: vagrant destroy failed (above); some guests may remain (vagrant status)" >&2
  [[ ! -d $vm_tree/.vagrant ]] || (cd "$vm_tree" && vagrant destroy -f) || true
  rm -rf "$vm_tree"
  tests/deploy/server.sh down || echo "setup.sh: the deploy tests' server was not removed (above)" >&2
  # What another devbox's guests still use on this host stays (each says so).
  provision/host/forward.sh clear
  provision/host/network.sh stop
  network=$(.venv/bin/python -m devbox.settings libvirt_network.name)
  ! command -v virsh >/dev/null || provision/host/libvirt.sh stop "$network"
  # The caches serve the libvirt network (and the deploy tests' server, gone above).
  [[ -e /sys/class/net/virbr-$network ]] || provision/host/package-cache.sh stop
  ! command -v mkcert >/dev/null || echo "HTTPS: $(provision/host/ca.sh status)"
  exit 0
fi
if [[ $command == untrust ]]; then
  exec provision/host/ca.sh untrust
fi
[[ $command == up || $command == test ]] \
  || die "unknown command '$command'; use: ./setup.sh [--provider lxc|libvirt] [up|test|down|untrust]"

say "host packages"
provision/host/packages.sh   # what every provider needs; the provider's own below

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

tls=$(settings tls)   # True or False
if [[ $tls == True ]]; then
  say "local CA for HTTPS (trusted by this host and its browsers)"
  provision/host/ca.sh trust
  provision/host/ca.sh status
fi

if [[ -z $provider ]]; then
  provider=$(settings provider)
  provider=${provider:-lxc}
  check_provider "$provider" "provider '$provider' (devbox.yaml, or \$DEVBOX_PROVIDER)"
fi
# Vagrant, fab and the tests below take the same (devbox.yaml's provider setting).
export DEVBOX_PROVIDER=$provider
say "host packages for $provider"
if [[ $command == test ]]; then
  provision/host/packages.sh lxc libvirt deploy
else
  provision/host/packages.sh "$provider"
fi

if [[ $provider == lxc || $command == test ]]; then
  say "guest Python wheels (installed offline in the lxc guest)"
  # Every worker class's set with the app's requirements, so switching `worker`
  # needs no network; the test run also switches to the second app.
  "$py" -m devbox.host.wheels || die "fetching wheels failed (message above)"
  [[ $command != test ]] || DEVBOX_APP=$test_app "$py" -m devbox.host.wheels || die "fetching wheels failed (message above)"
  echo "ok"
fi

# This folder as it is now, into the libvirt VM's copy (vm_tree).
copy_for_vm() {
  rsync -a --delete --exclude=/.git/ --exclude=/.venv --exclude=/.cache/ --exclude=/.vagrant/ ./ "$vm_tree/"
  ln -sfn "$PWD/.venv" "$vm_tree/.venv"
}

# Re-provision the running guest, quietly unless it fails; ARGS are env assignments.
switch() {
  local log=.cache/provision.log
  env "$@" "$py" -m fabric provision > "$log" 2>&1 || { cat "$log"; echo "setup.sh: provisioning failed (above)" >&2; return 1; }
  grep -o 'devbox: provisioned in .*' "$log"
}

# bring_up PROVIDER: its box, its network, the guest, and a wait for its page.
bring_up() {
  local provider=$1 box url state made
  # A Vagrant folder holds one provider's guest: Vagrant would stop only after
  # the box was built.
  for made in "${VAGRANT_DOTFILE_PATH:-.vagrant}"/machines/default/*/id; do
    [[ -s $made ]] || continue
    made=${made%/id} made=${made##*/}
    [[ $made == "$provider" ]] || die "this folder's guest runs on $made, not $provider; remove it first with" \
      "./setup.sh down, or give the $provider guest a Vagrant folder of its own (VAGRANT_DOTFILE_PATH=.vagrant/$provider)"
  done
  box=$(settings "boxes.$provider")
  say "$provider box"
  provision/host/build-box.sh "$provider" "$box"

  say "host network for $provider"
  if [[ $provider == lxc ]]; then
    provision/host/network.sh
  else
    local network host
    network=$(settings libvirt_network.name) host=$(settings libvirt_network.host)
    provision/host/libvirt.sh "$network" "$(settings libvirt_network.cidr)" \
      "${VAGRANT_HOME:-$HOME/.vagrant.d}/boxes/${box//\//-VAGRANTSLASH-}/0/libvirt/box.img"
    # The VM's only way to packages: the host's caches, unless devbox.yaml names
    # others (the settings give a libvirt guest their URLs, for every entry point).
    provision/host/package-cache.sh 127.0.0.1 "$host"
  fi

  say "vagrant up ($provider)"
  url="http://localhost:$(settings host_port)"
  state=$(vagrant status --machine-readable | awk -F, '$3 == "state" {print $4; exit}')
  if [[ $state == running ]]; then
    # A re-run also repairs a guest whose provisioning failed; seconds when up to date.
    vagrant provision
  else
    vagrant up --provider="$provider"
  fi
  for _ in $(seq 60); do
    curl --noproxy "*" -fsS --max-time 2 "$url/_devbox/health" >/dev/null 2>&1 && break
    sleep 1
  done
  curl --noproxy "*" -fsS --max-time 2 "$url/_devbox/health" >/dev/null \
    || die "$url does not answer or the app failed to load; see 'vagrant ssh -c \"journalctl -u $(settings name)@1 -n 50\"'"
  if [[ $tls == True ]]; then
    # Trusted through the system store, as a browser on this host would.
    url="$url and https://localhost:$(settings https_host_port)"
    "$py" -m devbox.host.tls status >/dev/null || exit 1  # it said why, in one line
  fi
  end_stage
  printf '\n==> devbox is up: %s\n' "$url"
}
bring_up "$provider"

# The team's tests (the demo's while they are there): tests/ but devbox's suites.
team=()
list=$("$py" -c 'from devbox.host.pytest_plugin import team_tests; print(*team_tests(), sep="\n")') \
  || die "could not list the team's tests (message above)"
[[ -z $list ]] || mapfile -t team <<< "$list"
# With several instances or app guests: devbox's tests, and those of the team's
# marked `instances` (their cross-instance behaviour).
several=(-m "devbox or instances")

if [[ $command == test && $provider == libvirt ]]; then
  # On the VM: what proves the stack and the app through 8001, and fab with
  # the guest halted. tests/host's others check the lxc host; the passes with
  # other workers, instances, app guests and apps run on lxc (./setup.sh test),
  # and under software emulation would take hours.
  say "tests on the libvirt VM ($(settings worker) worker, $(settings app.wsgi))"
  (($#)) || set -- tests/unit tests/stack "${team[@]}" tests/host/test_guest_down.py
  summary "before the tests"
  exec "$py" -m pytest "$@"
fi

if [[ $command == test ]]; then
  configured=$(settings worker) configured_server=$(settings server)
  say "tests ($configured worker, $(settings app.wsgi))"
  status=0
  "$py" -m pytest "$@" || status=$?
  if (($#)); then
    echo "setup.sh: ran pytest $* only; the passes with other workers, instances, app guests, apps and libvirt need ./setup.sh test alone" >&2
    exit $status
  fi
  # fab deploy to a server devbox never touched (an lxc container from a stock
  # Debian root file system, on a bridge of its own), certificates from Pebble.
  # Before the libvirt VM: both use the host's package caches, each on its own
  # address, and starting the VM's moves them to its address list.
  say "deploy tests (a server devbox never touched)"
  "$py" -m pytest -m "devbox or deploy" tests/deploy "${team[@]}" || status=1
  tests/deploy/server.sh down || status=1
  if [[ $provider == lxc ]]; then
    # A real VM too: libvirt, the online path (a public-box-like box, apt and
    # pip through the host's caches) and rsync, in a Vagrant folder of its own
    # and on the next host port. Under software emulation its start takes
    # minutes of one core, so it comes up now, beside the passes below, at the
    # lowest priority (libvirtd's qemu inherits it): the lxc passes keep their
    # timings, and the VM takes what CPU they leave.
    say "libvirt VM: brought up in the background (.cache/libvirt.log)"
    vm_env=(DEVBOX_PROVIDER=libvirt DEVBOX_HOST_PORT=$(($(settings host_port) + 1))
            DEVBOX_HTTPS_HOST_PORT=$(($(settings https_host_port) + 1)))
    # Vagrant copies the folder into the VM minutes from now, while the passes
    # below edit files in it (some tests break a template for a moment): the
    # VM runs from a copy taken now instead, brought up to date after them.
    copy_for_vm
    (
      cd "$vm_tree"
      renice -n 19 -p $BASHPID $(pgrep -x libvirtd) >/dev/null
      export "${vm_env[@]}"
      bring_up libvirt
    ) > .cache/libvirt.log 2>&1 &
    vm_up=$!
  fi
  # The whole run also proves the stack with the other worker classes and with
  # a second app: the guest is switched to each (DEVBOX_WORKER, DEVBOX_APP, as a
  # user would switch settings), the stack suite runs again, then it switches back.
  # Each worker class under gunicorn (uWSGI takes gevent alone), the configured one aside.
  workers=$("$py" -c 'from devbox.settings import WORKERS; print(*WORKERS)')
  for worker in $workers; do
    [[ $worker != "$configured" || $configured_server != gunicorn ]] || continue
    say "stack tests ($worker worker)"
    switch DEVBOX_SERVER=gunicorn DEVBOX_WORKER="$worker" &&
      DEVBOX_SERVER=gunicorn DEVBOX_WORKER=$worker "$py" -m pytest tests/stack || status=1
  done
  # Production's topology: several app instances behind nginx's sticky balancing.
  say "stack tests (3 app instances)"
  switch DEVBOX_INSTANCES=3 && DEVBOX_INSTANCES=3 "$py" -m pytest "${several[@]}" tests/stack "${team[@]}" || status=1
  # Several guests: a front with nginx and Redis, two app guests on the private
  # network (brought up beside the running guest, and destroyed after).
  say "stack tests (2 app guests)"
  if DEVBOX_NODES=2 vagrant up > .cache/nodes.log 2>&1 || { cat .cache/nodes.log; false; }; then
    switch DEVBOX_NODES=2 && DEVBOX_NODES=2 "$py" -m pytest "${several[@]}" tests/stack "${team[@]}" tests/nodes \
      || status=1
  else
    status=1
  fi
  DEVBOX_NODES=2 vagrant destroy -f '/^app[0-9]+$/' > .cache/nodes.log 2>&1 || { cat .cache/nodes.log; status=1; }
  say "stack tests (the second app, $test_app)"
  switch DEVBOX_APP="$test_app" && DEVBOX_APP=$test_app "$py" -m pytest tests/stack "$test_app/tests" || status=1
  # The other app server, with both apps.
  for server in $("$py" -c 'from devbox.settings import SERVERS; print(*SERVERS)'); do
    [[ $server != "$configured_server" ]] || continue
    say "stack tests ($server)"
    switch DEVBOX_SERVER="$server" && DEVBOX_SERVER=$server "$py" -m pytest tests/stack "${team[@]}" || status=1
    say "stack tests ($server, $test_app)"
    switch DEVBOX_SERVER="$server" DEVBOX_APP="$test_app" &&
      DEVBOX_SERVER=$server DEVBOX_APP=$test_app "$py" -m pytest tests/stack "$test_app/tests" || status=1
  done
  if [[ $provider == lxc ]]; then
    say "stack tests (libvirt VM)"
    if wait "$vm_up"; then
      grep -E '^==>|devbox: .* (ok|provisioned in)' .cache/libvirt.log || true
      # Full speed again for its tests.
      renice -n 0 -p $(pgrep -x libvirtd) $(pgrep -f '^/usr/bin/qemu-system') >/dev/null 2>&1 || true
      # Its copy of the folder was taken before the passes above: brought up
      # to date, and the app reloaded onto it.
      copy_for_vm
      # What a VM changes: its own kernel, the copied folder (watch, reload,
      # static files, fab), the online path, the kernel's forwarding (the
      # proxy's own tests). The rest proves nginx, gunicorn and Socket.IO the
      # same on any guest, as every lxc pass above does.
      (cd "$vm_tree" && export "${vm_env[@]}" && "$py" -m fabric reload &&
         "$py" -m pytest tests/stack/test_{watch,reload,static,proxy,fab_tasks,unavailable}.py) || status=1
    else
      cat .cache/libvirt.log
      status=1
    fi
    (cd "$vm_tree" && env "${vm_env[@]}" vagrant destroy -f) > .cache/destroy.log 2>&1 || { cat .cache/destroy.log; status=1; }
    rm -rf "$vm_tree"
  fi
  say "back to the configured app, server and worker"
  switch || status=1
  summary
  exit $status
fi
summary
