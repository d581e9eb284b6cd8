"""Under uWSGI (``server: uwsgi``): a reload does not wait for open WebSockets.

uWSGI's chain reload retires an instance's one worker before it starts the
next, and its gevent loop lets a retiring worker finish every running request
first, WebSockets included, for up to the mercy (5 s). With a page open, every
reload would take that long, every request waiting. gunicorn starts the new
worker beside the old one instead. So when the worker is told to retire
(SIGHUP), its WebSocket connections are shut down at once: their clients
reconnect to the new worker (Socket.IO's do by themselves), while plain
requests keep the mercy to finish.

And where the app serves Socket.IO through python-engineio's uWSGI driver
(Flask-SocketIO's ``gevent_uwsgi`` mode), a WebSocket the server ends is
really closed: the driver's ``close()`` stops watching the connection but
leaves it open, so a client told to go (its Engine.IO close, a missed
heartbeat) stayed connected until it hung up itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import socket


class WebSockets:
    """The connections of the WebSocket requests this worker is serving."""

    def __init__(self, uwsgi, gevent):
        self.uwsgi = uwsgi
        self.open: set[int] = set()
        gevent.signal_handler(signal.SIGHUP, self.shut_down)  # beside uWSGI's own handler, which retires the worker

    @contextlib.contextmanager
    def serving(self, environ):
        """Around the app's call: a WebSocket request's connection is known while it runs."""
        if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            yield
            return
        fd = self.uwsgi.connection_fd()
        self.open.add(fd)
        try:
            yield
        finally:
            self.open.discard(fd)

    def shut_down(self) -> None:
        """End every WebSocket connection: the app's handler sees the peer gone and returns."""
        for fd in list(self.open):
            shut_down(fd)


def shut_down(fd: int) -> None:
    """End a connection uWSGI holds; its file descriptor stays uWSGI's to close."""
    conn = socket.socket(fileno=fd)
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already gone
    finally:
        conn.detach()


def close_engineio_websockets() -> None:
    """python-engineio's uWSGI driver, if the app has it: ``close()`` ends the connection too."""
    if importlib.util.find_spec("engineio") is None:
        return
    from engineio.async_drivers import gevent_uwsgi
    driver = gevent_uwsgi.uWSGIWebSocket
    if getattr(driver.close, "devbox", False):
        return
    original = driver.close

    def close(self):
        if self._sock is not None:
            shut_down(self._sock)  # the reader's wait() then sees the peer gone
        original(self)

    close.devbox = True
    driver.close = close


def under_uwsgi() -> WebSockets | None:
    """The tracker when this process is a uWSGI worker on gevent's loop, else None."""
    try:
        import gevent
        import uwsgi
    except ImportError:
        return None
    close_engineio_websockets()
    return WebSockets(uwsgi, gevent)
