#!/usr/bin/env bash
# Build the lxc box from Debian's registry and add it to Vagrant under the name
# devbox.yaml gives (boxes.lxc). No box can be downloaded here, and a guest with
# no route out must find every Debian package it needs already installed, so
# the packages the provisioner would apt-get are baked in at build time.
#
# Cached: the box is rebuilt only when its recipe changes: this file and the
# guest's package list (provision/guest/packages.txt).
# Usage: build-box.sh BOX_NAME
set -euo pipefail

box=${1:?usage: build-box.sh BOX_NAME}
package_list="$(dirname "$0")/../guest/packages.txt"
recipe=$(cat "$0" "$package_list" | sha256sum | cut -c1-16)
cache=${DEVBOX_CACHE:-/var/cache/devbox}
stamp="$cache/box-${box//\//_}.recipe"
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Without a keyring debootstrap only warns and installs unchecked packages
# (Ubuntu hosts lack Debian's keys): require it, and name it explicitly.
keyring=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
# What a Vagrant box needs, then what the provisioner would install.
mapfile -t packages < <(grep -Ev '^\s*(#|$)' "$package_list")
packages=(systemd systemd-sysv dbus openssh-server sudo iproute2 procps less "${packages[@]}")

if [[ -f $stamp && $(cat "$stamp") == "$recipe" ]] && vagrant box list 2>/dev/null | grep -q "^$box "; then
  echo "box $box is up to date (recipe $recipe)"
  exit 0
fi

[[ -s $keyring ]] || { echo "build-box: $keyring is missing, so the packages could not be checked; install debian-archive-keyring" >&2; exit 1; }
key=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1)
[[ -n $key ]] || { echo "build-box: Vagrant's insecure public key not found; install Debian's vagrant package" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/devbox-box.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "building lxc box $box from $mirror ($suite; takes about a minute)"
debootstrap --keyring="$keyring" --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" "$suite" "$root" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; echo "build-box: debootstrap failed (log above)" >&2; exit 1; }

# Containers have no udev, so ifupdown cannot bring eth0 up; networkd can.
cat > "$root/etc/systemd/network/eth0.network" <<'NET'
[Match]
Name=eth0

[Network]
DHCP=ipv4
NET
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1

# Host keys are made at first boot so that no two guests share them.
rm -f "$root"/etc/ssh/ssh_host_*
cat > "$root/etc/systemd/system/ssh-host-keys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
RequiredBy=ssh.service
UNIT
chroot "$root" systemctl enable ssh-host-keys.service ssh.service >/dev/null 2>&1

# debugfs cannot be mounted in a container: no failed unit for it.
chroot "$root" systemctl mask sys-kernel-debug.mount >/dev/null 2>&1

# The provisioner configures nginx; the stock site would take port 80 meanwhile.
rm -f "$root/etc/nginx/sites-enabled/default"

chroot "$root" useradd --create-home --shell /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"
install -d -m 700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$key" "$root/home/vagrant/.ssh/authorized_keys"
echo "$box" | tr '/' '-' > "$root/etc/hostname"
apt-get -qq clean -o RootDir="$root" 2>/dev/null || rm -rf "$root"/var/cache/apt/archives/*.deb
rm -rf "$root"/var/lib/apt/lists/*

echo '{"provider": "lxc", "version": "1.0.0"}' > "$work/metadata.json"
# Unprivileged: the guest's root is uid 100000 on the host, which owns none of
# the host's files, those of the synced folder included.
# /sys is read-only, as systemd expects of a container (with it writable,
# networkd waits for a udev that never comes).
# The host's architecture: debootstrap built for it (amd64, arm64).
cat > "$work/lxc-config" <<LXC
lxc.include = /usr/share/lxc/config/common.conf
lxc.include = /usr/share/lxc/config/userns.conf
lxc.arch = $(dpkg --print-architecture)
lxc.idmap = u 0 100000 65536
lxc.idmap = g 0 100000 65536
lxc.mount.auto =
lxc.mount.auto = proc:mixed sys:ro cgroup:mixed
LXC
# The guest's ids, shifted as the lxc-config maps them: vagrant-lxc's template
# extracts the rootfs as host root, keeping these numbers. chown drops setuid
# and setgid bits, so they are put back.
python3 - "$root" <<'PY'
import os, stat, sys
for folder, dirs, files in os.walk(sys.argv[1]):
    for path in [folder, *(os.path.join(folder, n) for n in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))])]:
        st = os.lstat(path)
        if st.st_uid < 100000:
            os.lchown(path, st.st_uid + 100000, st.st_gid + 100000)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode))
PY
# vagrant-lxc's template strips two components: entries must be ./rootfs/...
tar --numeric-owner -C "$work" -cf - ./rootfs | gzip -1 > "$work/rootfs.tar.gz"
tar -C "$work" -cf "$work/devbox.box" metadata.json lxc-config rootfs.tar.gz

vagrant box add --force --name "$box" "$work/devbox.box"
mkdir -p "$cache"
echo "$recipe" > "$stamp"
echo "box $box built and added ($(du -h "$work/devbox.box" | cut -f1))"
