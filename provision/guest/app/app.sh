#!/usr/bin/env bash
# The app: a system user, a virtualenv outside the synced folder holding the
# worker class's packages and the app's own requirements, a secret key made
# once in the guest, and gunicorn under systemd running devbox's WSGI entry
# point (devbox/appserver/wsgi.py) around the app.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

user=$DEVBOX_NAME
venv=$DEVBOX_PATHS_VENV
worker_requirements="$DEVBOX_ROOT/requirements/worker-$DEVBOX_WORKER.txt"
app_requirements="$DEVBOX_ROOT/$DEVBOX_APP_REQUIREMENTS"
wheels="$DEVBOX_ROOT/$DEVBOX_WHEELHOUSE"  # filled on the host by ./setup.sh and fab provision
read -ra units <<< "$DEVBOX_GUEST_UNITS"   # this guest's instances
# Only devbox's package is put on the venv's path, not the whole synced folder:
# the app must not find devbox's tests, benchmarks or fabfile as modules.
pylib="$(dirname "$venv")/lib"

install -d -m 755 "$pylib"
# Through paths.synced: on a server, the live release's (`current`).
ln -sfn "$DEVBOX_PATHS_SYNCED/devbox" "$pylib/devbox"

# The secret never comes from the repository; it is made here, once. App
# guests (nodes) share theirs, and Redis's password, from the Vagrantfile; app
# servers from their front, through fab deploy.
secret_file="$DEVBOX_PATHS_CONFIG/secret.env"
if [[ -n ${DEVBOX_SECRET_KEY:-} ]]; then
  check_secret DEVBOX_SECRET_KEY "$DEVBOX_SECRET_KEY"
  check_secret DEVBOX_REDIS_PASSWORD "$DEVBOX_REDIS_PASSWORD"
  (umask 027
   printf 'SECRET_KEY=%s\nREDIS_URL=redis://:%s@%s:%s/0\n' "$DEVBOX_SECRET_KEY" "$DEVBOX_REDIS_PASSWORD" \
     "$DEVBOX_REDIS_HOST" "$DEVBOX_REDIS_PORT" > "$secret_file.new")
  if cmp -s "$secret_file.new" "$secret_file"; then
    rm -f "$secret_file.new"
  else
    chgrp "$user" "$secret_file.new"
    mv "$secret_file.new" "$secret_file"
    secret_changed=true   # the app must restart with it
  fi
elif ! grep -qs '^SECRET_KEY=' "$secret_file"; then
  (umask 027; echo "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')" > "$secret_file")
  chgrp "$user" "$secret_file"
fi

