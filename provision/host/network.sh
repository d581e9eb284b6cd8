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
# loopback services: an nftables table of devbox's own drops every packet that
# comes in on the bridge for 127.0.0.0/8, before routing and conntrack. A drop
# in any table is final, so no rule anywhere else, now or later (iptables',
# lxc-net's, ufw's, Docker's, firewalld's, an ACCEPT put first), lets one
# through. (The replies of the forwarded port are addressed to the bridge's
# address there, and only turned back into 127.0.0.1 after.)
#
# DEVBOX_BRIDGE and DEVBOX_BRIDGE_ADDRESS move it elsewhere (the tests use that).
# `network.sh rules` adds only the forwarding rules, to a bridge that another
# serves (libvirt's, provision/host/libvirt.sh). `network.sh users` lists the
# guests' interfaces on the bridge (another devbox's, when its own are gone).
set -euo pipefail

bridge=${DEVBOX_BRIDGE:-lxcbr0}
address=${DEVBOX_BRIDGE_ADDRESS:-10.0.3.1}
# .200 and up are devbox's fixed addresses (the front, app guests: FIRST_NODE_HOST
# in devbox/settings.py), never handed out.
range=${address%.*}.2,${address%.*}.199
pidfile=/run/devbox-dnsmasq-$bridge.pid
created=/run/devbox-bridge-$bridge.created   # only a bridge made here is deleted here
leases=/var/lib/misc/dnsmasq.$bridge.leases
localnet=/run/devbox-route-localnet-$bridge   # the bridge's route_localnet before devbox set it

masquerade=(-s 127.0.0.0/8 -o "$bridge" -m comment --comment devbox -j MASQUERADE)
guard=devbox-guard-$bridge
# An older devbox's guard, an iptables rule that a later ACCEPT put first could pre-empt.
old_guard=(-i "$bridge" -d 127.0.0.0/8 -m conntrack ! --ctstate ESTABLISHED,RELATED -m comment --comment devbox -j DROP)
delete_all() {  # delete_all TABLE CHAIN RULE...: every copy of the rule
  local table=$1; shift
  while iptables -w -t "$table" -C "$@" 2>/dev/null; do iptables -w -t "$table" -D "$@"; done
}

# users: the guests' interfaces on the bridge (not libvirt's own -nic).
users() { ls "/sys/class/net/$bridge/brif" 2>/dev/null | grep -v -- '-nic$' || true; }
if [[ ${1:-} == users ]]; then
  users
  exit 0
fi

if [[ ${1:-start} == stop ]]; then
  # Another devbox's guests on this host still use it: it stays, whole.
  in_use=$(users)
  if [[ -n $in_use ]]; then
    echo "network.sh: $bridge stays up: other guests still use it ($(echo $in_use)); stop them first" >&2
    exit 0
  fi
  delete_all nat POSTROUTING "${masquerade[@]}"
  delete_all filter INPUT "${old_guard[@]}"
  nft delete table ip "$guard" 2>/dev/null || true
  nft delete table bridge "$guard" 2>/dev/null || true
  [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
  # A bridge that stays (lxc-net's, libvirt's) gets its own setting back: with
  # route_localnet on, its other guests would reach the host's loopback.
  if [[ -f $localnet ]]; then
    [[ ! -e /proc/sys/net/ipv4/conf/$bridge ]] || sysctl -qw "net.ipv4.conf.$bridge.route_localnet=$(cat "$localnet")"
    rm -f "$localnet"
  fi
  if [[ -f $created ]]; then
    ip link delete "$bridge" 2>/dev/null || true
    rm -f "$created"
  fi
  exit 0
fi

mode=${1:-start}
if [[ $mode == start ]]; then
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    touch "$created"
  fi
  [[ $(ip -4 addr show dev "$bridge") == *" $address/"* ]] || ip addr add "$address/24" dev "$bridge"
  ip link set "$bridge" up
elif [[ $mode != rules ]]; then
  echo "network.sh: unknown command '$mode'; use: network.sh [start|rules|stop]" >&2
  exit 1
fi
iptables -w -t nat -C POSTROUTING "${masquerade[@]}" 2>/dev/null || iptables -w -t nat -A POSTROUTING "${masquerade[@]}"
delete_all filter INPUT "${old_guard[@]}"
# Made whole again on every run (declared, emptied, filled: one transaction).
nft -f - <<EOF
table ip $guard
delete table ip $guard
table ip $guard {
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
    iifname "$bridge" ip daddr 127.0.0.0/8 drop comment "devbox: no guest reaches the host's loopback"
  }
}
EOF
[[ -f $localnet ]] || sysctl -n "net.ipv4.conf.$bridge.route_localnet" > "$localnet"
sysctl -qw "net.ipv4.conf.$bridge.route_localnet=1"
[[ $mode == start ]] || exit 0

# The fixed addresses (the front's, the app guests': devbox/settings.py) belong
# to the guest with the matching MAC alone: on the bridge, an ARP or IP packet
# that claims one from any other is dropped, so no guest can take the front's
# address and with it the host's forwarded port.
root=$(cd "$(dirname "$0")/../.." && pwd)
pairs=$(cd "$root" && .venv/bin/python -m devbox.settings --fixed-guests "${address%.*}.0/24") \
  || { echo "network.sh: run ./setup.sh first (it makes .venv, which has devbox's settings)" >&2; exit 1; }
fixed=$(awk '{printf "%s%s . %s", (NR > 1 ? ", " : ""), $1, $2}' <<<"$pairs")
ips=$(awk '{printf "%s%s", (NR > 1 ? ", " : ""), $1}' <<<"$pairs")
nft -f - <<EOF
table bridge $guard
delete table bridge $guard
table bridge $guard {
  set fixed { type ipv4_addr . ether_addr; elements = { $fixed } }
  set addresses { type ipv4_addr; elements = { $ips } }
  chain forward {
    type filter hook forward priority -200; policy accept;
    arp saddr ip @addresses arp saddr ip . ether saddr != @fixed drop
    ether type ip ip saddr @addresses ip saddr . ether saddr != @fixed drop
  }
  chain input {
    type filter hook input priority -200; policy accept;
    arp saddr ip @addresses arp saddr ip . ether saddr != @fixed drop
    ether type ip ip saddr @addresses ip saddr . ether saddr != @fixed drop
  }
}
EOF

# Ours, from an older devbox that handed out devbox's fixed addresses too: start it again.
if [[ -f $pidfile ]] && ! tr '\0' ' ' < "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null | grep -q -- "--dhcp-range=$range "; then
  old=$(cat "$pidfile")
  kill "$old" 2>/dev/null || true
  rm -f "$pidfile"
  for _ in $(seq 20); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
fi
# A bridge that lxc-net already serves has its own dnsmasq; leave it be.
if pgrep -f "dnsmasq.*--interface=$bridge( |$)" >/dev/null; then
  exit 0
fi
mkdir -p "$(dirname "$leases")"
# dhcp-option=3 with no value: no default gateway, so no route out of the guest.
dnsmasq --strict-order --bind-interfaces --pid-file="$pidfile" \
  --listen-address="$address" --interface="$bridge" --except-interface=lo \
  --dhcp-range="$range" --dhcp-lease-max=198 --dhcp-no-override \
  --dhcp-leasefile="$leases" --dhcp-option=3 --dhcp-option=6 --port=0
echo "lxc network ready: $bridge $address/24 (DHCP, no route out)"
