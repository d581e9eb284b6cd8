"""devbox.appserver.uwsgi_retire: a retiring uWSGI worker lets go of the listening socket."""

import os
import signal
import socket
import sys

from devbox.appserver.uwsgi_retire import under_uwsgi


class Gevent:
    """gevent's signal watchers, as the worker registers them."""

    def __init__(self):
        self.handlers = {}

    def signal_handler(self, signum, handler):
        self.handlers[signum] = handler


def test_a_retiring_worker_drops_its_copy_of_the_socket_and_keeps_the_number(monkeypatch):
    gevent = Gevent()
    monkeypatch.setitem(sys.modules, "gevent", gevent)
    monkeypatch.setitem(sys.modules, "uwsgi", object())
    with socket.create_server(("127.0.0.1", 0)) as listener:
        copy = os.dup(listener.fileno())  # the worker's, as uWSGI's descriptor 3
        try:
            retiring = under_uwsgi(fds=(copy,))
            assert gevent.handlers == {}  # not before the first request: uWSGI's loop, its handler first
            retiring.arm()
            assert os.path.samestat(os.fstat(copy), os.fstat(listener.fileno()))  # until told to retire
            gevent.handlers[signal.SIGHUP]()
            assert os.readlink(f"/proc/self/fd/{copy}") == os.devnull  # the number stays taken
            with socket.create_connection(listener.getsockname(), timeout=5):
                listener.accept()[0].close()  # the socket itself lives on in the others
        finally:
            os.close(copy)


def test_outside_uwsgi_nothing_is_registered(monkeypatch):
    monkeypatch.setitem(sys.modules, "uwsgi", None)  # import uwsgi raises ImportError
    assert under_uwsgi() is None
