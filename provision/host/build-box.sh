#!/usr/bin/env bash
# Build a Debian 12 box from Debian's registry and add it to Vagrant under the
# name devbox.yaml gives (boxes.PROVIDER). No box can be downloaded here.
#   lxc      an unprivileged container. Its guest has no route out, so the
#            packages the provisioner would apt-get are baked in.
#   libvirt  a VM disk (qcow2, BIOS boot through GRUB) as minimal as a public
#            box (debian/bookworm64): the provisioner installs its packages
#            online, as on a VirtualBox laptop, through the host's caches
#            (provision/host/package-cache.sh).
#
# Cached: a box is rebuilt only when its recipe changes: this file, the
# guest's package list (provision/guest/packages.txt) and, for lxc, the host
# ids its guest's are mapped to.
# Usage: build-box.sh PROVIDER BOX_NAME
#        build-box.sh --id-base     the first host id an lxc guest's map to
set -euo pipefail

die() { echo "build-box: $*" >&2; exit 1; }
source "$(dirname "$0")/rootfs.sh"

# id_base: the first of 65536 host ids, from 100000 up in steps of 65536, that
# no range in /etc/subuid or /etc/subgid touches: ranges given to host users
# there are theirs to map in their own user namespaces, and one of them could
# then own the guest's files. ($DEVBOX_SUBID_FILES: other files, for tests.)
id_base() {
  python3 - ${DEVBOX_SUBID_FILES:-/etc/subuid /etc/subgid} <<'PY'
import sys
taken = []
for name in sys.argv[1:]:
    try:
        lines = open(name).read().split()
    except FileNotFoundError:
        continue
    for line in lines:
        parts = line.split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            taken.append((int(parts[1]), int(parts[1]) + int(parts[2])))
base = 100000
while any(start < base + 65536 and base < end for start, end in taken):
    base += 65536
print(base)
PY
}
if [[ ${1:-} == --id-base ]]; then
  id_base
  exit 0
fi

provider=${1:-} box=${2:-}
[[ ($provider == lxc || $provider == libvirt) && -n $box ]] || die "usage: build-box.sh lxc|libvirt BOX_NAME"
package_list="$(dirname "$0")/../guest/packages.txt"
idbase=$(id_base)
recipe=$( (cat "$0" "$package_list" "$(dirname "$0")/rootfs.sh"; [[ $provider != lxc ]] || echo "$idbase") | sha256sum | cut -c1-16)
cache=${DEVBOX_CACHE:-/var/cache/devbox}
stamp="$cache/box-$provider-${box//\//_}.recipe"
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
arch=$(dpkg --print-architecture)
# Without a keyring debootstrap only warns and installs unchecked packages
# (Ubuntu hosts lack Debian's keys): require it, and name it explicitly.
keyring=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
# What any Vagrant box needs.
packages=(systemd systemd-sysv dbus openssh-server sudo iproute2 procps less)
if [[ $provider == lxc ]]; then
  mapfile -t baked < <(grep -Ev '^\s*(#|$)' "$package_list")
  packages+=("${baked[@]}")
else
  # The BIOS boot below is the PC's; an arm64 VM would need UEFI.
  [[ $arch == amd64 ]] || die "the libvirt box is built for amd64 hosts only (this one is $arch); use the lxc provider"
  # rsync: Vagrant's synced folder on a VM.
  packages+=(linux-image-amd64 rsync ca-certificates)
fi

# (vagrant box list pads the names into a column: match the words, not the spacing.)
if [[ -f $stamp && $(cat "$stamp") == "$recipe" ]] \
    && vagrant box list 2>/dev/null | awk -v box="$box" -v provider="($provider," '$1 == box && $2 == provider {found = 1} END {exit !found}'; then
  echo "box $box ($provider) is up to date (recipe $recipe)"
  exit 0
fi

[[ -s $keyring ]] || die "$keyring is missing, so the packages could not be checked; install debian-archive-keyring"
key=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1)
[[ -n $key ]] || die "Vagrant's insecure public key not found; install Debian's vagrant package"

