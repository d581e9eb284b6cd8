"""What gunicorn serves: the app, with devbox's reserved prefix /_devbox/ in front.

gunicorn loads ``devbox.appserver.wsgi:application`` in each new worker. That
loads the app named by ``$DEVBOX_WSGI`` (``app.wsgi`` in devbox.yaml) the way
``gunicorn app:app`` would, in the app's folder (gunicorn's working
directory), and answers two things itself, so that the app needs no devbox
code at all:

- ``GET /_devbox/health``: which code this worker runs (``version``, a hash of
  the app's files taken *before* they are imported, so it is never newer than
  the code), its ``boot_id``, whether the app loaded, and in development the
  template folders the app re-reads by itself (``templates``). `fab reload`, `fab
  watch`, `fab status`, the provisioner and the friendly page all ask it.
- when the app failed to load (a syntax error saved mid-edit), every request
  gets devbox's friendly page with the error, and the health says what failed.
  The worker stays up, so the next save reloads it at once.

Nothing under /_devbox/ ever reaches the app. Once the app loaded, the modules
it imported from outside its folder are recorded for the master to preload
(devbox.appserver.gunicorn_conf).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import uuid
from pathlib import Path

from gunicorn.util import import_app

from devbox import appcode
from devbox.appserver.uwsgi_retire import under_uwsgi

PREFIX = "/_devbox/"
# devbox's own browser files (static/ at the top of the repository).
PAGE = Path(__file__).resolve().parents[2] / "static" / "unavailable.html"


def describe(exc: BaseException, app_dir: Path) -> str:
    """One line: the exception and where in the app it was raised."""
    where, text = None, str(exc)
    if isinstance(exc, SyntaxError) and exc.filename:
        where, text = (exc.filename, exc.lineno), exc.msg  # str() would name the place a second time
    else:
        for frame in traceback.extract_tb(exc.__traceback__):
            path = Path(frame.filename)  # "<frozen importlib._bootstrap>" is no file, wherever we are
            if path.is_absolute() and path.is_file() and path.resolve().is_relative_to(app_dir):
                where = (frame.filename, frame.lineno)
    message = " ".join(f"{type(exc).__name__}: {text}".split())[:400]
    if where:
        path = Path(where[0]).resolve()
        name = path.relative_to(app_dir) if path.is_relative_to(app_dir) else path
        message += f" ({name}, line {where[1]})"
    return message


def live_templates(app, app_dir: Path) -> list[str]:
    """Have a Flask app re-read a template saved since it last rendered it
    (Jinja's ``auto_reload``, as ``flask run --debug`` does), so that saving a
    template takes a page refresh and no reload. Returns its template folders
    inside the app folder, relative to it, for `fab watch`; none for an app that
    is not Flask, whose every save reloads it."""
    if not (hasattr(app, "jinja_env") and hasattr(app, "iter_blueprints")):
        return []
    app.config["TEMPLATES_AUTO_RELOAD"] = True
    app.jinja_env.auto_reload = True
    folders = []
    for loader in (app.jinja_loader, *(blueprint.jinja_loader for blueprint in app.iter_blueprints())):
        for place in getattr(loader, "searchpath", None) or ():
            path = Path(place).resolve()
            if path.is_dir() and path.is_relative_to(app_dir):
                folders.append(path.relative_to(app_dir).as_posix())
    return sorted(set(folders))


def record_imports(record: Path) -> None:
    """Write the names of the loaded modules that are installed (the venv's and the
    standard library's), in import order. Code the developer edits, the app's or
    any other under the synced folder, never goes to the master: it would go stale."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}

    def installed(module) -> bool:
        places = [getattr(module, "__file__", None), *getattr(module, "__path__", [])]
        return all(any(Path(place).resolve().is_relative_to(root) for root in roots) for place in places if place)

    try:
        names = [name for name, module in list(sys.modules.items())
                 if module is not None and not name.startswith(("devbox", "__")) and installed(module)]
        text = "\n".join(names) + "\n"
        if record.exists() and record.read_text() == text:
            return
        partial = record.with_suffix(f".{os.getpid()}")
        partial.write_text(text)
        partial.replace(record)
    except Exception as exc:  # preloading is a speed-up, never a reason to fail
        print(f"devbox: could not record the app's imports in {record}: {exc}", file=sys.stderr)


class Devbox:
    """The app's WSGI callable with /_devbox/ answered in front of it."""

    def __init__(self, target: str, app_dir: Path, static_dir: Path, worker: str, record: Path | None = None,
                 dev_mode: bool = False):
        self.target, self.worker, self.folder = target, worker, str(app_dir)
        self.templates: list[str] = []
        # Which of the app's gunicorns (the app unit's instance number), or None outside one.
        self.instance = int(os.environ["DEVBOX_INSTANCE"]) if os.environ.get("DEVBOX_INSTANCE", "").isdigit() else None
        self.boot_id = uuid.uuid4().hex
        self.version = appcode.version(app_dir, static_dir)
        self.app, self.error = None, None
        self.retiring = under_uwsgi()
        try:
            self.app = import_app(target)
        except (Exception, SystemExit) as exc:  # whatever the app's import raised; the worker lives on
            self.error = describe(exc, app_dir)
            print(f"devbox: the app {target} failed to load: {self.error}", file=sys.stderr)
            traceback.print_exc()
            return
        if dev_mode:
            try:
                self.templates = live_templates(self.app, app_dir.resolve())
            except Exception as exc:  # a speed-up only: its saves then reload the app
                print(f"devbox: templates are not re-read live: {exc}", file=sys.stderr)
        if record:
            record_imports(record)

    def health(self) -> dict:
        body = {"status": "error" if self.error else "ok", "version": self.version, "boot_id": self.boot_id,
                "pid": os.getpid(), "worker": self.worker, "app": self.target, "folder": self.folder,
                "instance": self.instance}
        if self.error:
            body["error"] = self.error
        if self.templates:
            body["templates"] = self.templates
        return body

    def __call__(self, environ, start_response):
        if self.retiring is not None:  # under uWSGI, its loop now runs: devbox/appserver/uwsgi_retire.py
            retiring, self.retiring = self.retiring, None
            try:
                retiring.arm()
            except Exception as exc:  # the reload's wait only: never a reason to fail a request
                print(f"devbox: a reload will not see this uWSGI worker retire: {exc}", file=sys.stderr)
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX) or path == PREFIX.rstrip("/"):
            return self.devbox(path, environ, start_response)
        if self.app is None:
            return self.respond(start_response, "503 Service Unavailable", PAGE.read_bytes(),
                                "text/html; charset=utf-8", [("Retry-After", "1")])
        return self.app(environ, start_response)

    def devbox(self, path, environ, start_response):
        if path != PREFIX + "health":
            return self.respond(start_response, "404 Not Found", b'{"error": "no such devbox URL"}')
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.respond(start_response, "405 Method Not Allowed", b'{"error": "use GET"}',
                                extra=[("Allow", "GET, HEAD")])
        status = "503 Service Unavailable" if self.error else "200 OK"
        # This request as the app sees it behind nginx: its scheme decides
        # request.is_secure, Secure cookies and external URLs.
        seen = {"scheme": environ.get("wsgi.url_scheme"), "host": environ.get("HTTP_HOST")}
        body = json.dumps({**self.health(), "request": seen}).encode()
        if environ["REQUEST_METHOD"] == "HEAD":
            body = b""
        return self.respond(start_response, status, body)

    @staticmethod
    def respond(start_response, status, body, content_type="application/json", extra=()):
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                ("Cache-Control", "no-store"), *extra])
        return [body]


def from_environment() -> Devbox:
    """The wrapper the app unit describes: $DEVBOX_WSGI, $DEVBOX_STATIC, $DEVBOX_WORKER,
    $DEVBOX_PRELOAD_RECORD and $DEVBOX_DEV_MODE, in the app's folder (the working
    directory gunicorn was given)."""
    app_dir = Path.cwd().resolve()
    record = os.environ.get("DEVBOX_PRELOAD_RECORD")
    return Devbox(os.environ["DEVBOX_WSGI"], app_dir, Path(os.environ["DEVBOX_STATIC"]).resolve(),
                  os.environ.get("DEVBOX_WORKER", "?"), Path(record) if record else None,
                  dev_mode=os.environ.get("DEVBOX_DEV_MODE") == "1")


application = from_environment() if "DEVBOX_WSGI" in os.environ else None
