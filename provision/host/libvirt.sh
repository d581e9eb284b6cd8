#!/usr/bin/env bash
# Host side of the libvirt provider: libvirt's daemons, started here when no
# service manager has (on a host without systemd nothing else would), and the
# guest's network: isolated (no route out, no DNS), with DHCP, named and
# addressed as devbox/settings.py has it (LIBVIRT_NETWORK, which the
# Vagrantfile gives vagrant-libvirt as its management network).
# And which of libvirt's drivers runs a guest here: kvm, or qemu (software
# emulation) where KVM cannot (inside another VM it may start the guest and
# then hang it); found once by booting the box, for the Vagrantfile to read.
# The forwarded port's rules on its bridge are provision/host/network.sh's.
# Idempotent; `libvirt.sh stop` takes the network down, and the daemons if it
# started them.
#   libvirt.sh NAME CIDR BOX_IMAGE   e.g. libvirt.sh devbox 10.0.4.0/24 ~/.vagrant.d/boxes/.../box.img
#   libvirt.sh stop NAME
set -euo pipefail

die() { echo "libvirt.sh: $*" >&2; exit 1; }
virsh() { command virsh --quiet --connect qemu:///system "$@"; }

# The daemons this script started (none when a service manager runs them).
started=/run/devbox-libvirt-daemons

if [[ ${1:-} == stop ]]; then
  name=${2:?usage: libvirt.sh stop NAME}
  # Another devbox's VMs on this host still use it: it stays, whole (its
  # rules, its daemons).
  in_use=$(DEVBOX_BRIDGE=virbr-$name "$(dirname "$0")/network.sh" users)
  if [[ -n $in_use ]]; then
    echo "libvirt.sh: the libvirt network $name stays up: other VMs still use it ($(echo $in_use)); stop them first" >&2
    exit 0
  fi
  DEVBOX_BRIDGE=virbr-$name "$(dirname "$0")/network.sh" stop
  if virsh net-info "$name" >/dev/null 2>&1; then
    virsh net-destroy "$name" >/dev/null 2>&1 || true
    virsh net-undefine "$name" >/dev/null
  fi
  if [[ -f $started ]]; then
    while read -r daemon; do
      [[ ! -s /run/$daemon.pid ]] || kill "$(cat "/run/$daemon.pid")" 2>/dev/null || true
    done < "$started"
    rm -f "$started"
  fi
  exit 0
fi
name=${1:-} cidr=${2:-} image=${3:-}
[[ -n $name && $cidr =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$ && -f $image ]] || die "usage: libvirt.sh NAME A.B.C.0/24 BOX_IMAGE"
prefix=${BASH_REMATCH[1]}

for daemon in virtlogd libvirtd; do
  if ! pgrep -x "$daemon" >/dev/null; then
    "$daemon" -d || die "$daemon did not start; see its log under /var/log/libvirt"
    echo "$daemon" >> "$started"
  fi
done
# Root-only /dev/kvm makes libvirt re-probe QEMU's abilities on every domain
# definition, about 30 s each. (KVM itself is not used: driver "qemu".)
if [[ -c /dev/kvm ]] && getent group kvm >/dev/null; then
  chgrp kvm /dev/kvm && chmod 660 /dev/kvm
fi
for _ in $(seq 50); do virsh version >/dev/null 2>&1 && break; sleep 0.2; done
virsh version >/dev/null || die "libvirtd does not answer on qemu:///system; see /var/log/libvirt/libvirtd.log"

# No <forward>: isolated, so the guest reaches the host's address only (the
# package caches listen there) and nothing beyond. No DNS either: names are
# resolved by the host's caches.
xml="<network>
  <name>$name</name>
  <bridge name='virbr-$name' stp='off'/>
  <dns enable='no'/>
  <ip address='$prefix.1' netmask='255.255.255.0'>
    <dhcp><range start='$prefix.2' end='$prefix.199'/></dhcp>
  </ip>
</network>"
if [[ $(virsh net-dumpxml "$name" 2>/dev/null) != *"<ip address='$prefix.1'"* ]]; then
  virsh net-destroy "$name" >/dev/null 2>&1 || true
  virsh net-undefine "$name" >/dev/null 2>&1 || true
  virsh net-define <(echo "$xml") >/dev/null
fi
[[ $(virsh net-info "$name") =~ Active:\ +yes ]] || virsh net-start "$name" >/dev/null
# The forwarded port goes over this bridge as over lxc's (kernel_forward.rb).
DEVBOX_BRIDGE=virbr-$name DEVBOX_BRIDGE_ADDRESS=$prefix.1 "$(dirname "$0")/network.sh" rules

driver_file=${DEVBOX_CACHE:-/var/cache/devbox}/libvirt-driver   # as provision/vagrant/settings.rb reads it
if [[ ! -s $driver_file ]]; then
  driver=qemu
  if [[ -w /dev/kvm ]] && timeout 30 qemu-system-x86_64 -accel kvm -m 256 -display none -serial stdio -snapshot \
      -no-reboot -drive "file=$image,if=virtio,format=qcow2" 2>/dev/null | grep -q -m1 "Linux version"; then
    driver=kvm
  fi
  mkdir -p "$(dirname "$driver_file")"
  echo "$driver" > "$driver_file"
fi
echo "libvirt ready: network $name ($prefix.1/24, isolated), driver $(cat "$driver_file")"
