#!/usr/bin/env bash
# Host packages for the lxc path, all from Debian: Vagrant and its lxc
# provider, the box builder, the port forwarders (iptables; redir as vagrant-lxc's
# fallback), DHCP for the guest bridge, wrk (bench/),
# nginx (for `nginx -t` on rendered configs) and Chromium (browser tests).
set -euo pipefail

wanted=(
  vagrant vagrant-lxc lxc redir iptables dnsmasq-base debootstrap iproute2 procps curl ca-certificates wrk
  python3 python3-venv python3-yaml nginx chromium
)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
((${#missing[@]})) || { echo "host packages: all present"; exit 0; }

echo "host packages: installing ${missing[*]} (a few minutes on a bare machine)"
export DEBIAN_FRONTEND=noninteractive
# nginx and lxc-net would start on install; the host needs neither running.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
