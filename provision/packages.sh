#!/usr/bin/env bash
# Debian packages. The lxc box has them baked in (the guest has no route out);
# a public box (VirtualBox, libvirt) fetches what is missing.
set -euo pipefail

# wrk: the benchmarks measure the app directly from inside the guest.
wanted=(nginx redis-server python3-venv python3-yaml curl ca-certificates wrk)
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
