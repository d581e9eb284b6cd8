"""gunicorn's eventlet worker, made safe and quick to retire on a reload.

Two things in gunicorn 25's EventletWorker show on every reload (HUP):

- it checks for a stop request once a second and keeps accepting until then,
  so the retired worker answers with the old code for up to a second and
  `fab reload` cannot say "new code is live" before that. Here: every 50 ms.
- a connection accepted just before the stop is handled after the listening
  socket was closed; the handler's ``listener.getsockname()`` then fails
  (EBADF) and the request is dropped: a 502 in nginx. Here the handler gets
  the listener's name, taken once, instead of the socket itself.

Everything else is gunicorn's. Used from the guest's systemd unit as
``--worker-class devbox.gunicorn_worker.EventletWorker``.
"""

from functools import partial

import eventlet
from eventlet.greenio import GreenSocket
from gunicorn.workers import geventlet

TICK = 0.05


class _ListenerName:
    """The one thing a request handler asks of the listening socket, kept after it closes."""

    def __init__(self, sock):
        self.name = sock.getsockname()

    def getsockname(self):
        return self.name


class EventletWorker(geventlet.EventletWorker):
    def run(self):
        acceptors = []
        for sock in self.sockets:
            gsock = GreenSocket(sock)
            gsock.setblocking(1)
            handle = partial(self.handle, _ListenerName(gsock))
            acceptors.append(eventlet.spawn(geventlet._eventlet_serve, gsock, handle, self.worker_connections))
            eventlet.sleep(0.0)

        while self.alive:
            self.notify()
            eventlet.sleep(TICK)

        self.notify()
        t = None
        try:
            with eventlet.Timeout(self.cfg.graceful_timeout) as t:
                for a in acceptors:
                    a.kill(eventlet.StopServe())
                for a in acceptors:
                    a.wait()
        except eventlet.Timeout as te:
            if te != t:
                raise
            for a in acceptors:
                a.kill()
