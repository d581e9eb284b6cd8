#!/usr/bin/env bash
# Host networking for the lxc provider: the lxcbr0 bridge and a DHCP server on it.
# Debian's lxc-net does this under systemd, and also NATs the guest to the
# internet. Here the guest gets an address and no route out: it is provisioned
# offline from the synced folder. Idempotent; `network.sh stop` undoes it.
set -euo pipefail

bridge=lxcbr0
address=10.0.3.1
range=10.0.3.2,10.0.3.254
pidfile=/run/devbox-dnsmasq.pid
leases=/var/lib/misc/dnsmasq.$bridge.leases

if [[ ${1:-start} == stop ]]; then
  [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
  ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge"
  exit 0
fi

if ! ip link show "$bridge" >/dev/null 2>&1; then
  ip link add "$bridge" type bridge
  ip addr add "$address/24" dev "$bridge"
fi
ip link set "$bridge" up

# A bridge that lxc-net already serves has its own dnsmasq; leave it be.
if pgrep -f "dnsmasq.*--interface=$bridge" >/dev/null; then
  exit 0
fi
mkdir -p "$(dirname "$leases")"
# dhcp-option=3 with no value: no default gateway, so no route out of the guest.
dnsmasq --strict-order --bind-interfaces --pid-file="$pidfile" \
  --listen-address="$address" --interface="$bridge" --except-interface=lo \
  --dhcp-range="$range" --dhcp-lease-max=253 --dhcp-no-override \
  --dhcp-leasefile="$leases" --dhcp-option=3 --dhcp-option=6 --port=0
echo "lxc network ready: $bridge $address/24 (DHCP, no route out)"
