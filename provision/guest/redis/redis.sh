#!/usr/bin/env bash
# Redis, the message queue devbox offers every app as REDIS_URL: during a
# graceful reload the old and the new worker both serve clients, and a
# Flask-SocketIO broadcast reaches both only through a queue.
# Debian's default config listens on loopback only, which is what we want.
set -euo pipefail

systemctl enable --quiet redis-server
systemctl start redis-server
redis-cli ping >/dev/null || { echo "redis-server does not answer on 127.0.0.1:6379" >&2; exit 1; }
