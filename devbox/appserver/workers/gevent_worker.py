"""gunicorn's gevent worker with devbox's reload fixes (see devbox.appserver.workers).

engineio's gevent driver serves WebSockets through simple-websocket here
(gevent-websocket is not installed), on gunicorn's own socket.
"""

import time
from functools import partial

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn.workers import ggevent

from devbox.appserver.workers import TICK, ListenerName


class GeventWorker(ggevent.GeventWorker):
    def run(self):
        servers = []
        for sock in self.sockets:
            sock.setblocking(1)
            server = StreamServer(sock, handle=partial(self.handle, ListenerName(sock)),
                                  spawn=Pool(self.worker_connections))
            server.start()
            servers.append(server)

        while self.alive:
            self.notify()
            gevent.sleep(TICK)

        for server in servers:
            server.close()  # stops accepting and closes this worker's listening socket
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while time.monotonic() < deadline:
            if all(server.pool.free_count() == server.pool.size for server in servers):
                return
            self.notify()
            gevent.sleep(TICK)
        self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
        for server in servers:
            server.stop(timeout=1)
