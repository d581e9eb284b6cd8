# Shared helpers for the provisioning scripts (sourced, not run).

die() { echo "devbox: $*" >&2; exit 1; }

# step NAME SCRIPT: run one service's script; a failure names the step.
step() {
  local name=$1 script=$2 started=$SECONDS
  local again="vagrant provision"
  [[ ${DEVBOX_PROFILE:-} != production ]] || again="fab deploy"
  bash "$script" || die "provisioning step '$name' failed (see above); fix it and run $again"
  echo "devbox: $name ok ($((SECONDS - started))s)"
}

# base_folders: the app's user and devbox's folders outside the synced one,
# which the steps of every role write into (a front made with nodes from the
# start runs no app step).
base_folders() {
  id -u "$DEVBOX_NAME" >/dev/null 2>&1 \
    || useradd --system --home-dir "$DEVBOX_PATHS_DATA" --shell /usr/sbin/nologin "$DEVBOX_NAME"
  install -d -o "$DEVBOX_NAME" -g "$DEVBOX_NAME" -m 750 "$DEVBOX_PATHS_DATA"
  # The app's alone: nginx's logs are in a folder of root's (nginx/nginx.sh).
  install -d -o "$DEVBOX_NAME" -g "$DEVBOX_NAME" -m 750 "$DEVBOX_PATHS_LOGS"
  install -d -o root -g "$DEVBOX_NAME" -m 750 "$DEVBOX_PATHS_CONFIG"
}

# enable_units UNIT...: enable at boot those that are not yet. (systemctl enable of
# a service with a SysV script, as nginx's and Redis's, takes half a second
# even when there is nothing to do.)
enable_units() {
  local unit
  for unit in "$@"; do
    systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl enable --quiet "$unit"
  done
}

# check_secret NAME VALUE: a secret the host handed over (the Vagrantfile's for
# app guests, the front's on a deploy) is 64 hex digits, or nothing goes on.
check_secret() {
  [[ $2 =~ ^[0-9a-f]{64}$ ]] && return 0
  [[ $DEVBOX_PRODUCTION == true ]] \
    && die "$1 is not 64 hex digits; delete $DEVBOX_SERVER_ROOT/secrets.json on the server ($DEVBOX_FRONT_ADDRESS) and run fab deploy"
  die "$1 from the Vagrantfile is not 64 hex digits; delete .vagrant/devbox-secrets.json and run vagrant provision"
}

# release_is_live: a server's release (DEVBOX_ROOT) is the one `current` leads to.
release_is_live() { [[ $(readlink "$DEVBOX_PATHS_SYNCED" 2>/dev/null) == "$DEVBOX_ROOT" ]]; }

# switch_release: a server's release (DEVBOX_ROOT) goes live, in one atomic
# rename of the `current` link that the units, nginx and the venv's path all go
# through. Returns 1 when it was live already.
switch_release() {
  ! release_is_live || return 1
  ln -sfn "$DEVBOX_ROOT" "$DEVBOX_PATHS_SYNCED.next"
  mv -T "$DEVBOX_PATHS_SYNCED.next" "$DEVBOX_PATHS_SYNCED"
}

# install_file SRC DEST [MODE]: replace DEST only when SRC differs.
# Returns 0 when DEST changed, 1 when it was already up to date, and stops
# provisioning when DEST cannot be written: callers test the result in an
# `if`, where set -e would not.
install_file() {
  local src=$1 dest=$2 mode=${3:-644}
  if [[ -f $dest ]] && cmp -s "$src" "$dest"; then
    return 1
  fi
  install -D -m "$mode" "$src" "$dest" || die "could not write $dest"
}

# rendered_path TEMPLATE: the file TEMPLATE becomes (the settings' `rendered`).
rendered_path() {
  local pair
  for pair in $DEVBOX_RENDERED; do
    if [[ ${pair%%=*} == "$1" ]]; then
      echo "${pair#*=}"
      return 0
    fi
  done
  return 1
}

# render TEMPLATE: render provision/guest/TEMPLATE (e.g. nginx/site.conf.j2)
# with the settings into its file, on the guest's system Python: never the
# app's venv. Returns 0 when the file changed.
render() {
  local tmp dest
  dest=$(rendered_path "$1") || die "no file for the template $1 in the settings' rendered"
  tmp=$(mktemp)
  (cd "$DEVBOX_ROOT" && python3 -m devbox.guest.render "$1") > "$tmp" \
    || { rm -f "$tmp"; die "rendering $1 failed"; }
  local changed=1
  if install_file "$tmp" "$dest"; then changed=0; fi
  rm -f "$tmp"
  return $changed
}
