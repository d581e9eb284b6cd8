"""gunicorn 25's eventlet worker with devbox's reload fixes (see devbox.appserver.workers)."""

from functools import partial

import eventlet
from eventlet.greenio import GreenSocket
from gunicorn.workers import geventlet

from devbox.appserver.workers import TICK, ListenerName


class EventletWorker(geventlet.EventletWorker):
    def run(self):
        acceptors = []
        for sock in self.sockets:
            gsock = GreenSocket(sock)
            gsock.setblocking(1)
            handle = partial(self.handle, ListenerName(gsock))
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
