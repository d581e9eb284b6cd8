#!/bin/sh
# How the emperor of an app instance (server: uwsgi) starts each vassal
# (--emperor-wrapper, in app@.service.j2): the instance's socket, which the
# emperor holds as descriptor 3, goes to uWSGI by systemd's socket activation
# protocol. (uWSGI 2.0.21, Debian's, takes no fd:// socket.)
export LISTEN_PID=$$ LISTEN_FDS=1
exec /usr/bin/uwsgi "$@"
