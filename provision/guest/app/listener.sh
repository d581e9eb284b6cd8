#!/usr/bin/env bash
# Prints the inode of the socket an app instance listens on at BIND (unix:/path or
# 127.0.0.1:PORT, as the app unit binds it), or nothing when none listens.
# Usage: listener.sh BIND
set -euo pipefail

bind=${1:?usage: listener.sh BIND}
if [[ $bind == unix:* ]]; then
  # /proc/net/unix: flags 00010000 mark a listening socket; the path is last.
  awk -v path="${bind#unix:}" '$NF == path && $4 == "00010000" {print $7; exit}' /proc/net/unix
else
  # /proc/net/tcp: 0A is LISTEN; the port is in hex.
  awk -v port="$(printf ':%04X' "${bind##*:}")" '$2 ~ port"$" && $4 == "0A" {print $10; exit}' /proc/net/tcp
fi
