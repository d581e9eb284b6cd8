"""What `fab watch` does with a saved file, and when.

Shared folders carry no change events into the guest, so the host watches its
own tree (watchdog: inotify on Linux, FSEvents on macOS) and decides, from the
settings alone, for any app:

- ``reload``: the app's code changed (devbox.appcode: Python, templates, any
  file of the app folder but its static folder); the app reloads, then open
  pages refresh.
- ``template``: only templates that the running app re-reads by itself
  changed (a Flask app in development: its health names the folders); open
  pages refresh, with no reload.
- ``nginx``: nginx's template changed; it is re-rendered, then pages refresh.
- ``page``: a static file changed; open pages reload themselves.
- ``css``: only stylesheets changed; open pages swap them without a reload.
- ``provision``: devbox.yaml or one of the app's requirement files changed; that takes
  `fab provision`, which watch says rather than does.

Editors save in bursts (temp file, rename, chmod, a backup), so events are
debounced: one round of actions per burst.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import PurePosixPath
from typing import Callable

from devbox import appcode
from devbox.host import guest as devbox_guest
from devbox.host import reload as devbox_reload
from devbox.settings import base_url

RELOAD, TEMPLATE, NGINX, PAGE, CSS, PROVISION = "reload", "template", "nginx", "page", "css", "provision"
NGINX_TEMPLATE = "provision/guest/nginx/site.conf.j2"
# Editors write a file in a few milliseconds (temp file, rename, chmod); a
# longer quiet spell only adds to every edit's latency. A burst cut in two
# costs a second reload, never a wrong one.
QUIET = 0.025


def classify(relative: str, settings: dict) -> str | None:
    """The action a change to ``relative`` (a path inside the repository) calls for, or None."""
    path = PurePosixPath(relative)
    app = settings["app"]
    if relative == NGINX_TEMPLATE:
        return NGINX
    if relative == "devbox.yaml" or relative in app["requirement_files"]:
        return PROVISION
    static, folder = PurePosixPath(app["static"]["folder"]), PurePosixPath(app["folder"])
    if path.is_relative_to(static):
        if not appcode.is_code(path.relative_to(static)):
            return None
        return CSS if path.suffix == ".css" else PAGE
    if path.is_relative_to(folder) and appcode.is_code(path.relative_to(folder)):
        return RELOAD
    return None


def takes_reload(paths: list[str], settings: dict, templates: list[str]) -> bool:
    """Whether saving ``paths`` takes a reload: code of the app other than the
    templates it re-reads by itself (``templates``: devbox.host.reload.live_templates)."""
    return any(classify(path, settings) == RELOAD
               and not any(PurePosixPath(path).is_relative_to(folder) for folder in templates) for path in paths)


def watched_folders(settings: dict) -> list[tuple[str, bool]]:
    """(folder relative to the repository, recursive) for the observer: only where something can matter."""
    return [(settings["app"]["folder"], True), (str(PurePosixPath(NGINX_TEMPLATE).parent), False), (".", False)]


def refresh_action(actions: set[str]) -> str | None:
    """What open pages do after a burst: swap stylesheets when only those changed, reload otherwise."""
    if actions <= {CSS}:
        return CSS if actions else None
    return PAGE if actions & {RELOAD, TEMPLATE, NGINX, PAGE} else None


class Debouncer:
    """Collects changes and hands them on once no new one came for ``quiet`` seconds.

    ``fire(actions, paths)`` runs on the debouncer's own thread, one burst at a
    time; changes that arrive while it runs make the next burst.
    """

    def __init__(self, fire: Callable[[set[str], list[str]], None], settings: dict, quiet: float = QUIET,
                 clock: Callable[[], float] = time.monotonic):
        self.fire = fire
        self.settings = settings
        self.quiet = quiet
        self.clock = clock
        self.pending: dict[str, str] = {}
        self.last_change = 0.0
        self.lock = threading.Lock()

    def add(self, relative: str) -> None:
        action = classify(relative, self.settings)
        if action is None:
            return
        with self.lock:
            self.pending[relative] = action
            self.last_change = self.clock()

    def due(self) -> tuple[set[str], list[str]] | None:
        """The burst to act on now, if the tree has been quiet long enough; it is cleared."""
        with self.lock:
            if not self.pending or self.clock() - self.last_change < self.quiet:
                return None
            burst, self.pending = self.pending, {}
        return set(burst.values()), sorted(burst)

    def run(self, stop: threading.Event, tick: float = 0.01) -> None:
        """Fire each burst as it becomes due, until ``stop`` is set."""
        while not stop.wait(tick):
            burst = self.due()
            if burst:
                self.fire(*burst)


class Session:
    """One `fab watch`: acts on each burst against the running guest and says what it did."""

    def __init__(self, settings: dict, guests, out=sys.stdout, err=sys.stderr):
        self.settings, self.guests, self.out, self.err = settings, guests, out, err
        # Without dev_mode no page listens for a refresh: saves only reload.
        self.token = devbox_reload.refresh_token(settings, guests.front) if settings["dev_mode"] else None
        self.templates = devbox_reload.live_templates(settings, devbox_guest.health_or_none(base_url(settings)))

    def fire(self, actions: set[str], paths: list[str]) -> None:
        started = time.monotonic()
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        if PROVISION in actions:
            print(f"{shown}: changed; run fab provision to apply it", file=self.err, flush=True)
        if RELOAD in actions and not takes_reload(paths, self.settings, self.templates):
            actions = actions - {RELOAD} | {TEMPLATE}
        refresh = refresh_action(actions)
        try:
            self.guests.copy_files(paths)  # a guest with a copy of the folder (libvirt) gets the saved files
            if RELOAD in actions:
                _, health = devbox_reload.reload_app(self.settings, self.guests, nginx=NGINX in actions, timeout=20)
                self.templates = devbox_reload.live_templates(self.settings, health)
            elif NGINX in actions:
                devbox_reload.render_nginx(self.settings, self.guests.front)
        except devbox_reload.ReloadError as exc:
            if exc.log:
                print(exc.log, file=self.err)
            print(f"devbox: {exc}", file=self.err, flush=True)  # keep watching: the next save may fix it
            if not isinstance(exc, devbox_reload.LoadFailed):
                return
            refresh = PAGE  # the pages show the error, and come back by themselves once it is fixed
        except Exception as exc:  # noqa: BLE001  SSH gone, guest halted: the watcher must outlive it
            print(f"devbox: could not reload ({type(exc).__name__}: {exc}); is the devbox up? (fab status)",
                  file=self.err, flush=True)
            return
        if refresh is None or (self.token is None and not actions & {RELOAD, NGINX}):
            return
        if self.token is not None:
            try:
                devbox_reload.refresh_pages(self.settings, self.token, refresh)
            except OSError as exc:  # the watcher must outlive a guest that went away
                print(f"devbox: could not tell the pages ({exc}); is the devbox up?", file=self.err, flush=True)
                return
        done = " + ".join(a for a in (RELOAD, TEMPLATE, NGINX) if a in actions) or refresh
        print(f"{time.strftime('%H:%M:%S')} {shown}: {done} ({time.monotonic() - started:.2f}s)",
              file=self.out, flush=True)
