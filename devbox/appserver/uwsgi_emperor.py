"""Start an app instance under uWSGI (``server: uwsgi``): its socket, then its emperor.

The instance's listening socket is made here, once, and handed to the emperor
as descriptor 3; every vassal the emperor starts takes it from there
(provision/guest/app/uwsgi-vassal.sh). So a new vassal accepts on the very
socket the retiring one did, and requests wait in its queue while neither
accepts: none is refused across a reload (provision/guest/app/uwsgi-vassals.sh).

Usage: python -m devbox.appserver.uwsgi_emperor BIND BACKLOG -- COMMAND...
BIND is the app unit's: unix:/path (made 0666, in a folder only nginx's group
may enter) or HOST:PORT. COMMAND runs in this process, as the unit's main one,
with DEVBOX_EMPEROR_PID set to it for the vassals' hooks.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys

FD = 3


def listen(bind: str, backlog: int) -> socket.socket:
    """A listening socket at ``bind``, replacing a stale one at its path."""
    if bind.startswith("unix:"):
        path = bind[len("unix:"):]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        os.chmod(path, 0o666)  # the folder keeps out all but nginx's group
        sock.listen(backlog)
        return sock
    host, _, port = bind.rpartition(":")
    return socket.create_server((host.strip("[]"), int(port)), backlog=backlog,
                                family=socket.AF_INET6 if ":" in host else socket.AF_INET)


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--" or not argv[1].isdigit():
        sys.exit("usage: python -m devbox.appserver.uwsgi_emperor BIND BACKLOG -- COMMAND...")
    try:
        sock = listen(argv[0], int(argv[1]))
    except OSError as exc:
        sys.exit(f"devbox: cannot listen on {argv[0]}: {os.strerror(exc.errno) if exc.errno else exc}; is another app server still running there?")
    if sock.fileno() != FD:
        os.dup2(sock.fileno(), FD)
    os.set_inheritable(FD, True)
    os.environ["DEVBOX_EMPEROR_PID"] = str(os.getpid())
    os.execv(argv[3], argv[3:])


if __name__ == "__main__":
    main(sys.argv[1:])
