"""devbox.appserver.uwsgi_websockets with a socket pair standing for a client's connection."""

import signal
import socket

from devbox.appserver.uwsgi_websockets import WebSockets


class FakeUwsgi:
    def __init__(self, fd):
        self.fd = fd

    def connection_fd(self):
        return self.fd


class FakeGevent:
    def __init__(self):
        self.handlers = {}

    def signal_handler(self, signum, handler):
        self.handlers[signum] = handler


def test_a_retiring_worker_ends_its_websockets_and_only_those():
    server, client = socket.socketpair()
    gevent = FakeGevent()
    websockets = WebSockets(FakeUwsgi(server.fileno()), gevent)
    with websockets.serving({"HTTP_UPGRADE": "WebSocket"}):
        with websockets.serving({}):  # a plain request is none of its business
            assert websockets.open == {server.fileno()}
        gevent.handlers[signal.SIGHUP]()  # uWSGI retires the worker
        client.settimeout(1)
        assert client.recv(1) == b""  # the client sees the connection end
    assert websockets.open == set()
    assert server.fileno() != -1  # still uWSGI's to close
    server.close()
    client.close()
