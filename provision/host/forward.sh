#!/usr/bin/env bash
# Kernel port forwarding for the lxc provider, used by
# provision/vagrant/lxc_forward_ports_fix.rb in place of vagrant-lxc's redir.
# redir copies every byte through a userspace process per connection; through
# it the forwarded port served static files at half the rate of the guest's own
# address (README, Performance). Here the kernel rewrites the address (DNAT)
# and the bridge rules of provision/host/network.sh carry the rest.
#   forward.sh add CONTAINER HOST_IP HOST_PORT GUEST_IP GUEST_PORT
#   forward.sh remove CONTAINER      (every port added for it, whatever host_port says now)
#   forward.sh clear                 (every port this script added, but running guests')
#   forward.sh holder HOST_PORT      (the container the port is forwarded to, if any)
# One nat chain per host port, jumped to from OUTPUT; its rule names the
# container, so that a port given up by a changed host_port goes too.
# The forwarded port is IPv4's, but clients try localhost's other address,
# [::1], first where /etc/hosts names it (stock Debian's does): anyone could
# listen there and be answered in the devbox's place, tokens and cookies
# included. So the same port on [::1] refuses every connection (an ip6tables
# chain of the same name), and clients go on to 127.0.0.1 at once.
set -euo pipefail

die() { echo "forward.sh: $*" >&2; exit 1; }
usage="usage: forward.sh add CONTAINER HOST_IP HOST_PORT GUEST_IP GUEST_PORT | remove CONTAINER | clear | holder HOST_PORT"

# ip6 ARGS: ip6tables where the host has IPv6; nothing where it has none.
ip6() {
  [[ -e /proc/net/if_inet6 ]] && command -v ip6tables >/dev/null || return 0
  ip6tables -w "$@"
}

drop_chain() {
  iptables -w -t nat -D OUTPUT -j "$1" 2>/dev/null || true
  iptables -w -t nat -F "$1" 2>/dev/null || true
  iptables -w -t nat -X "$1" 2>/dev/null || true
  ip6 -D OUTPUT -j "$1" 2>/dev/null || true
  ip6 -F "$1" 2>/dev/null || true
  ip6 -X "$1" 2>/dev/null || true
}
# chains [CONTAINER]: devbox's chains, or only those whose rule names CONTAINER.
chains() {
  local rules; rules=$(iptables -w -t nat -S)
  for chain in $(awk '$1 == "-N" && $2 ~ /^DEVBOX-[0-9]+$/ {print $2}' <<<"$rules"); do
    [[ -z ${1:-} ]] || grep -qE -- "^-A $chain .*--comment \"?devbox:$1\"? " <<<"$rules" || continue
    echo "$chain"
  done
}

# holder HOST_PORT: the container its chain's rule names (a port forwarded so
# has no listener for a bind to find); nothing when none.
holder() {
  iptables -w -t nat -S "DEVBOX-$1" 2>/dev/null | sed -nE 's/.*--comment "?devbox:([^" ]+)"? .*/\1/p' | head -1 || true
}

# running GUEST: whether the guest a chain names still runs: an lxc container,
# or a libvirt domain (libvirt-ID, as provision/vagrant/kernel_forward.rb names it).
running() {
  case $1 in
    libvirt-*) [[ $(virsh --connect qemu:///system domstate "${1#libvirt-}" 2>/dev/null) == running ]] ;;
    *) [[ $(lxc-info -n "$1" -sH 2>/dev/null) == RUNNING ]] ;;
  esac
}

case ${1:-} in
  add)
    (($# == 6)) || die "$usage"
    container=$2 host_ip=$3 host_port=$4 guest_ip=$5 guest_port=$6
    name=DEVBOX-$host_port
    # Another guest's port (a second devbox on this host) is not taken over.
    holder=$(holder "$host_port")
    [[ -z $holder || $holder == "$container" ]] \
      || die "host port $host_port is forwarded to another guest ($holder); stop that one, or choose another port"
    iptables -w -t nat -N "$name" 2>/dev/null || iptables -w -t nat -F "$name"
    iptables -w -t nat -A "$name" -d "$host_ip" -p tcp --dport "$host_port" -m comment --comment "devbox:$container" \
      -j DNAT --to-destination "$guest_ip:$guest_port"
    iptables -w -t nat -C OUTPUT -j "$name" 2>/dev/null || iptables -w -t nat -I OUTPUT -j "$name"
    if [[ $host_ip == 127.* ]]; then
      ip6 -N "$name" 2>/dev/null || ip6 -F "$name"
      ip6 -A "$name" -d ::1 -p tcp --dport "$host_port" -m comment --comment "devbox:$container" \
        -j REJECT --reject-with tcp-reset
      ip6 -C OUTPUT -j "$name" 2>/dev/null || ip6 -I OUTPUT -j "$name"
    fi
    ;;
  remove)
    (($# == 2)) && [[ -n $2 ]] || die "$usage"
    for chain in $(chains "$2"); do drop_chain "$chain"; done
    ;;
  clear)
    # Every port but those of guests still running (another devbox's on this host).
    for chain in $(chains); do
      holder=$(holder "${chain#DEVBOX-}")
      [[ -n $holder ]] && running "$holder" || drop_chain "$chain"
    done
    ;;
  holder)
    (($# == 2)) || die "$usage"
    holder "$2"
    ;;
  *) die "$usage" ;;
esac
