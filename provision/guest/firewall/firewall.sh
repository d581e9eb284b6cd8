#!/usr/bin/env bash
# A server's firewall (ufw): SSH and the site's two ports in, nothing else.
# Redis and the app's sockets are the server's own (loopback, unix sockets);
# the firewall keeps them so whatever listens there later. SSH is let in
# before ufw is enabled, so a deploy never locks itself out.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

command -v ufw >/dev/null || die "ufw is not installed; run fab deploy again (the packages step installs it)"
wanted=("$DEVBOX_SSH_PORT/tcp" "$DEVBOX_GUEST_PORT/tcp" "$DEVBOX_HTTPS_GUEST_PORT/tcp")
for rule in "${wanted[@]}"; do
  ufw allow "$rule" >/dev/null
done
ufw default deny incoming >/dev/null
ufw default allow outgoing >/dev/null
# Rules for ports devbox no longer serves (an SSH or site port changed) go.
mapfile -t present < <(ufw show added | awk '$1 == "ufw" && $2 == "allow" {print $3}')
for rule in "${present[@]}"; do
  [[ " ${wanted[*]} " == *" $rule "* ]] || ufw delete allow "$rule" >/dev/null
done
ufw status | grep -q '^Status: active' || ufw --force enable >/dev/null
