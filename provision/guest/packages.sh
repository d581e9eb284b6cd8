#!/usr/bin/env bash
# Debian packages (provision/guest/packages.txt). The lxc box has them baked in
# (the guest has no route out); a public box (VirtualBox, libvirt) fetches what
# is missing.
set -euo pipefail

# Through the apt cache when there is one (package_cache.apt): the Vagrantfile
# passes it, as devbox.yaml cannot be read before python3-yaml is here.
cache_conf=/etc/apt/apt.conf.d/01devbox-cache
if [[ -n ${DEVBOX_PACKAGE_CACHE_APT:-} ]]; then
  echo "Acquire::http::Proxy \"$DEVBOX_PACKAGE_CACHE_APT\";" > "$cache_conf"
else
  rm -f "$cache_conf"
fi

lists=("$(dirname "$0")/packages.txt")
# A server (fab deploy) has a few more.
[[ ${DEVBOX_PROFILE:-} != production ]] || lists+=("$(dirname "$0")/production-packages.txt")
mapfile -t wanted < <(cat "${lists[@]}" | grep -Ev '^\s*(#|$)')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The stock site would hold port 80 and answer for unknown hosts.
rm -f /etc/nginx/sites-enabled/default
