#!/usr/bin/env bash
# Entry point of the shell provisioner (run as root in the guest by Vagrant,
# and on a server by fab deploy, with DEVBOX_PROFILE=production).
# One folder per service (provision/guest/SERVICE/), each with an idempotent
# script beside its templates: on an up-to-date guest nothing changes and the
# whole run takes seconds.
# Usage: provision.sh [STEP...]   steps: role redis app refresh nginx logs check
# (default: those of this guest's role: all of them with one guest; with app
# guests (nodes), nginx's and Redis's on the front, the app's on each app guest).
# A server's steps are named by fab deploy (devbox/host/deploy.py's STEPS),
# with a server's own: packages firewall release acme switch.
set -euo pipefail

export DEVBOX_ROOT=${DEVBOX_ROOT:-/vagrant}
# No bytecode from root into the synced folder: on a VM it is a copy that the
# host's rsync keeps as the login user, who could not replace root's files.
export PYTHONDONTWRITEBYTECODE=1
here="$DEVBOX_ROOT/provision/guest"
source "$here/lib.sh"

# A full run installs packages first, and so does a named run that begins with
# them (fab deploy's); other named steps (fab reload runs "nginx") are for a
# guest that has them.
steps=("$@")
if (($# == 0)) || [[ $1 == packages ]]; then
  step "packages" "$here/packages.sh"
  steps=("${steps[@]:1}")
fi
# Settings are read only now: the packages step brings python3-yaml.
exports=$(cd "$DEVBOX_ROOT" && python3 -m devbox.settings --shell) \
  || die "devbox.yaml is invalid (message above); fix it and run vagrant provision"
eval "$exports"
if [[ -n ${DEVBOX_SECRETS_UPLOAD:-} ]]; then
  # The secrets app guests share, from the host: a file only the SSH user could
  # read (never a command line, which anyone in the guest may read).
  [[ -f $DEVBOX_SECRETS_UPLOAD ]] || die "the host's secrets did not arrive ($DEVBOX_SECRETS_UPLOAD); run vagrant provision again"
  secrets=$(python3 -c 'import json, shlex, sys
values = json.load(open(sys.argv[1]))
for key in ("DEVBOX_SECRET_KEY", "DEVBOX_REDIS_PASSWORD"):
    print(f"{key}={shlex.quote(values[key])}")' "$DEVBOX_SECRETS_UPLOAD") \
    || die "the host's secrets ($DEVBOX_SECRETS_UPLOAD) cannot be read; delete .vagrant/devbox-secrets.json and run vagrant provision"
  eval "$secrets"
  rm -f "$DEVBOX_SECRETS_UPLOAD"
fi
export ${!DEVBOX_@}
if (($# == 0)); then
  case $DEVBOX_PRODUCTION/$DEVBOX_GUEST_ROLE in
    true/*) die "a server's steps come from fab deploy, which names them; run fab deploy" ;;
    false/all) steps=(redis app refresh nginx logs check) ;;
    false/front) steps=(role redis refresh nginx logs check) ;;
    false/app) steps=(role firewall app logs check) ;;
  esac
fi
base_folders
for name in "${steps[@]}"; do
  case $name in
    redis|app|refresh|nginx|logs|firewall|release|acme) step "$name" "$here/$name/$name.sh" ;;
    role|check|switch) step "$name" "$here/$name.sh" ;;
    *) die "no provisioning step '$name'; the steps are: role redis app refresh nginx logs check (and a server's packages firewall release acme switch)" ;;
  esac
done
guest=""
[[ $DEVBOX_NODES == 0 ]] || guest=" ($DEVBOX_GUEST)"
[[ $DEVBOX_PRODUCTION == false ]] || guest=" (release ${DEVBOX_ROOT##*/})"
echo "devbox: provisioned in ${SECONDS}s$guest"
