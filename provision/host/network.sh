#!/usr/bin/env bash
# Host networking for the lxc provider: the lxcbr0 bridge and a DHCP server on it.
# Debian's lxc-net does this under systemd, and also NATs the guest to the
# internet. Here the guest gets an address and no route out: it is provisioned
# offline from the synced folder. Idempotent; `network.sh stop` undoes it.
#
# It also lets the kernel forward the host's loopback port to the guest
# (provision/host/forward.sh adds the port itself): loopback addresses may be
# routed over the bridge (route_localnet), leave with the bridge's address
# (MASQUERADE), and a guest still cannot open a connection to the host's
# loopback services (the INPUT rule drops any it starts).
set -euo pipefail

bridge=lxcbr0
address=10.0.3.1
range=10.0.3.2,10.0.3.254
pidfile=/run/devbox-dnsmasq.pid
leases=/var/lib/misc/dnsmasq.$bridge.leases

# -A to add a rule that is missing, -D to delete one that is there.
rule() {
  local action=$1 table=$2; shift 2
  if iptables -w -t "$table" -C "$@" 2>/dev/null; then
    [[ $action == -D ]] && iptables -w -t "$table" -D "$@"
  else
    [[ $action == -A ]] && iptables -w -t "$table" -A "$@"
  fi
  return 0
}
loopback_rules() {
  rule "$1" nat POSTROUTING -s 127.0.0.0/8 -o "$bridge" -m comment --comment devbox -j MASQUERADE
  rule "$1" filter INPUT -i "$bridge" -d 127.0.0.0/8 -m conntrack ! --ctstate ESTABLISHED,RELATED \
    -m comment --comment devbox -j DROP
}

if [[ ${1:-start} == stop ]]; then
  "$(dirname "$0")/forward.sh" clear
  ip link show "$bridge" >/dev/null 2>&1 && loopback_rules -D
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
loopback_rules -A
sysctl -qw "net.ipv4.conf.$bridge.route_localnet=1"

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
