"""Under uWSGI (``server: uwsgi``): a reload does not wait for open WebSockets.

uWSGI's chain reload retires an instance's one worker before it starts the
next, and its gevent loop lets a retiring worker finish every running request
first, WebSockets included, for up to the mercy (5 s). With a page open, every
reload would take that long, every request waiting. gunicorn starts the new
worker beside the old one instead. So when the worker is told to retire
(SIGHUP), its WebSocket connections are shut down at once: their clients
reconnect to the new worker (Socket.IO's do by themselves), while plain
requests keep the mercy to finish.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket


class WebSockets:
    """The connections of the WebSocket requests this worker is serving."""

    def __init__(self, uwsgi, gevent):
        self.uwsgi = uwsgi
        self.open: dict[int, int] = {}  # file descriptor -> its inode, which a reused descriptor would not have
        # Once gevent's loop runs: uWSGI's own graceful handler must be the
        # first watcher of SIGHUP, or libev leaves uWSGI's immediate exit in place.
        gevent.get_hub().loop.run_callback(gevent.signal_handler, signal.SIGHUP, self.shut_down)

    @contextlib.contextmanager
    def serving(self, environ):
        """Around the app's call: a WebSocket request's connection is known while it runs."""
        if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            yield
            return
        fd = self.uwsgi.connection_fd()
        self.open[fd] = os.fstat(fd).st_ino
        try:
            yield
        finally:
            self.open.pop(fd, None)

    def shut_down(self) -> None:
        """End every WebSocket connection: the app's handler sees the peer gone and returns."""
        for fd, inode in list(self.open.items()):
            try:
                if os.fstat(fd).st_ino != inode:
                    continue  # closed by uWSGI and reused meanwhile: another connection
                conn = socket.socket(fileno=fd)
            except OSError:
                continue  # already gone
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                conn.detach()  # the descriptor stays uWSGI's to close


def under_uwsgi() -> WebSockets | None:
    """The tracker when this process is a uWSGI worker on gevent's loop, else None."""
    try:
        import gevent
        import uwsgi
    except ImportError:
        return None
    return WebSockets(uwsgi, gevent)
