"""devbox.appserver.uwsgi_websockets with a socket pair standing for a client's connection."""

import os
import signal
import socket

from devbox.appserver.uwsgi_websockets import WebSockets


class FakeUwsgi:
    def __init__(self, fd):
        self.fd = fd

    def connection_fd(self):
        return self.fd


class FakeGevent:
    """gevent's hub runs the callbacks at once, as its loop does once it runs."""

    def __init__(self):
        self.handlers = {}

    def get_hub(self):
        return self

    @property
    def loop(self):
        return self

    def run_callback(self, function, *args):
        function(*args)

    def signal_handler(self, signum, handler):
        self.handlers[signum] = handler


def test_a_retiring_worker_ends_its_websockets_and_only_those():
    server, client = socket.socketpair()
    gevent = FakeGevent()
    websockets = WebSockets(FakeUwsgi(server.fileno()), gevent)
    with websockets.serving({"HTTP_UPGRADE": "WebSocket"}):
        with websockets.serving({}):  # a plain request is none of its business
            assert list(websockets.open) == [server.fileno()]
        gevent.handlers[signal.SIGHUP]()  # uWSGI retires the worker
        client.settimeout(1)
        assert client.recv(1) == b""  # the client sees the connection end
    assert websockets.open == {}
    os.fstat(server.fileno())  # still open: uWSGI's to close
    server.close()
    client.close()


def test_a_descriptor_reused_by_another_connection_is_left_alone():
    server, client = socket.socketpair()
    gevent = FakeGevent()
    websockets = WebSockets(FakeUwsgi(server.fileno()), gevent)
    with websockets.serving({"HTTP_UPGRADE": "websocket"}):
        websockets.open[server.fileno()] += 1  # as if closed and given to a new connection
        gevent.handlers[signal.SIGHUP]()
        server.send(b"x")
        assert client.recv(1) == b"x"  # that one carries on
    server.close()
    client.close()
