#!/usr/bin/env bash
# The firewall (ufw) of a server (fab deploy: SSH and the site's two ports in)
# and of an app guest (nodes: SSH, and its app port from the front alone:
# nothing past nginx reaches gunicorn). Whatever listens later stays closed.
# SSH is let in before ufw is enabled, so a run never locks itself out.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

command -v ufw >/dev/null || die "ufw is not installed; provision again (the packages step installs it)"
# Each rule in ufw's own words, as `ufw show added` prints it back.
if [[ $DEVBOX_PRODUCTION == true ]]; then
  wanted=("allow $DEVBOX_SSH_PORT/tcp" "allow $DEVBOX_GUEST_PORT/tcp" "allow $DEVBOX_HTTPS_GUEST_PORT/tcp")
else
  wanted=("allow 22/tcp" "allow from $DEVBOX_FRONT_ADDRESS to any port $DEVBOX_APP_PORT proto tcp")
fi
# Each ufw command takes half a second: only what differs is run.
mapfile -t present < <(ufw show added | sed -n 's/^ufw //p')
for rule in "${wanted[@]}"; do
  printf '%s\n' "${present[@]}" | grep -qxF "$rule" && continue
  read -ra words <<< "$rule"
  ufw "${words[@]}" >/dev/null
done
# Rules devbox no longer wants (a port changed) go.
for rule in "${present[@]}"; do
  printf '%s\n' "${wanted[@]}" | grep -qxF "$rule" && continue
  read -ra words <<< "$rule"
  ufw delete "${words[@]}" >/dev/null
done
grep -q '^DEFAULT_INPUT_POLICY="DROP"' /etc/default/ufw || ufw default deny incoming >/dev/null
grep -q '^DEFAULT_OUTPUT_POLICY="ACCEPT"' /etc/default/ufw || ufw default allow outgoing >/dev/null
grep -q '^ENABLED=yes' /etc/ufw/ufw.conf || ufw --force enable >/dev/null
