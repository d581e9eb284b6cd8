"""gunicorn's workers, made safe and quick to retire on a reload (HUP).

One module per worker class, so each guest venv imports only its own library.
Two faults of gunicorn's async workers show on every reload:

- a retired worker checks for the stop request once a second and keeps
  accepting until then, so it answers with the old code for up to a second
  and `fab reload` cannot say "new code is live" before that. Here: every
  :data:`TICK` seconds.
- a connection accepted just before the stop is handled after the listening
  socket was closed; the handler's ``listener.getsockname()`` then fails
  (EBADF) and the request is dropped: a 502 in nginx. Here the handler gets a
  :class:`ListenerName`, taken once, instead of the socket itself.

Everything else is gunicorn's. The systemd unit names the class through the
``worker`` setting (see devbox.settings.WORKERS).
"""

TICK = 0.05


class ListenerName:
    """The one thing a request handler asks of the listening socket, kept after it closes."""

    def __init__(self, sock):
        self.name = sock.getsockname()

    def getsockname(self):
        return self.name
