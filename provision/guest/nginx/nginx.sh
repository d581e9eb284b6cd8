#!/usr/bin/env bash
# nginx in front: the site rendered from the settings, checked with `nginx -t`
# before any reload; an invalid config is rolled back so the old one keeps serving.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

site=$(rendered_path nginx/site.conf.j2)
main=/etc/nginx/nginx.conf
backup=$(mktemp -d)
trap 'rm -rf "$backup"' EXIT
cp "$main" "$backup/main"
[[ -f $site ]] && cp "$site" "$backup/site"

changed=false
# Each WebSocket client holds two connections in nginx (to it, and upstream);
# those limits are global, so they are set in nginx.conf itself.
connections=$((DEVBOX_MAX_CLIENTS * 2 + 256))
# No more files than the guest may have (a container cannot raise its hard
# limit): above it nginx's setrlimit fails and its workers keep 1024.
files=$((connections * 2))
hard=$(ulimit -Hn)
[[ $hard == unlimited || $files -le $hard ]] || files=$hard
if ! grep -Eq "^\s*worker_connections $connections;" "$main" || ! grep -q "^worker_rlimit_nofile $files;" "$main"; then
  sed -i -E -e "s/^(\s*worker_connections) [0-9]+;/\1 $connections;/" -e "/^worker_rlimit_nofile /d" \
    -e "s/^(worker_processes .*)$/\1\nworker_rlimit_nofile $files;/" "$main"
  changed=true
fi

# Root's alone: nginx's master reopens its logs as root (USR1), so whoever may
# change this folder could have it write wherever a link points.
install -d -o root -g adm -m 755 "$DEVBOX_NGINX_LOGS"
if [[ $DEVBOX_PRODUCTION == true ]]; then
  # certbot's challenge files, which plain HTTP serves (acme/acme.sh).
  install -d -m 755 "$DEVBOX_ACME_WEBROOT"
  # The site's ports are the server's: another web server there would leave
  # nginx unable to start, after nginx -t passed.
  for port in "$DEVBOX_GUEST_PORT" "$DEVBOX_HTTPS_GUEST_PORT"; do
    holder=$(ss -Hltnp "sport = :$port" | grep -v '(("nginx"' | grep -o '(("[^"]*"' | head -1 | tr -d '("') || true
    [[ -z $holder ]] || die "port $port on this server is taken by $holder; stop it (systemctl disable --now $holder, or kill it) and run fab deploy again"
  done
fi
if [[ $DEVBOX_TLS == true && $DEVBOX_PRODUCTION == false ]]; then
  # The certificate and key the host made (devbox/host/tls.py), which Vagrant or
  # fab uploaded for this run: root's alone from here on, the upload removed.
  install -d -o root -g root -m 700 "$(dirname "$DEVBOX_TLS_FILE")"
  if [[ -n ${DEVBOX_TLS_UPLOAD:-} ]]; then
    [[ -f $DEVBOX_TLS_UPLOAD ]] || die "the host's certificate did not arrive ($DEVBOX_TLS_UPLOAD); run vagrant provision again"
    if ! cmp -s "$DEVBOX_TLS_UPLOAD" "$DEVBOX_TLS_FILE"; then
      install -o root -g root -m 600 "$DEVBOX_TLS_UPLOAD" "$DEVBOX_TLS_FILE"
      changed=true
    fi
    rm -f "$DEVBOX_TLS_UPLOAD"
  fi
  [[ -s $DEVBOX_TLS_FILE ]] \
    || die "no certificate for HTTPS in the guest ($DEVBOX_TLS_FILE); fab provision brings the host's (or set tls: false)"
fi
if [[ $DEVBOX_TLS == true ]]; then
  if ! cmp -s "$DEVBOX_ROOT/provision/guest/nginx/ffdhe2048.pem" "$DEVBOX_TLS_DHPARAM"; then
    install -m 644 "$DEVBOX_ROOT/provision/guest/nginx/ffdhe2048.pem" "$DEVBOX_TLS_DHPARAM"
    changed=true
  fi
fi
enabled=/etc/nginx/sites-enabled/$DEVBOX_NAME.conf
if render nginx/site.conf.j2; then
  changed=true
fi
[[ -L $enabled ]] || changed=true

if $changed; then
  ln -sfn "$site" "$enabled"
  if ! output=$(nginx -t 2>&1); then
    cp "$backup/main" "$main"
    # No earlier site: none is left behind either, so that nginx -t passes
    # again for the next attempt and nginx still starts.
    if [[ -f $backup/site ]]; then cp "$backup/site" "$site"; else rm -f "$site" "$enabled"; fi
    echo "$output" >&2
    die "the rendered nginx config is invalid (nginx -t above); the previous config keeps serving"
  fi
  systemctl is-active --quiet nginx && systemctl reload nginx
fi
enable_units nginx
systemctl start nginx
