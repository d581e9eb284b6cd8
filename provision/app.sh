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

# Reinstall only when the requirements changed (their hash is kept in the venv).
want=$(cat "$DEVBOX_ROOT"/requirements/app.txt "$requirements" | sha256sum | cut -c1-16)
venv_changed=false
if [[ ! -x $venv/bin/python || $(cat "$venv/.requirements" 2>/dev/null) != "$want" ]]; then
  [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
  if [[ -d $wheels ]]; then
    pip_source=(--no-index --find-links "$wheels")   # offline
  else
    pip_source=()
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pip_source[@]}" -r "$requirements" \
    || die "pip could not install $requirements${pip_source:+ from $wheels (run ./setup.sh on the host to fetch them)}"
  echo "$want" > "$venv/.requirements"
  venv_changed=true
fi

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
