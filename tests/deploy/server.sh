#!/usr/bin/env bash
# A server for `fab deploy` to be tested against: a stock Debian 12 that devbox
# never touched, as a hosting provider hands one out (an unprivileged lxc
# container with sshd, sudo and python3, nothing of the stack), on a bridge of
# its own, and an ACME CA (Pebble) for its certbot. Run as root on the host.
#
#   server.sh up [N]      make whatever is missing for servers 1 to N (default
#                         1; the first time a few minutes, then seconds) and
#                         print what a test needs (below)
#   server.sh fresh [K..] servers K.. (default 1) made again from the cached
#                         root file system
#   server.sh down        everything but the caches on disk and the keys undone
#   server.sh env         print what a test needs, changing nothing
# Server K is the container devbox-server (K = 1) or devbox-serverK, at
# 10.0.5.(K+1): several make a front and its app servers, on one network.
#
# What a test needs is printed on stdout as KEY=value lines, progress on stderr,
# so that `eval "$(tests/deploy/server.sh up)"` works:
#   SERVER_ADDRESS SERVER_USER SERVER_KEY SERVER_KNOWN_HOSTS  ssh admin@10.0.5.2
#   SERVER_ADDRESSES         every server's address that exists, in order
#   ACME_DIRECTORY ACME_CA   Pebble's directory, and the CA its TLS certificate
#                            is signed by (for certbot: REQUESTS_CA_BUNDLE)
#   ACME_ROOTS               Pebble's issuing root (new at every start of Pebble;
#                            its management port's TLS is ACME_CA's too)
#   PIP_INDEX APT_PROXY      the host's package caches, as the server reaches them
#
# The server's only ways out are those: the host's package caches (apt-cacher-ng
# and the PyPI cache of provision/host/package-cache.sh, made to listen on the
# bridge's address too) and Pebble's directory. There is no NAT and no
# forwarding, and an nftables table of this script's own drops anything else the
# server sends to the host. Pebble reaches the server: it resolves every name to
# it (pebble-challtestsrv as its DNS server), so an HTTP-01 order for any name
# is validated against the server's port 80 (a test may point a name at
# another server through challtestsrv's management port, 127.0.0.1:8055).
set -euo pipefail

bridge=devbox-srv0
network=10.0.5.0/24
host_address=10.0.5.1
server_address=10.0.5.2   # server 1's: every name resolves to it
broadcast=10.0.5.255
max_servers=4
user="admin"
suite=bookworm
acme_port=14000

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# package-cache.sh's ports, from devbox's settings (HOST_CACHE_PORTS).
read -r apt_port pip_port < <(cd "$root" && .venv/bin/python -c \
  'from devbox.settings import HOST_CACHE_PORTS as p; print(p["apt"], p["pip"])' 2>/dev/null) \
  || { echo "server.sh: run ./setup.sh first (it makes .venv, which has devbox's settings)" >&2; exit 1; }
package_cache=$root/provision/host/package-cache.sh
cache=${DEVBOX_CACHE:-/var/cache/devbox}
state=/var/lib/devbox/test-server      # kept across down: the key and the CA
run=/run/devbox-test-server            # pid files and logs of the daemons
key=$state/id_ed25519
known_hosts=$state/known_hosts
acme_ca=$state/acme-ca.pem
guard=devbox-server-guard
lxcpath=$(lxc-config lxc.lxcpath 2>/dev/null || echo /var/lib/lxc)

die() { echo "server.sh: $*" >&2; exit 1; }
source "$root/provision/host/rootfs.sh"
say() { echo "server.sh: $*" >&2; }

# Server K's container name and address, and its MAC: fixed, locally
# administered, so that the host's neighbour entry stays right when the
# container is made again, and ssh need not wait for it to expire.
name_of() { if (($1 == 1)); then echo devbox-server; else echo "devbox-server$1"; fi; }
address_of() { echo "10.0.5.$(($1 + 1))"; }
mac_of() { printf '02:00:0a:00:05:%02x\n' $(($1 + 1)); }