work=$(mktemp -d "${TMPDIR:-/tmp}/devbox-box.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "building $provider box $box from $mirror ($suite; takes a minute or two)"
debootstrap --keyring="$keyring" --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" "$suite" "$root" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

# networkd on both: a container has no udev, so ifupdown cannot bring eth0 up.
cat > "$root/etc/systemd/network/wired.network" <<'NET'
[Match]
Name=eth* en*

[Network]
DHCP=ipv4
NET
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1

host_key_at_first_boot "$root"

chroot "$root" useradd --create-home --shell /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"
install -d -m 700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$key" "$root/home/vagrant/.ssh/authorized_keys"
echo "$box" | tr '/' '-' > "$root/etc/hostname"
apt-get -qq clean -o RootDir="$root" 2>/dev/null || rm -rf "$root"/var/cache/apt/archives/*.deb
rm -rf "$root"/var/lib/apt/lists/*

lxc_box() {
  # debugfs cannot be mounted in a container: no failed unit for it.
  chroot "$root" systemctl mask sys-kernel-debug.mount >/dev/null 2>&1
  # The provisioner configures nginx; the stock site would take port 80 meanwhile.
  rm -f "$root/etc/nginx/sites-enabled/default"

  echo '{"provider": "lxc", "version": "1.0.0"}' > "$work/metadata.json"
  # Unprivileged: the guest's root is host uid $idbase (100000 unless a host
  # user's subordinate ids are there), which owns none of the host's files,
  # those of the synced folder included.
  # /sys is read-only, as systemd expects of a container (with it writable,
  # networkd waits for a udev that never comes).
  # The host's architecture: debootstrap built for it (amd64, arm64).
  cat > "$work/lxc-config" <<LXC
lxc.include = /usr/share/lxc/config/common.conf
lxc.include = /usr/share/lxc/config/userns.conf
lxc.arch = $arch
lxc.idmap = u 0 $idbase 65536
lxc.idmap = g 0 $idbase 65536
lxc.mount.auto =
lxc.mount.auto = proc:mixed sys:ro cgroup:mixed
LXC
  # The guest's ids, shifted as the lxc-config maps them (vagrant-lxc's
  # template extracts the rootfs as host root).
  shift_ids "$root" "$idbase"
  # vagrant-lxc's template strips two components: entries must be ./rootfs/...
  tar --numeric-owner -C "$work" -cf - ./rootfs | gzip -1 > "$work/rootfs.tar.gz"
  tar -C "$work" -cf "$work/devbox.box" metadata.json lxc-config rootfs.tar.gz
}

libvirt_box() {
  local size_gb=20 start=2048 disk="$work/disk.raw"
  # The sources a public Debian box has; apt goes through the host's cache.
  cat > "$root/etc/apt/sources.list" <<APT
deb http://deb.debian.org/debian $suite main
deb http://deb.debian.org/debian $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
APT
  echo "LABEL=root / ext4 errors=remount-ro 0 1" > "$root/etc/fstab"
  # One partition, filled without mounting anything (mke2fs -d: no loop
  # devices), and GRUB written before it by hand: its boot sector, then its
  # core image, which boots the kernel straight away.
  truncate -s "${size_gb}G" "$disk"
  echo "start=$start, type=83, bootable" | sfdisk -q "$disk"
  mke2fs -q -t ext4 -L root -d "$root" -E offset=$((start * 512)) "$disk" $((size_gb * 1024 * 1024 - start / 2))k
  cat > "$work/grub.cfg" <<'GRUB'
set root=(hd0,msdos1)
linux /vmlinuz root=LABEL=root ro console=ttyS0 net.ifnames=0
initrd /initrd.img
boot
GRUB
  grub-mkimage -O i386-pc -o "$work/core.img" -c "$work/grub.cfg" -p /boot/grub biosdisk part_msdos ext2 linux boot
  (($(stat -c %s "$work/core.img") < (start - 1) * 512)) || die "GRUB's core image does not fit before the partition"
  dd if=/usr/lib/grub/i386-pc/boot.img of="$disk" bs=440 count=1 conv=notrunc status=none
  dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none
  qemu-img convert -O qcow2 "$disk" "$work/box.img"
  echo "{\"provider\": \"libvirt\", \"format\": \"qcow2\", \"virtual_size\": $size_gb}" > "$work/metadata.json"
  tar -C "$work" -cf "$work/devbox.box" metadata.json box.img
}

"${provider}_box"
vagrant box add --force --name "$box" --provider "$provider" "$work/devbox.box"
mkdir -p "$cache"
echo "$recipe" > "$stamp"
echo "box $box ($provider) built and added ($(du -h "$work/devbox.box" | cut -f1))"
