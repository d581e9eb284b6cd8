#!/usr/bin/env bash
# Host packages for the lxc path, all from Debian: Vagrant and its lxc
# provider, the box builder, the port forwarders (iptables; redir as vagrant-lxc's
# fallback), DHCP for the guest bridge, wrk (bench/),
# nginx (for `nginx -t` on rendered configs) and Chromium (browser tests).
set -euo pipefail

wanted=(
  vagrant vagrant-lxc lxc redir iptables dnsmasq-base debootstrap debian-archive-keyring iproute2 procps curl ca-certificates wrk
  python3 python3-venv python3-yaml nginx chromium
)
# What devbox installed here itself, one package a line: of those, the ones it
# needs only as tools must not start at boot (a host nginx would serve its
# default site to the LAN; lxc-net would give guests NAT). A package that was
# here before devbox is left as it was.
record=/var/lib/devbox/host-packages
declare -A tool_services=([nginx]=nginx [lxc]=lxc-net)

keep_from_boot() {
  local service=$1
  if command -v systemctl >/dev/null; then
    systemctl disable --quiet "$service" 2>/dev/null || true
    [[ ! -d /run/systemd/system ]] || systemctl stop "$service" 2>/dev/null || true
  fi
  if command -v update-rc.d >/dev/null; then
    update-rc.d "$service" disable >/dev/null 2>&1 || true
  fi
}

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
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
  mkdir -p "$(dirname "$record")"
  printf '%s\n' "${missing[@]}" >> "$record"
else
  echo "host packages: all present"
fi
for pkg in "${!tool_services[@]}"; do
  if grep -qsx "$pkg" "$record"; then
    keep_from_boot "${tool_services[$pkg]}"
  fi
done