print_env() {
  local k addresses=()
  for k in $(seq $max_servers); do
    ! container_exists "$k" || addresses+=("$(address_of "$k")")
  done
  cat <<EOF
SERVER_ADDRESS=$server_address
SERVER_ADDRESSES=${addresses[*]}
SERVER_USER=$user
SERVER_KEY=$key
SERVER_KNOWN_HOSTS=$known_hosts
ACME_DIRECTORY=https://$host_address:$acme_port/dir
ACME_CA=$acme_ca
ACME_ROOTS=https://127.0.0.1:15000/roots/0
PIP_INDEX=http://$host_address:$pip_port/index/
APT_PROXY=http://$host_address:$apt_port
EOF
}

# The host ids the container's 65536 are mapped to: the first free block after
# the one the devbox box's guest uses (build-box.sh --id-base), so that neither
# guest can own the other's files, and, as build-box.sh checks for its own, in
# no range that /etc/subuid or /etc/subgid gives a host user. build-box.sh
# finds it, told that the box's block is taken too (on fd 3: its Python reads
# its program from stdin).
id_base() {
  local box_base
  box_base=$("$root/provision/host/build-box.sh" --id-base)
  DEVBOX_SUBID_FILES="${DEVBOX_SUBID_FILES:-/etc/subuid /etc/subgid} /dev/fd/3" \
    "$root/provision/host/build-box.sh" --id-base 3< <(echo "devbox-box:$box_base:65536")
}

# ---------------------------------------------------------------- network
network_up() {
  if [[ $(ip -o -4 addr show dev "$bridge" 2>/dev/null) != *" inet $host_address/24 "* ]]; then
    # Anything else of the host's in 10.0.5.0/24 (an address, or a route of
    # another interface's, such as a VPN's or libvirt's) would make the
    # server's packets go astray, or its address someone else's.
    local taken
    taken=$( { ip -o -4 addr show | awk -v b="$bridge" '$2 != b && $4 ~ /^10\.0\.5\./ {print $2, $4}'
               { ip -4 route show root "$network"; ip -4 route show match "$network"; } \
                 | grep -v '^default' | grep -v " dev $bridge\b" || true; } | head -1 | sed 's/ *$//')
    [[ -z $taken ]] || die "$network is already in use on this host ($taken); the test server needs it"
    ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
    ip addr add "$host_address/24" dev "$bridge"
  fi
  ip link set "$bridge" up
  # Made whole on every run (declared, emptied, filled: one transaction). inet:
  # IPv6 too, or the server could reach the host's services listening on ::
  # through the bridge's link-local address. A drop in any table is final, so
  # no accept elsewhere (ufw's, Docker's) lets anything through.
  nft -f - <<EOF
table inet $guard
delete table inet $guard
table inet $guard {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "$bridge" ct state established,related accept comment "answers to what the host opened (ssh, Pebble's validation)"
    iifname "$bridge" ip daddr $host_address tcp dport { $pip_port, $apt_port, $acme_port } accept comment "the package caches and Pebble's directory"
    iifname "$bridge" drop comment "devbox test server: nothing else of the host's"
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "$bridge" oifname "$bridge" accept comment "server to server, as on a provider's private network"
    iifname "$bridge" drop comment "devbox test server: no way out"
    oifname "$bridge" drop comment "devbox test server: no way in but from the host"
  }
}
EOF
}

network_down() {
  nft delete table inet "$guard" 2>/dev/null || true
  ip link delete "$bridge" 2>/dev/null || true
}

# ---------------------------------------------------------------- caches
# The addresses the caches listen on now. Only those the host still has: one of
# a network gone since (a libvirt VM's) would stop package-cache.sh.
cache_addresses() {
  local address
  for address in $(cat /run/devbox-package-cache/apt.addresses 2>/dev/null || true); do
    [[ $(ip -o -4 addr show) != *" inet $address/"* ]] || echo "$address"
  done
}