# One venv per worker and requirements set, built beside the running one and
# switched to by a symlink: a failed install leaves the app as it was, and no
# package of another worker class lingers in the new one.
# The app's requirement files are the top one and those it includes (-r, -c).
# shellcheck disable=SC2086  # a list of checked relative paths, split on purpose
want=$(cd "$DEVBOX_ROOT" && cat "$worker_requirements" $DEVBOX_APP_REQUIREMENT_FILES | sha256sum | cut -c1-12)
target="$venv-$DEVBOX_WORKER-$want"
if [[ ! -e $target/.complete ]]; then
  rm -rf "$target"
  python3 -m venv "$target"
  if [[ -d $wheels ]]; then
    pip_source=(--no-index --find-links "$wheels")   # offline
  elif [[ $DEVBOX_PACKAGE_CACHE_PIP == http://* ]]; then
    # pip refuses plain HTTP unless told the host: a cache on a private network.
    cache_host=${DEVBOX_PACKAGE_CACHE_PIP#*://}
    pip_source=(--index-url "$DEVBOX_PACKAGE_CACHE_PIP" --trusted-host "${cache_host%%/*}")
  elif [[ -n $DEVBOX_PACKAGE_CACHE_PIP ]]; then
    pip_source=(--index-url "$DEVBOX_PACKAGE_CACHE_PIP")
  else
    pip_source=()
  fi
  "$target/bin/pip" install --quiet --disable-pip-version-check "${pip_source[@]}" \
      -r "$worker_requirements" -r "$app_requirements" \
    || { rm -rf "$target"; die "pip could not install $DEVBOX_APP_REQUIREMENTS with the $DEVBOX_WORKER worker's packages (above)${pip_source:+; the wheels come from $DEVBOX_WHEELHOUSE: run fab provision or ./setup.sh on the host to fetch them}"; }
  site=$("$target/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$pylib" > "$site/devbox.pth"
  touch "$target/.complete"
fi
# Flask-SocketIO picks eventlet, then gevent, whichever is installed: another
# worker class's library in the app's requirements breaks its WebSockets.
others=$("$target/bin/python" -c 'import importlib.util as u, sys
print(*[m for m in ("eventlet", "gevent") if m != sys.argv[1] and u.find_spec(m)])' "$DEVBOX_WORKER")
[[ -z $others ]] || echo "devbox: warning: $DEVBOX_APP_REQUIREMENTS installs $others, which Flask-SocketIO prefers" \
  "over the $DEVBOX_WORKER worker's library; remove it there, or set worker: $others in devbox.yaml" >&2
# A server's new release is tried first: its app imported by the new venv as
# the app's user, with the app's environment, in the release's app folder, as
# gunicorn's worker will. One that does not load stops the deploy here, with
# the live release serving and nothing of the new one answering.
if [[ $DEVBOX_PRODUCTION == true ]] && ! release_is_live; then
  why=$(systemd-run --quiet --wait --pipe --collect --uid="$user" --gid="$user" \
          --property=EnvironmentFile=-"$secret_file" --property=EnvironmentFile=-"$DEVBOX_PATHS_CONFIG/app.env" \
          --property=WorkingDirectory="$DEVBOX_ROOT/$DEVBOX_APP_FOLDER" --setenv=PYTHONPATH="$DEVBOX_ROOT" \
          "$target/bin/python" -m devbox.appserver.trial "$DEVBOX_APP_WSGI" 2>&1 </dev/null >/dev/null) \
    || die "release ${DEVBOX_ROOT##*/}: the app ($DEVBOX_APP_WSGI) failed to load: ${why##*$'\n'}; fix it, then fab deploy"
fi
# A server's new release goes live here, its venv ready.
release_changed=false
if [[ $DEVBOX_PRODUCTION == true ]] && switch_release; then
  release_changed=true
fi
venv_changed=false
if [[ $(readlink "$venv" 2>/dev/null) != "$target" ]]; then
  [[ -L $venv || ! -e $venv ]] || rm -rf "$venv"   # a plain venv from an older devbox
  ln -sfn "$target" "$venv.next"
  mv -T "$venv.next" "$venv"
  touch "$target"   # most recently used: kept by the pruning below
  venv_changed=true
fi
# Keep the two most recently used others, so switching back is quick.
mapfile -t stale < <(ls -1dt "$venv"-*/ 2>/dev/null | sed 's:/$::' | grep -vxF "$target" | tail -n +3)
((${#stale[@]} == 0)) || rm -rf "${stale[@]}"

unit_changed=${secret_changed:-false}
if render app/app.env.j2; then
  unit_changed=true
fi
if render app/app@.service.j2; then
  systemctl daemon-reload
  unit_changed=true
fi
# server: uwsgi: the ini every instance runs.
if [[ $DEVBOX_SERVER == uwsgi ]] && render app/uwsgi.ini.j2; then
  unit_changed=true
fi
# Instances no longer wanted here (instances went down), and the single unit
# of an older devbox, stop for good.
mapfile -t present < <(systemctl list-units --all --plain --no-legend "$DEVBOX_NAME@*.service" "$DEVBOX_NAME.service" \
  | awk '{print $1}')
for old in "${present[@]}"; do
  [[ " ${units[*]} " == *" $old "* ]] || systemctl disable --now --quiet "$old" 2>/dev/null || true
done
if [[ -f /etc/systemd/system/$DEVBOX_NAME.service ]]; then
  rm -f "/etc/systemd/system/$DEVBOX_NAME.service"
  systemctl daemon-reload
fi
enable_units "${units[@]}"
if ($unit_changed || $venv_changed) && [[ $DEVBOX_PRODUCTION == true ]] && ((${#units[@]} > 1)); then
  # A server's instances one after another, each answering before the next
  # goes: nginx sends the requests of the one restarting to the others.
  for unit in "${units[@]}"; do
    systemctl restart "$unit"
    instance=${unit#*@} instance=${instance%.service}
    for _ in $(seq 120); do
      (cd "$DEVBOX_ROOT" && python3 -m devbox.guest.ask_app "$DEVBOX_SERVER" \
        "unix:$DEVBOX_APP_SOCKET_DIR/$instance.sock" /_devbox/health) > /dev/null 2>&1 && break
      sleep 0.25
    done
  done
elif $unit_changed || $venv_changed; then
  systemctl restart "${units[@]}"
elif $release_changed; then
  # The new release's code, gracefully (reload.sh): no request fails.
  systemctl start "${units[@]}"
  systemctl reload "${units[@]}"
else
  systemctl start "${units[@]}"   # no-op for those running
fi
