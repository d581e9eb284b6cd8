#!/usr/bin/env bash
# Host packages, all from Debian, for the providers named (lxc, libvirt):
# Vagrant, the box builder (debootstrap; for a VM disk also GRUB, sfdisk and
# qemu-img), rsync (a VM's copy of the folder), DHCP for the guest bridge, wrk
# (bench/), nginx (for `nginx -t` on rendered configs), Chromium (browser
# tests), mkcert with NSS's certutil (the local CA for HTTPS) and nftables (the
# guard that keeps guests off the host's loopback); for lxc its provider and the port forwarders (iptables; redir as
# vagrant-lxc's fallback); for libvirt the daemon, QEMU and the apt cache its
# guest installs through (the PyPI cache comes from PyPI:
# provision/host/package-cache.sh); for the deploy tests (tests/deploy/) their
# server's container and caches, and Pebble, Let's Encrypt's ACME test server.
# Usage: packages.sh [PROVIDER|deploy...]   (none: what every provider needs)
set -euo pipefail

declare -A by_provider=(
  [lxc]="vagrant-lxc lxc redir"
  [libvirt]="vagrant-libvirt libvirt-daemon-system qemu-system-x86 qemu-utils grub-pc-bin fdisk apt-cacher-ng"
  [deploy]="lxc apt-cacher-ng pebble"
)
wanted=(
  vagrant iptables dnsmasq-base debootstrap debian-archive-keyring iproute2 procps curl ca-certificates wrk
  python3 python3-venv python3-yaml nginx chromium rsync mkcert libnss3-tools nftables
)
for provider in "$@"; do
  [[ -n ${by_provider[$provider]:-} ]] || { echo "packages.sh: no provider '$provider'; use lxc or libvirt (or deploy)" >&2; exit 1; }
  read -ra more <<<"${by_provider[$provider]}"
  wanted+=("${more[@]}")
done
# What devbox installed here itself, one package a line: of those, the ones it
# needs only as tools must not start at boot (a host nginx would serve its
# default site to the LAN; lxc-net would give guests NAT, and so would
# libvirt's default network; apt-cacher-ng would serve the LAN). A package that was
# here before devbox is left as it was.
record=/var/lib/devbox/host-packages
declare -A tool_services=([nginx]=nginx [lxc]=lxc-net [libvirt-daemon-system]=libvirtd [apt-cacher-ng]=apt-cacher-ng)

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
  # nginx, lxc-net and the like would start on install; the host needs none running.
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
