#!/usr/bin/env bash
# A front server's new release goes live (fab deploy, once its app servers run
# it): nginx serves the static files through the `current` link, and reads
# them at each request, so nothing needs a reload.
set -euo pipefail
source "$DEVBOX_ROOT/provision/guest/lib.sh"

[[ $DEVBOX_PRODUCTION == true ]] || die "switch is a server's step; fab deploy runs it"
switch_release || true
