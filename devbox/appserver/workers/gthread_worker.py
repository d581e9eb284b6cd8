"""gunicorn's threaded worker, closing its listening socket as soon as it is retired.

gunicorn's gthread worker already wakes at once on a stop and names the
listener once, but it keeps the listening socket open until its last
connection ends, which with WebSocket clients is the whole graceful timeout.
The reload waits for retired workers to let go of that socket (see
provision/guest/app/reload.sh), so here they do so straight away.
"""

from gunicorn.workers import gthread


class ThreadWorker(gthread.ThreadWorker):
    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            for sock in self.sockets:
                sock.close()
