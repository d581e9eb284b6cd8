#!/usr/bin/env bash
# A server's new release (fab deploy uploaded it to releases/ID, root's and
# read-only for the app): the folders the app writes (app.writable) are the
# server's, in shared/, kept from release to release. The switch to it comes
# later, once its venv is built (app/app.sh).
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

[[ $DEVBOX_ROOT == "$DEVBOX_RELEASES"/* ]] || die "$DEVBOX_ROOT is not a release in $DEVBOX_RELEASES; run fab deploy"
install -d -o root -g root -m 755 "$DEVBOX_SERVER_ROOT" "$DEVBOX_RELEASES"
install -d -o root -g "$DEVBOX_NAME" -m 750 "$DEVBOX_SHARED"
read -ra writable <<< "$DEVBOX_APP_WRITABLE"
for folder in "${writable[@]}"; do
  install -d -o "$DEVBOX_NAME" -g "$DEVBOX_NAME" -m 750 "$DEVBOX_SHARED/$folder"
  rm -rf "${DEVBOX_ROOT:?}/$folder"
  mkdir -p "$(dirname "$DEVBOX_ROOT/$folder")"
  ln -sfn "$DEVBOX_SHARED/$folder" "$DEVBOX_ROOT/$folder"
done
# The settings are root's alone (app.env may hold what the app is told), and
# the app's dotfiles (.env) its user's: not every local user's to read.
chmod 600 "$DEVBOX_ROOT/devbox.yaml" "$DEVBOX_ROOT/deploy.yaml"
find "$DEVBOX_ROOT/$DEVBOX_APP_FOLDER" -name '.*' -type f -exec chgrp "$DEVBOX_NAME" {} + -exec chmod 640 {} +
