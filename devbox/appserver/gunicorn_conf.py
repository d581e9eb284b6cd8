"""gunicorn's server hooks for devbox: the master keeps the app's libraries imported.

A reload forks a new worker from the master, and the worker then imports the
app. Most of that import is third-party libraries (Flask, Flask-SocketIO,
Redis...), which do not change between saves. The worker records which
modules outside the app folder the app imported (devbox.appserver.wsgi), and
the master imports them when it starts and on every reload, before it forks:
a new worker then imports only the app's own modules.

Only for worker classes whose workers see the stdlib the way the master does:
gunicorn's eventlet worker monkey-patches in the master already (when it
loads the worker class, before these hooks run), and gthread patches nothing.
gevent patches only in each worker, after the fork; libraries imported
unpatched in the master would keep blocking calls, so gevent gets no preload.

With several instances (``instances``) all write the same log files: each line
says which instance wrote it.
"""

import importlib
import os
import sys
from pathlib import Path

from gunicorn import glogging
from gunicorn.config import AccessLogFormat

# Where workers record what to preload; set by the app unit (a cache folder
# systemd gives the app's user), or unset: no preloading.
RECORD = os.environ.get("DEVBOX_PRELOAD_RECORD")


# Set by the app unit: this gunicorn's instance number.
INSTANCE = os.environ.get("DEVBOX_INSTANCE")
TAG = f"[app {INSTANCE}] " if INSTANCE else ""
access_log_format = TAG + AccessLogFormat.default


class Logger(glogging.Logger):
    error_fmt = TAG + glogging.Logger.error_fmt


logger_class = Logger


def preload(server) -> None:
    if not RECORD:
        return
    try:
        names = Path(RECORD).read_text().split()
    except OSError:
        return  # nothing recorded yet: the first worker imports everything
    missing = [name for name in names if name not in sys.modules]
    failed = []
    for name in missing:
        try:
            importlib.import_module(name)
        except Exception:  # a module that imports only in some context; the worker will import it then
            failed.append(name)
    if missing:
        server.log.info("devbox: preloaded %d modules for the next workers%s", len(missing) - len(failed),
                        f"; not importable here: {', '.join(failed[:5])}" if failed else "")


def when_ready(server):
    preload(server)


def on_reload(server):
    preload(server)
