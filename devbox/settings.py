"""Load and check ``devbox.yaml``, the one source of truth for ports, box, worker and paths.

Every Python part (the template renderer in the guest, the fabfile, the tests)
goes through :func:`load`, so a bad value is reported the same way everywhere:
one line naming the key and how to fix it.

Run ``python -m devbox.settings KEY`` to print one value (``paths.venv``),
``python -m devbox.settings --shell`` for ``DEVBOX_*=value`` lines a shell script
can eval, or ``python -m devbox.settings`` to check the file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "devbox.yaml"

# worker setting -> gunicorn --worker-class and Flask-SocketIO async_mode. The
# async_mode is always set explicitly: left on auto, Flask-SocketIO picks
# eventlet whenever it is installed, whatever the worker.
# Each class is gunicorn's own with devbox's reload fixes (devbox/workers/), and
# has its own pinned requirements (requirements/worker-NAME.txt).
WORKERS = {
    "eventlet": {"worker_class": "devbox.workers.eventlet_worker.EventletWorker", "async_mode": "eventlet"},
    "gevent": {"worker_class": "devbox.workers.gevent_worker.GeventWorker", "async_mode": "gevent"},
    # A WebSocket holds one of gunicorn's threads for as long as it is open.
    "gthread": {"worker_class": "devbox.workers.gthread_worker.ThreadWorker", "async_mode": "threading"},
}
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
PROVIDERS = ("virtualbox", "libvirt", "lxc")
PATH_KEYS = ("synced", "static", "errors", "venv", "data", "logs", "config")


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the key and the fix."""


def _port(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise SettingsError(f"{key}: {value!r} is not a port; set it to a number from 1 to 65535")
    return value


def _positive(value: Any, key: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SettingsError(f"{key}: {value!r} is too small or not a number; set it to {minimum} or more")
    return value


def _text(value: Any, key: str, pattern: str, hint: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise SettingsError(f"{key}: {value!r} is not valid; {hint}")
    return value


def _mapping(value: Any, key: str) -> dict:
    if not isinstance(value, dict):
        raise SettingsError(f"{key}: missing or not a mapping; see the comments in devbox.yaml")
    return value


def validate(raw: Any) -> dict:
    """Return a checked copy of the settings, or raise SettingsError naming the first bad key."""
    raw = _mapping(raw, "devbox.yaml")

    def need(key: str, source: dict = raw, prefix: str = "") -> Any:
        if key not in source or source[key] is None:
            raise SettingsError(f"{prefix}{key}: missing; add it to devbox.yaml (see the comments there)")
        return source[key]

    s: dict[str, Any] = {}
    s["name"] = _text(need("name"), "name", r"[a-z][a-z0-9-]{0,30}",
                      "use lower-case letters, digits and dashes, starting with a letter")
    try:
        s["host_ip"] = str(ipaddress.ip_address(need("host_ip")))
    except ValueError:
        raise SettingsError(f"host_ip: {raw['host_ip']!r} is not an IP address; use 127.0.0.1") from None
    for key in ("host_port", "guest_port", "app_port"):
        s[key] = _port(need(key), key)
    if s["guest_port"] == s["app_port"]:
        raise SettingsError("app_port: equals guest_port; nginx and gunicorn need different ports")
    worker = need("worker")
    if worker not in WORKERS:
        raise SettingsError(f"worker: {worker!r} is not supported; use one of {', '.join(WORKERS)}")
    s["worker"] = worker
    s.update(WORKERS[worker])
    if not isinstance(need("dev_mode"), bool):
        raise SettingsError(f"dev_mode: {raw['dev_mode']!r} is not true or false; set it to true or false")
    s["dev_mode"] = raw["dev_mode"]
    s["memory"] = _positive(need("memory"), "memory", 256)
    s["max_clients"] = _positive(need("max_clients"), "max_clients", 100)
    s["cpus"] = _positive(need("cpus"), "cpus", 1)
    # gthread: a thread per client; its connection limit counts them too, plus
    # room for kept-alive HTTP connections.
    threaded = worker == "gthread"
    s["threads"] = s["max_clients"] if threaded else 1
    s["worker_connections"] = s["max_clients"] * (2 if threaded else 1)
    boxes = _mapping(need("boxes"), "boxes")
    s["boxes"] = {p: _text(need(p, boxes, "boxes."), f"boxes.{p}", r"[\w./-]+", "use a box name such as debian/bookworm64")
                  for p in PROVIDERS}
    paths = _mapping(need("paths"), "paths")
    s["paths"] = {}
    for key in PATH_KEYS:
        value = need(key, paths, "paths.")
        if not isinstance(value, str) or not value.startswith("/") or value.endswith("/") or " " in value:
            raise SettingsError(f"paths.{key}: {value!r} must be an absolute guest path without a trailing slash or spaces")
        s["paths"][key] = value
    size = _text(str(need("max_body_size")), "max_body_size", r"\d+[kKmMgG]?",
                 "use an nginx size such as 1m or 512k")
    s["max_body_size"] = size
    s["wheelhouse"] = _text(need("wheelhouse"), "wheelhouse", r"[\w.-][\w./-]*",
                            "use a folder relative to the repository, such as .cache/wheels")
    s["max_body_bytes"] = int(size.rstrip("kKmMgG")) * SIZE_UNITS[size[len(size.rstrip("kKmMgG")):].lower()]
    return s


def load(path: str | os.PathLike | None = None) -> dict:
    """Read and check the settings file (``$DEVBOX_SETTINGS`` or ``devbox.yaml`` at the repo root).

    ``$DEVBOX_WORKER``, when set, stands in for the ``worker`` setting: the test
    runner uses it to try every worker class without editing the file.
    """
    path = Path(path or os.environ.get("DEVBOX_SETTINGS") or DEFAULT_FILE)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SettingsError(f"{path}: not found; copy devbox.yaml from the repository") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SettingsError(f"{path}: not valid YAML{where}; fix the syntax there") from None
    override = os.environ.get("DEVBOX_WORKER")
    if override and isinstance(raw, dict):
        if override not in WORKERS:
            raise SettingsError(f"DEVBOX_WORKER: {override!r} is not a worker; use one of {', '.join(WORKERS)} or unset it")
        raw["worker"] = override
    return validate(raw)


def base_url(settings: dict) -> str:
    """Where the browser reaches the devbox: http://localhost:<host_port>."""
    return f"http://localhost:{settings['host_port']}"


def lookup(settings: dict, dotted: str) -> Any:
    """Return ``settings['paths']['venv']`` for ``'paths.venv'``."""
    value: Any = settings
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise SettingsError(f"{dotted}: no such setting; see devbox.yaml for the keys")
        value = value[part]
    return value


def shell_exports(settings: dict, prefix: str = "DEVBOX_") -> str:
    """``DEVBOX_HOST_PORT=8001``-style lines (nested keys joined by ``_``) for provisioning scripts."""
    lines = []
    for key, value in settings.items():
        if isinstance(value, dict):
            lines.append(shell_exports(value, f"{prefix}{key.upper()}_"))
        else:
            lines.append(f"{prefix}{key.upper()}={shlex.quote(str(value))}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    try:
        settings = load()
        if argv == ["--shell"]:
            print(shell_exports(settings))
        for key in (k for k in argv if k != "--shell"):
            print(lookup(settings, key))
    except SettingsError as exc:
        print(f"devbox.yaml: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
