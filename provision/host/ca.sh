#!/usr/bin/env bash
# The host's local certificate authority for the devbox's HTTPS: mkcert's, made
# once for the user who runs Vagrant (root, under ./setup.sh) and trusted by the
# host's system store (curl, Python's ssl) and the NSS stores Chromium and
# Firefox read. Its key stays in that user's `mkcert -CAROOT`, never in the
# repository or a guest; each host makes its own.
#   ca.sh trust      make the CA if there is none, and trust it (idempotent)
#   ca.sh untrust    take it out of every store; the CA itself stays
#   ca.sh status     one line: where the CA is and whether the system trusts it
# With sudo, the invoking user's Chromium and Firefox trust it too.
set -euo pipefail

die() { echo "ca.sh: $*" >&2; exit 1; }
command -v mkcert >/dev/null || die "mkcert is missing; apt install mkcert libnss3-tools (./setup.sh does)"
caroot=$(mkcert -CAROOT)

# system_trusts: the system store holds this CA (mkcert's copy of it).
system_trusts() {
  local copy
  for copy in /usr/local/share/ca-certificates/mkcert_development_CA_*.crt; do
    cmp -s "$copy" "$caroot/rootCA.pem" && return 0
  done
  return 1
}

# Chromium makes its NSS store on its first start; mkcert trusts only stores
# that exist, so a host whose browser never ran gets one now.
nss_store() {  # nss_store USER HOME
  local db=$2/.pki/nssdb
  [[ -f $db/cert9.db ]] && return 0
  runuser -u "$1" -- mkdir -p "$db"
  runuser -u "$1" -- certutil -N -d "sql:$db" --empty-password
}

# The sudo user's browsers: their NSS stores get the (public) root certificate.
for_sudo_user() {  # for_sudo_user -install|-uninstall
  [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]] || return 0
  local home public
  home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
  [[ $1 == -uninstall ]] || nss_store "$SUDO_USER" "$home"
  public=$(mktemp -d)
  cp "$caroot/rootCA.pem" "$public/"
  chmod 755 "$public" && chmod 644 "$public/rootCA.pem"
  runuser -u "$SUDO_USER" -- env HOME="$home" CAROOT="$public" TRUST_STORES=nss \
    mkcert "$1" >/dev/null 2>&1 || true
  rm -rf "$public"
}

case ${1:-} in
  trust)
    nss_store "$(id -un)" "$HOME"
    # Quiet unless it changes something: mkcert says what it installed.
    mkcert -install 2>&1 | grep -v '^$' || true
    for_sudo_user -install
    ;;
  untrust)
    [[ -f $caroot/rootCA.pem ]] || { echo "ca.sh: no local CA in $caroot; nothing to untrust"; exit 0; }
    mkcert -uninstall 2>&1 | grep -v '^$' || true
    for_sudo_user -uninstall
    echo "The CA stays in $caroot (rm -rf it to delete it); ./setup.sh trusts it again"
    ;;
  status)
    if [[ ! -f $caroot/rootCA.pem ]]; then
      echo "no local CA ($caroot)"
    elif system_trusts; then
      echo "local CA in $caroot, trusted by this host (ca.sh untrust takes it out)"
    else
      echo "local CA in $caroot, not trusted by this host (ca.sh trust)"
    fi
    ;;
  *) die "usage: ca.sh trust|untrust|status" ;;
esac
