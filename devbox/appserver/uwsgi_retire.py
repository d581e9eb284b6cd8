"""Under uWSGI (``server: uwsgi``): a retiring worker lets go of the listening socket.

On a reload a new vassal starts beside the old one on the instance's socket,
and the old one is then told to retire (SIGHUP, from its master:
provision/guest/app/uwsgi-vassals.sh). uWSGI's gevent loop stops accepting at
once and lets the worker's open requests, WebSockets included, go on for up to
the mercy, as gunicorn's retired worker does. But the worker keeps its copy of
the socket, so nothing outside could tell that it no longer accepts, and the
reload could not return only once old code takes no request. So once uWSGI's
handler has stopped accepting, devbox points the worker's copy at /dev/null:
the socket is gone from the worker, and the descriptor stays taken, so no
connection can be given the number uWSGI still counts as its socket.
"""

from __future__ import annotations

import functools
import os
import signal

# The instance's socket, as each vassal takes it from the emperor (provision/guest/app/uwsgi-vassal.sh).
LISTENER = 3


def let_go(fds) -> None:
    """Drop this process's copies of the listening sockets ``fds``."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class Retiring:
    """Arms the SIGHUP watcher on the worker's first request, once uWSGI's
    gevent loop runs. uWSGI's own graceful handler must be the first watcher
    of SIGHUP (it stops accepting): one registered earlier, say while the app's
    import yielded to gevent's hub, would leave uWSGI's immediate exit in place,
    which ends every open request. Without a request there is nothing to
    finish: the worker then simply exits, and the socket goes with it."""

    def __init__(self, gevent, fds):
        self.gevent, self.fds = gevent, fds

    def arm(self) -> None:
        self.gevent.signal_handler(signal.SIGHUP, functools.partial(let_go, self.fds))


def under_uwsgi(fds=(LISTENER,)) -> Retiring | None:
    """In a uWSGI worker on gevent's loop, what lets go of the socket when it
    is told to retire (arm it on the first request); else None."""
    try:
        import gevent
        import uwsgi  # noqa: F401  (only there in uWSGI's processes)
    except ImportError:
        return None
    return Retiring(gevent, fds)
