#!/usr/bin/env bash
# The app: a system user, a virtualenv outside the synced folder, a secret key
# made once in the guest, and gunicorn under systemd.
set -euo pipefail
source "$DEVBOX_ROOT/provision/lib.sh"

user=$DEVBOX_NAME
venv=$DEVBOX_PATHS_VENV
requirements="$DEVBOX_ROOT/requirements/worker-$DEVBOX_WORKER.txt"
wheels="$DEVBOX_ROOT/$DEVBOX_WHEELHOUSE/$DEVBOX_WORKER"  # filled by ./setup.sh
unit="/etc/systemd/system/$DEVBOX_NAME.service"

id -u "$user" >/dev/null 2>&1 || useradd --system --home-dir "$DEVBOX_PATHS_DATA" --shell /usr/sbin/nologin "$user"
install -d -o "$user" -g "$user" -m 750 "$DEVBOX_PATHS_DATA"
install -d -o "$user" -g adm -m 2750 "$DEVBOX_PATHS_LOGS"
install -d -o root -g "$user" -m 750 "$DEVBOX_PATHS_CONFIG"

# The secret never comes from the repository; it is made here, once.
secret_file="$DEVBOX_PATHS_CONFIG/secret.env"
if [[ ! -s $secret_file ]]; then
  (umask 027; echo "DEVBOX_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')" > "$secret_file")
  chgrp "$user" "$secret_file"
fi

# One venv per worker and requirements set, built beside the running one and
# switched to by a symlink: a failed install leaves the app as it was, and no
# package of another worker class lingers in the new one.
want=$(cat "$DEVBOX_ROOT"/requirements/{app,guest}.txt "$requirements" | sha256sum | cut -c1-12)
target="$venv-$DEVBOX_WORKER-$want"
if [[ ! -e $target/.complete ]]; then
  rm -rf "$target"
  python3 -m venv "$target"
  if [[ -d $wheels ]]; then
    pip_source=(--no-index --find-links "$wheels")   # offline
  else
    pip_source=()
  fi
  "$target/bin/pip" install --quiet --disable-pip-version-check "${pip_source[@]}" -r "$requirements" \
    || { rm -rf "$target"; die "pip could not install $requirements${pip_source:+ from $wheels (run ./setup.sh on the host to fetch them)}"; }
  touch "$target/.complete"
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

unit_changed=false
if render app.env.j2 "$DEVBOX_PATHS_CONFIG/app.env"; then
  unit_changed=true
fi
if render app.service.j2 "$unit"; then
  systemctl daemon-reload
  unit_changed=true
fi
systemctl enable --quiet "$DEVBOX_NAME.service"
if $unit_changed || $venv_changed; then
  systemctl restart "$DEVBOX_NAME.service"
else
  systemctl start "$DEVBOX_NAME.service"   # no-op when running
fi
