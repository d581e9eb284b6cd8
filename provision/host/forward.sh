#!/usr/bin/env bash
# Kernel port forwarding for the lxc provider, used by
# provision/vagrant/lxc_forward_ports_fix.rb in place of vagrant-lxc's redir.
# redir copies every byte through a userspace process per connection; through
# it the forwarded port served static files at half the rate of the guest's own
# address (README, Performance). Here the kernel rewrites the address (DNAT)
# and the bridge rules of provision/host/network.sh carry the rest.
#   forward.sh add HOST_IP HOST_PORT GUEST_IP GUEST_PORT
#   forward.sh remove HOST_PORT
#   forward.sh clear                 (every port this script added)
set -euo pipefail

die() { echo "forward.sh: $*" >&2; exit 1; }
chain() { echo "DEVBOX-$1"; }   # one nat chain per host port, jumped to from OUTPUT

remove() {
  local name; name=$(chain "$1")
  iptables -w -t nat -D OUTPUT -j "$name" 2>/dev/null || true
  iptables -w -t nat -F "$name" 2>/dev/null || true
  iptables -w -t nat -X "$name" 2>/dev/null || true
}

case ${1:-} in
  add)
    (($# == 5)) || die "usage: forward.sh add HOST_IP HOST_PORT GUEST_IP GUEST_PORT"
    host_ip=$2 host_port=$3 guest_ip=$4 guest_port=$5
    name=$(chain "$host_port")
    iptables -w -t nat -N "$name" 2>/dev/null || iptables -w -t nat -F "$name"
    iptables -w -t nat -A "$name" -d "$host_ip" -p tcp --dport "$host_port" \
      -j DNAT --to-destination "$guest_ip:$guest_port"
    iptables -w -t nat -C OUTPUT -j "$name" 2>/dev/null || iptables -w -t nat -I OUTPUT -j "$name"
    ;;
  remove)
    (($# == 2)) || die "usage: forward.sh remove HOST_PORT"
    remove "$2"
    ;;
  clear)
    for name in $(iptables -w -t nat -S | awk '$1 == "-N" && $2 ~ /^DEVBOX-[0-9]+$/ {print $2}'); do
      remove "${name#DEVBOX-}"
    done
    ;;
  *) die "usage: forward.sh add HOST_IP HOST_PORT GUEST_IP GUEST_PORT | remove HOST_PORT | clear" ;;
esac