caches_up() {
  local addresses
  mapfile -t addresses < <(cache_addresses)
  # In the order they were, ours last: package-cache.sh restarts the caches
  # only when the list differs.
  [[ " ${addresses[*]} " == *" $host_address "* ]] || addresses+=("$host_address")
  "$package_cache" "${addresses[@]}" >&2
}

caches_down() {
  local addresses=() address had=no
  for address in $(cache_addresses); do
    if [[ $address == "$host_address" ]]; then had=yes; else addresses+=("$address"); fi
  done
  [[ $had == yes ]] || return 0
  if ((${#addresses[@]})); then
    "$package_cache" "${addresses[@]}" >&2
  else
    "$package_cache" stop
  fi
}

# ---------------------------------------------------------------- root file system
# Cached as a tarball, rebuilt only when its recipe changes: the function that
# builds it, and the host ids its files are shifted to.
rootfs_tarball() {
  local recipe
  recipe=$( (declare -f build_rootfs host_key_at_first_boot shift_ids; echo "$suite $user $idbase") | sha256sum | cut -c1-16)
  echo "$cache/test-server-rootfs-$recipe.tar.gz"
}

build_rootfs() {
  local tarball=$1 rootfs
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  local mirror=http://$host_address:$apt_port/deb.debian.org/debian
  [[ -s $keyring ]] || die "$keyring is missing; install debian-archive-keyring"
  mkdir -p "$cache"
  # (global: the trap runs after this function is gone)
  work=$(mktemp -d "$cache/test-server-build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  rootfs=$work/rootfs
  say "building the server's root file system (Debian $suite minbase, through the apt cache; a minute or two)"
  # What a provider's minimal image has, and no more: the deploy installs the rest.
  debootstrap --keyring="$keyring" --variant=minbase \
    --include=systemd-sysv,dbus,openssh-server,sudo,iproute2,ca-certificates,python3 \
    "$suite" "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

  # Debian's sources, as a stock image names them; the deploy decides on a proxy.
  echo "deb http://deb.debian.org/debian $suite main" > "$rootfs/etc/apt/sources.list"
  # debootstrap copied the host's name and resolver.
  echo server > "$rootfs/etc/hostname"
  cat > "$rootfs/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
127.0.1.1	server
::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
HOSTS
  # No DNS server is reachable from the test network; apt, pip and ACME are
  # reached by address (apt's Debian host name goes to the proxy as is).
  echo "# devbox test server: no resolver on its network" > "$rootfs/etc/resolv.conf"
  # Made at first boot, as on a provider's image: no two servers share one.
  : > "$rootfs/etc/machine-id"
  [[ -L $rootfs/var/lib/dbus/machine-id ]] || rm -f "$rootfs/var/lib/dbus/machine-id"

  # Its SSH host key made at first boot, as on a provider's image.
  host_key_at_first_boot "$rootfs"
  # debugfs cannot be mounted in a container: no failed unit for it.
  chroot "$rootfs" systemctl mask sys-kernel-debug.mount >/dev/null 2>&1

  # The sudo user a cloud image makes (Debian's is `debian`), password locked;
  # its authorized_keys is put in when a container is made (as cloud-init would
  # at first boot), so the key can be made again without a new tarball.
  chroot "$rootfs" useradd --create-home --shell /bin/bash --groups adm,sudo "$user"
  echo "$user ALL=(ALL) NOPASSWD:ALL" > "$rootfs/etc/sudoers.d/90-$user"
  chmod 440 "$rootfs/etc/sudoers.d/90-$user"
  install -d -m 700 "$rootfs/home/$user/.ssh"
  chroot "$rootfs" chown "$user:$user" "/home/$user/.ssh"

  apt-get -qq clean -o RootDir="$rootfs" 2>/dev/null || rm -rf "$rootfs"/var/cache/apt/archives/*.deb
  rm -rf "$rootfs"/var/lib/apt/lists/*

  # The ids shifted as the container maps them (as build-box.sh does for the box).
  shift_ids "$rootfs" "$idbase"
  tar --numeric-owner -C "$rootfs" -cf - . | gzip -1 > "$work/rootfs.tar.gz"
  rm -f "$cache"/test-server-rootfs-*.tar.gz   # an older recipe's
  mv "$work/rootfs.tar.gz" "$tarball"
  rm -rf "$work"
  trap - EXIT
  say "root file system cached: $tarball ($(du -h "$tarball" | cut -f1))"
}

# ---------------------------------------------------------------- the container
# container_* K: server K's. Made whole: its root file system is named in its config last.
container_exists() { grep -qs '^lxc.rootfs.path' "$lxcpath/$(name_of "$1")/config"; }

container_destroy() {
  local name
  name=$(name_of "$1")
  [[ -e $lxcpath/$name ]] || return 0
  # A throwaway: no clean shutdown needed.
  lxc-stop -n "$name" -k >/dev/null 2>&1 || true
  # (lxc-destroy knows no container left half made.)
  lxc-destroy -n "$name" >/dev/null 2>&1 || rm -rf "${lxcpath:?}/$name"
}

container_create() {
  local tarball=$1 name address config rootfs admin_id hostname hosts
  name=$(name_of "$2") address=$(address_of "$2") rootfs=$lxcpath/$(name_of "$2")/rootfs
  hostname=${name#devbox-}
  config=$(mktemp)
  # Unprivileged: its root is host id $idbase, which owns none of the host's files.
  # /sys read-only, as systemd expects of a container. Its own network
  # namespace, owned by its user namespace: root in it may change that
  # network's firewall (nftables, ufw), and proc:mixed leaves /proc/sys/net
  # writable for it (ufw sets its sysctls there), and nothing of the host's.
  # The broadcast address is given: lxc 5.0.2 makes it 0.0.0.255 otherwise.
  cat > "$config" <<LXC
lxc.include = /usr/share/lxc/config/common.conf
lxc.include = /usr/share/lxc/config/userns.conf
lxc.arch = $(dpkg --print-architecture)
lxc.uts.name = $hostname
lxc.idmap = u 0 $idbase 65536
lxc.idmap = g 0 $idbase 65536
lxc.mount.auto =
lxc.mount.auto = proc:mixed sys:ro cgroup:mixed
lxc.net.0.type = veth
lxc.net.0.link = $bridge
lxc.net.0.flags = up
lxc.net.0.name = eth0
lxc.net.0.hwaddr = $(mac_of "$2")
lxc.net.0.ipv4.address = $address/24 $broadcast
lxc.net.0.ipv4.gateway = $host_address
LXC
  # -t none: the root file system is ours, from the tarball (lxc-create wants
  # it to exist if the config names it: it is named once it is whole).
  lxc-create -q -n "$name" -t none -f "$config" || die "lxc-create failed: lxc-create -n $name -t none -f $config"
  rm -f "$config"
  mkdir "$rootfs"
  tar --numeric-owner -xpzf "$tarball" -C "$rootfs"
  # Its own name (written in place: the files keep the container's owner).
  echo "$hostname" > "$rootfs/etc/hostname"
  hosts=$(sed "s/^127\.0\.1\.1\s.*/127.0.1.1\t$hostname/" "$rootfs/etc/hosts")
  echo "$hosts" > "$rootfs/etc/hosts"
  admin_id=$(awk -F: -v u="$user" '$1 == u {print $3}' "$rootfs/etc/passwd")
  install -m 600 -o $((idbase + admin_id)) -g $((idbase + admin_id)) "$key.pub" "$rootfs/home/$user/.ssh/authorized_keys"
  echo "lxc.rootfs.path = dir:$rootfs" >> "$lxcpath/$name/config"
  # A new server has a new host key: forget the old one.
  ssh-keygen -q -R "$address" -f "$known_hosts" >/dev/null 2>&1 || true
  rm -f "$known_hosts.old"
}

ssh_key() {
  install -d -m 755 "$state"
  [[ -f $key ]] || ssh-keygen -q -t ed25519 -N "" -C "devbox test server admin" -f "$key"
  chmod 600 "$key"
  [[ -f $known_hosts ]] || : > "$known_hosts"
}

ssh_works() {  # ssh_works ADDRESS
  ssh -i "$key" -o UserKnownHostsFile="$known_hosts" -o StrictHostKeyChecking=accept-new \
    -o BatchMode=yes -o ConnectTimeout=2 -o LogLevel=ERROR "$user@$1" true </dev/null 2>/dev/null
}

# container_start TARBALL K: server K made if missing, and started.
container_start() {
  local tarball=$1 name
  name=$(name_of "$2")
  if ! container_exists "$2"; then
    say "making the container $name from $(basename "$tarball")"
    container_destroy "$2"   # what is left of one half made
    container_create "$tarball" "$2"
  fi
  if [[ $(lxc-info -n "$name" -sH 2>/dev/null) != RUNNING ]]; then
    mkdir -p "$run"
    lxc-start -n "$name" -d -o "$run/$name.log" -l WARN \
      || { tail -20 "$run/$name.log" >&2; die "the container did not start (its log above: $run/$name.log)"; }
  fi
}

# container_wait K: server K answers ssh (its key accepted into known_hosts).
container_wait() {
  local address
  address=$(address_of "$1")
  for _ in $(seq 120); do
    ssh_works "$address" && return 0
    sleep 0.5
  done
  die "ssh -i $key $user@$address does not answer after 60 s (lxc-attach -n $(name_of "$1") -- journalctl -b)"
}

# ---------------------------------------------------------------- Pebble
# The directory's TLS certificate, for 10.0.5.1 (and 127.0.0.1, its management
# port), signed by a CA of this script's own that only the tests trust.
acme_certificates() {
  local ca_key=$state/acme-ca.key cert=$state/pebble.pem cert_key=$state/pebble.key
  if [[ ! -s $acme_ca || ! -s $ca_key ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -keyout "$ca_key" -out "$acme_ca" -subj "/CN=devbox test server ACME directory CA" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    chmod 600 "$ca_key"
    rm -f "$cert"
  fi
  # Made again when missing, expiring, or not the CA's (a new CA).
  if ! openssl verify -CAfile "$acme_ca" "$cert" >/dev/null 2>&1 || ! openssl x509 -checkend 2592000 -noout -in "$cert" >/dev/null; then
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$cert_key" \
      -subj "/CN=$host_address" -out "$state/pebble.csr" 2>/dev/null
    openssl x509 -req -in "$state/pebble.csr" -CA "$acme_ca" -CAkey "$ca_key" -set_serial "0x$(openssl rand -hex 16)" \
      -days 825 -out "$cert" -extfile <(printf '%s\n' "subjectAltName=IP:$host_address,IP:127.0.0.1" \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer") 2>/dev/null
    rm -f "$state/pebble.csr"
  fi
  # Pebble runs as nobody.
  chown root:nogroup "$cert_key"
  chmod 640 "$cert_key"
  cat > "$state/pebble.json" <<EOF
{
  "pebble": {
    "listenAddress": "$host_address:$acme_port",
    "managementListenAddress": "127.0.0.1:15000",
    "certificate": "$cert",
    "privateKey": "$cert_key",
    "httpPort": 80,
    "tlsPort": 443,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
}

daemon_running() {  # daemon_running NAME EXECUTABLE
  start-stop-daemon --status --pidfile "$run/$1.pid" --exec "$2" 2>/dev/null
}

daemon_start() {  # daemon_start NAME EXECUTABLE ARG...: as nobody, in the background
  local name=$1 exe=$2; shift 2
  daemon_running "$name" "$exe" && return 0
  mkdir -p "$run"
  start-stop-daemon --start --background --make-pidfile --pidfile "$run/$name.pid" \
    --chuid nobody:nogroup --chdir / --output "$run/$name.log" --exec "$exe" -- "$@"
}

daemon_alive() {  # daemon_alive NAME: its process is there (right after daemon_start it may
  # not have become EXECUTABLE yet: start-stop-daemon returns before its child's exec)
  [[ -s $run/$1.pid ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null
}

daemon_stop() {  # daemon_stop NAME EXECUTABLE
  [[ -f $run/$1.pid ]] || return 0
  start-stop-daemon --stop --quiet --oknodo --pidfile "$run/$1.pid" --exec "$2" --retry TERM/5/KILL/2 --remove-pidfile
}

pebble_up() {
  acme_certificates
  # Every name resolves to the server (IPv4 only: an AAAA answer, ::1 by
  # default, would send Pebble's validation to the host's own port 80). Its
  # challenge servers are not needed: the server answers the challenges.
  daemon_start challtestsrv /usr/bin/pebble-challtestsrv -dns01 127.0.0.1:8053 -management 127.0.0.1:8055 \
    -defaultIPv4 "$server_address" -defaultIPv6 "" -http01 "" -https01 "" -tlsalpn01 ""
  # No sleep before validating, every nonce accepted, no authorization reused:
  # fast, deterministic runs, each order validated anew.
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    daemon_start pebble /usr/bin/pebble -config "$state/pebble.json" -dnsserver 127.0.0.1:8053
  for _ in $(seq 100); do
    curl --noproxy '*' -fsS --max-time 2 --cacert "$acme_ca" -o /dev/null "https://$host_address:$acme_port/dir" 2>/dev/null && return 0
    daemon_alive pebble && daemon_alive challtestsrv || break
    sleep 0.2
  done
  tail -n 5 "$run/challtestsrv.log" "$run/pebble.log" >&2 || true
  die "Pebble's directory does not answer on https://$host_address:$acme_port/dir (logs above; ports 14000, 15000, 8053, 8055 free?)"
}

pebble_down() {
  daemon_stop pebble /usr/bin/pebble
  daemon_stop challtestsrv /usr/bin/pebble-challtestsrv
}

# ---------------------------------------------------------------- commands
up() {  # up K...: these servers
  local tarball k
  network_up
  caches_up
  tarball=$(rootfs_tarball)
  [[ -f $tarball ]] || build_rootfs "$tarball"
  ssh_key
  # Booting side by side.
  for k in "$@"; do container_start "$tarball" "$k"; done
  for k in "$@"; do container_wait "$k"; done
  pebble_up
  say "up: ssh -i $key -o UserKnownHostsFile=$known_hosts $user@$(address_of "$1")"
  print_env
}

down() {
  local k
  for k in $(seq $max_servers); do container_destroy "$k"; done
  pebble_down
  caches_down
  network_down
  rm -rf "$run"
  say "down (kept: the root file system in $cache, the key and CA in $state)"
}

command=${1:-}
usage="usage: server.sh up [N] | fresh [K...] | down | env (N, K: 1 to $max_servers)"
case $command in
  env) print_env; exit 0 ;;
  up|fresh|down) shift ;;
  *) die "$usage" ;;
esac
for k in "$@"; do
  [[ $k =~ ^[1-9]$ ]] && ((k <= max_servers)) || die "$usage"
done
((EUID == 0)) || die "run as root (it makes a bridge, an nftables table and a container)"
[[ $command == down ]] || for tool in lxc-create debootstrap nft openssl curl ssh start-stop-daemon pebble apt-cacher-ng; do
  command -v "$tool" >/dev/null || die "$tool is missing; run ./setup.sh test (or provision/host/packages.sh deploy)"
done
idbase=$(id_base)
case $command in
  up) up $(seq "${1:-1}") ;;
  fresh) (($#)) || set -- 1
         for k in "$@"; do container_destroy "$k"; done
         up "$@" ;;
  down) down ;;
esac
