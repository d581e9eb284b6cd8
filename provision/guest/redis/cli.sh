#!/usr/bin/env bash
# redis-cli on the guest that runs Redis, with its password when it has one
# (nodes), as root: `bash cli.sh ping`.
set -euo pipefail
REDISCLI_AUTH=$(awk '$1 == "requirepass" {print $2}' /etc/redis/devbox.conf 2>/dev/null || true)
export REDISCLI_AUTH
exec redis-cli "$@"
