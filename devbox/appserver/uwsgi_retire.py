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


def let_go(fds=(LISTENER,)) -> None:
    """Drop this process's copies of the listening sockets ``fds``."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def under_uwsgi(fds=(LISTENER,)) -> bool:
    """In a uWSGI worker on gevent's loop, let go of the socket when told to
    retire; whether this process is one."""
    try:
        import gevent
        import uwsgi  # noqa: F401  (only there in uWSGI's processes)
    except ImportError:
        return False
    # Once gevent's loop runs: uWSGI's own graceful handler must be the first
    # watcher of SIGHUP (it stops accepting), or libev leaves uWSGI's
    # immediate exit in place.
    gevent.get_hub().loop.run_callback(gevent.signal_handler, signal.SIGHUP, functools.partial(let_go, fds))
    return True
