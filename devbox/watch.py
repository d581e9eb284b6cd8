"""What `fab watch` does with a saved file, and when.

Shared folders carry no change events into the guest, so the host watches its
own tree (watchdog: inotify on Linux, FSEvents on macOS) and decides:

- ``reload``: Python code or the nginx template changed; the app must restart.
- ``page``: a template or a static file changed; open pages reload themselves.
- ``css``: only stylesheets changed; open pages swap them without a reload.

Editors save in bursts (temp file, rename, chmod, a backup), so events are
debounced: one action per burst, the strongest one it calls for.
"""

from __future__ import annotations

import threading
import time
from pathlib import PurePosixPath
from typing import Callable, Iterable

RELOAD, PAGE, CSS = "reload", "page", "css"
STRENGTH = {CSS: 1, PAGE: 2, RELOAD: 3}

# Never a reason to act: tooling folders and editors' scratch files.
IGNORED_DIRS = {".git", ".venv", ".vagrant", ".cache", "__pycache__", ".pytest_cache", "node_modules", "tests"}
IGNORED_SUFFIXES = (".swp", ".swx", ".swo", "~", ".tmp", ".pyc", ".map")
IGNORED_NAMES = {"4913"}  # vim's probe that the folder is writable


def classify(relative: str) -> str | None:
    """The action a change to ``relative`` (a path inside the repository) calls for, or None."""
    path = PurePosixPath(relative)
    if IGNORED_DIRS.intersection(path.parts) or path.name in IGNORED_NAMES:
        return None
    if path.name.startswith((".#", "#")) or path.name.endswith(IGNORED_SUFFIXES):
        return None
    parts = path.parts
    if parts[:1] == ("app",):
        if parts[1:2] == ("static",):
            return CSS if path.suffix == ".css" else PAGE
        if parts[1:2] == ("templates",):
            return PAGE
        if path.suffix in (".py", ".sql"):
            return RELOAD
        return None
    if relative == "provision/templates/nginx-site.conf.j2":
        return RELOAD
    return None


def strongest(actions: Iterable[str]) -> str | None:
    """The one action that covers all of ``actions`` (a reload refreshes pages too)."""
    return max(actions, key=STRENGTH.__getitem__, default=None)


class Debouncer:
    """Collects changes and hands them on once no new one came for ``quiet`` seconds.

    ``fire(action, paths)`` runs on the debouncer's own thread, one burst at a
    time; changes that arrive while it runs make the next burst.
    """

    def __init__(self, fire: Callable[[str, list[str]], None], quiet: float = 0.2,
                 clock: Callable[[], float] = time.monotonic):
        self.fire = fire
        self.quiet = quiet
        self.clock = clock
        self.pending: dict[str, str] = {}
        self.last_change = 0.0
        self.lock = threading.Lock()

    def add(self, relative: str) -> None:
        action = classify(relative)
        if action is None:
            return
        with self.lock:
            self.pending[relative] = action
            self.last_change = self.clock()

    def due(self) -> tuple[str, list[str]] | None:
        """The burst to act on now, if the tree has been quiet long enough; it is cleared."""
        with self.lock:
            if not self.pending or self.clock() - self.last_change < self.quiet:
                return None
            burst, self.pending = self.pending, {}
        return strongest(burst.values()), sorted(burst)

    def run(self, stop: threading.Event, tick: float = 0.02) -> None:
        """Fire each burst as it becomes due, until ``stop`` is set."""
        while not stop.wait(tick):
            burst = self.due()
            if burst:
                self.fire(*burst)
