#!/usr/bin/env bash
# A server's certificate, from the ACME CA in deploy.yaml (Let's Encrypt's
# unless it names another), ordered by Debian's certbot over HTTP-01 through
# nginx (the challenge files in acme_webroot, which nginx's plain HTTP server
# serves). Ordered again when the names or the CA change; renewed by certbot's
# own timer, which then reloads nginx. A failed order leaves nginx as it was.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

read -ra domains <<< "$DEVBOX_DOMAINS"
install -d -m 755 "$DEVBOX_ACME_WEBROOT"
certbot_env=()
dropin=/etc/systemd/system/certbot.service.d/$DEVBOX_NAME.conf
if [[ -n $DEVBOX_ACME_CA_BUNDLE ]]; then
  # A private ACME CA (acme.ca_bundle): its directory's HTTPS is checked
  # against this file, at the order here and at every renewal by the timer.
  bundle=$DEVBOX_PATHS_CONFIG/acme-ca.pem
  install -m 644 "$DEVBOX_ACME_CA_BUNDLE_FILE" "$bundle"
  certbot_env=("REQUESTS_CA_BUNDLE=$bundle")
  install -d -m 755 "$(dirname "$dropin")"
  printf '[Service]\nEnvironment=REQUESTS_CA_BUNDLE=%s\n' "$bundle" > "$dropin.new"
  install_file "$dropin.new" "$dropin" && systemctl daemon-reload
  rm -f "$dropin.new"
elif [[ -f $dropin ]]; then
  rm -f "$dropin"
  systemctl daemon-reload
fi
hook=/etc/letsencrypt/renewal-hooks/deploy/$DEVBOX_NAME-nginx
install -d -m 755 "$(dirname "$hook")"
printf '#!/bin/sh\n# A renewed certificate: nginx serves it from now on.\nsystemctl reload nginx\n' > "$hook"
chmod 755 "$hook"

if [[ -s $DEVBOX_TLS_CERTIFICATE && $(cat "$DEVBOX_ACME_ORDER_FILE" 2>/dev/null) == "$DEVBOX_ACME_ORDER_TEXT" ]]; then
  exit 0
fi
args=(certonly --non-interactive --agree-tos --no-eff-email --email "$DEVBOX_ACME_EMAIL"
      --server "$DEVBOX_ACME_DIRECTORY" --webroot --webroot-path "$DEVBOX_ACME_WEBROOT"
      --cert-name "$DEVBOX_NAME" --key-type ecdsa)
for domain in "${domains[@]}"; do args+=(--domain "$domain"); done
# Other names or another CA than the certificate's: a new one now, not at its renewal.
[[ ! -s $DEVBOX_TLS_CERTIFICATE ]] || args+=(--force-renewal)
log=$(mktemp)
if ! env "${certbot_env[@]}" certbot "${args[@]}" > "$log" 2>&1; then
  cat "$log" >&2
  reason=$(grep -m1 -E '^ *Detail:' "$log" | sed -E 's/^ *Detail: *//') || true
  rm -f "$log"
  die "the certificate order for ${domains[*]} from $DEVBOX_ACME_DIRECTORY failed${reason:+: $reason}; check that each name resolves to this server and that port $DEVBOX_GUEST_PORT reaches it from the internet (certbot's log above)"
fi
rm -f "$log"
echo "$DEVBOX_ACME_ORDER_TEXT" > "$DEVBOX_ACME_ORDER_FILE"
# nginx again, now with the certificate: HTTPS on (the settings' tls follows
# the certificate's file, which now is there).
DEVBOX_TLS=true bash "$DEVBOX_ROOT/provision/guest/nginx/nginx.sh"
