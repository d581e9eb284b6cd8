#!/usr/bin/env bash
# nginx in front: the site rendered from the settings, checked with `nginx -t`
# before any reload; an invalid config is rolled back so the old one keeps serving.
set -euo pipefail
source "$DEVBOX_ROOT/provision/lib.sh"

site=/etc/nginx/sites-available/$DEVBOX_NAME.conf
backup=$(mktemp)
trap 'rm -f "$backup"' EXIT
[[ -f $site ]] && cp "$site" "$backup"

ln -sfn "$site" "/etc/nginx/sites-enabled/$DEVBOX_NAME.conf"
if render nginx-site.conf.j2 "$site"; then
  if ! output=$(nginx -t 2>&1); then
    if [[ -s $backup ]]; then cp "$backup" "$site"; else rm -f "$site"; fi
    echo "$output" >&2
    die "the rendered nginx config is invalid (nginx -t above); the previous config keeps serving"
  fi
  systemctl is-active --quiet nginx && systemctl reload nginx
fi
systemctl enable --quiet nginx
systemctl start nginx
