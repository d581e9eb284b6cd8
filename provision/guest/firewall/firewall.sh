#!/usr/bin/env bash
# The firewall (ufw) of a server (fab deploy: SSH and the site's two ports in;
# a front's Redis from its app servers alone) and of an app guest or app server
# (SSH, and its app port from the front alone: nothing past nginx reaches
# gunicorn). Whatever listens later stays closed.
# SSH is let in before ufw is enabled, so a run never locks itself out.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

command -v ufw >/dev/null || die "ufw is not installed; provision again (the packages step installs it)"
# Each rule in ufw's own words, as `ufw show added` prints it back (without
# the comment that marks it devbox's: rules of anyone else's are left alone).
if [[ $DEVBOX_PRODUCTION == true ]]; then
  # The port deploy.yaml reaches SSH on, and those sshd listens on (they
  # differ behind NAT): the firewall never shuts the way in.
  ssh_ports=$( (echo "$DEVBOX_SSH_PORT"; sshd -T 2>/dev/null | awk '$1 == "port" {print $2}') | sort -un)
  wanted=()
  [[ $DEVBOX_GUEST_ROLE == app ]] || wanted+=("allow $DEVBOX_GUEST_PORT/tcp" "allow $DEVBOX_HTTPS_GUEST_PORT/tcp")
  for port in $ssh_ports; do wanted+=("allow $port/tcp"); done
  if [[ $DEVBOX_GUEST_ROLE == front ]]; then
    for address in $DEVBOX_APP_ADDRESSES; do
      wanted+=("allow from $address to any port $DEVBOX_REDIS_PORT proto tcp")
    done
  fi
else
  wanted=("allow 22/tcp")
fi
[[ $DEVBOX_GUEST_ROLE != app ]] || wanted+=("allow from $DEVBOX_FRONT_ADDRESS to any port $DEVBOX_APP_PORT proto tcp")
mark="comment 'devbox'"
# Each ufw command takes half a second: only what differs is run.
mapfile -t present < <(ufw show added | sed -n "s/^ufw \(.*\) $mark\$/\1/p")
for rule in "${wanted[@]}"; do
  printf '%s\n' "${present[@]}" | grep -qxF "$rule" && continue
  read -ra words <<< "$rule"
  ufw "${words[@]}" comment devbox >/dev/null
done
# devbox's rules it no longer wants (a port changed) go.
for rule in "${present[@]}"; do
  printf '%s\n' "${wanted[@]}" | grep -qxF "$rule" && continue
  read -ra words <<< "$rule"
  ufw delete "${words[@]}" >/dev/null
done
grep -q '^DEFAULT_INPUT_POLICY="DROP"' /etc/default/ufw || ufw default deny incoming >/dev/null
grep -q '^DEFAULT_OUTPUT_POLICY="ACCEPT"' /etc/default/ufw || ufw default allow outgoing >/dev/null
grep -q '^ENABLED=yes' /etc/ufw/ufw.conf || ufw --force enable >/dev/null
