"""Load and check ``devbox.yaml``, the one source of truth for ports, box, worker, paths and the app.

Every part goes through :func:`load`: the Vagrantfile (``--json``), the guest's
provisioning scripts (``--shell``), the template renderer, the fabfile, the
tests and the benchmarks. A bad value is reported the same way everywhere: one
line naming the key and how to fix it.

Paths in the ``app`` section are given relative to ``app.folder`` and come out
relative to the repository, so that the host joins them with :data:`ROOT` and
the guest with ``paths.synced``.

Run ``python -m devbox.settings KEY`` to print one value (``paths.venv``),
``--shell`` for ``DEVBOX_*=value`` lines a shell script can eval, ``--json``
for everything, or no argument to check the file.
"""

from __future__ import annotations

import ast
import difflib
import ipaddress
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "devbox.yaml"

# worker setting -> gunicorn --worker-class. Each class is gunicorn's own with
# devbox's reload fixes (devbox/appserver/workers/) and has its own pinned
# requirements (requirements/worker-NAME.txt). Only the chosen worker's library
# is installed, so Flask-SocketIO's automatic async_mode finds the right one.
WORKERS = {
    "eventlet": "devbox.appserver.workers.eventlet_worker.EventletWorker",
    "gevent": "devbox.appserver.workers.gevent_worker.GeventWorker",
    # A WebSocket holds one of gunicorn's threads for as long as it is open.
    "gthread": "devbox.appserver.workers.gthread_worker.ThreadWorker",
}
# Worker classes whose master may keep the app's libraries imported for the
# next worker (devbox/appserver/gunicorn_conf.py says why gevent may not).
PRELOAD_WORKERS = ("eventlet", "gthread")
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
PROVIDERS = ("virtualbox", "libvirt", "lxc", "parallels", "vmware_desktop")
PATH_KEYS = ("synced", "venv", "data", "logs", "config")

# What an app without an `app` section gets: the layout of `gunicorn app:app`
# run in app/, which is how most single-module Flask apps start.
APP_DEFAULTS = {"folder": "app", "wsgi": "app:app", "requirements": "requirements.txt",
                "static": {"folder": "static", "url": "/static/"}, "writable": [], "env": {}}

# Every key devbox.yaml may have; None: any keys (the app's environment).
SCHEMA = {
    "name": {}, "host_ip": {}, "lan": {}, "allowed_hosts": {}, "host_port": {}, "guest_port": {}, "app_port": {},
    "app_bind": {}, "instances": {}, "nodes": {}, "worker": {},
    "dev_mode": {}, "memory": {}, "cpus": {}, "provider": {}, "max_clients": {}, "max_body_size": {}, "wheelhouse": {},
    "boxes": {p: {} for p in PROVIDERS}, "package_cache": {"apt": {}, "pip": {}},
    "paths": {k: {} for k in PATH_KEYS},
    "app": {"folder": {}, "wsgi": {}, "requirements": {}, "env": None, "static": {"folder": {}, "url": {}},
            "writable": {}},
}
MOVED = {
    "paths.static": "the static folder is app.static.folder now (relative to app.folder)",
    "paths.errors": "devbox's own pages always come from static/ now; remove it",
}

# `name` becomes a user and a systemd unit in the guest: never one the system has.
TAKEN_NAMES = {"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
               "www-data", "backup", "list", "irc", "gnats", "nobody", "vagrant", "nginx", "ssh", "sshd", "redis",
               "redis-server", "dbus", "messagebus", "systemd", "logrotate", "cron", "adm", "staff", "users"}
# Ports the guest's own services hold: SSH (Vagrant's way in) and Redis.
TAKEN_PORTS = {22: "SSH", 6379: "Redis"}
# The names a browser on this machine uses for the devbox; allowed_hosts adds more.
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
HOST_NAME = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\]"
# Folders whose code the host runs, often as root: never writable by the guest.
HOST_CODE = ("devbox", "provision", "tests", "bench", "requirements", ".ci", ".venv", ".git")
# How nginx reaches each app instance: a unix socket in a folder only the app
# and nginx may enter, or (one instance only) a TCP port on the guest's loopback.
APP_BINDS = ("unix", "tcp")
MAX_INSTANCES = 16
# The cookie nginx pins a browser to one app instance with (instances > 1).
ROUTE_COOKIE = "devbox_route"
# Several guests (nodes > 0): fixed addresses on the lxc bridge, above the
# range its DHCP server hands out (provision/host/network.sh): the front guest
# (nginx, Redis) first, then one per app guest.
MAX_NODES = 8
NODE_NETWORK = "10.0.3.0/24"
FIRST_NODE_HOST = 200
# The libvirt guest's network (provision/host/libvirt.sh): isolated, the host
# at .1, DHCP below the fixed addresses as on the lxc bridge.
LIBVIRT_NETWORK = {"name": "devbox", "cidr": "10.0.4.0/24", "host": "10.0.4.1"}
# The package caches ./setup.sh runs on the host for a libvirt guest
# (provision/host/package-cache.sh takes its ports from here).
HOST_CACHE_PORTS = {"apt": 3142, "pip": 3141}
HOST_CACHES = {"apt": f"http://{LIBVIRT_NETWORK['host']}:{HOST_CACHE_PORTS['apt']}",
               "pip": f"http://{LIBVIRT_NETWORK['host']}:{HOST_CACHE_PORTS['pip']}/index/"}
# Vagrant's name for the guest that runs nginx (and, with nodes: 0, everything).
FRONT = "default"
# URL prefixes nginx keeps for devbox and Socket.IO.
RESERVED_URLS = ("/_devbox/", "/socket.io/")
# Relative, inside the repository: no leading "/", no "." or ".." parts.
RELATIVE_PATH = r"(?!(.*/)?\.\.?(/|$))[\w.][\w.+-]*(/[\w.][\w.+-]*)*"
# A plain space, never \s: the target lands on a line of a systemd unit.
WSGI_TARGET = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\([\w '.,=+-]*\))?"
INCLUDE = re.compile(r"\s*(?:-r|--requirement|-c|--constraint)[\s=]+(\S+)")


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


def check_keys(raw: dict, schema: dict = SCHEMA, prefix: str = "") -> None:
    """Refuse a key devbox does not know, naming the closest known one: a typo
    must not be silently ignored."""
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in schema:
            if dotted in MOVED:
                raise SettingsError(f"{dotted}: no longer a setting; {MOVED[dotted]}")
            close = difflib.get_close_matches(str(key), list(schema), n=1, cutoff=0.6)
            hint = f"did you mean {prefix}{close[0]}?" if close else "see the comments in devbox.yaml for the keys"
            raise SettingsError(f"{dotted}: unknown setting; {hint}")
        if schema[key] and isinstance(value, dict):
            check_keys(value, schema[key], f"{dotted}.")


def _wsgi_target(value: Any) -> str:
    """``module:name`` or ``module:factory(literal args)``, as gunicorn takes it."""
    _text(value, "app.wsgi", WSGI_TARGET,
          "use module:name (app:app) or module:factory() (myapp:create_app()), as gunicorn takes it")
    try:
        expression = ast.parse(value.split(":", 1)[1], mode="eval").body
    except SyntaxError:
        raise SettingsError(f"app.wsgi: {value!r} is not a name or a call; use module:name or "
                            "module:factory('literal', args)") from None
    if isinstance(expression, ast.Call):
        try:
            for arg in [*expression.args, *(kw.value for kw in expression.keywords)]:
                ast.literal_eval(arg)
        except ValueError:
            raise SettingsError(f"app.wsgi: {value!r} passes something other than a literal to the factory; "
                                "pass strings, numbers or nothing") from None
    return value


def requirement_files(first: Path, root: Path) -> list[str]:
    """``first`` and every file it includes (-r/-c), relative to the repository:
    a change to any of them is a change to the app's requirements."""
    found, queue = [], [first]
    while queue:
        path = queue.pop(0)
        relative = path.resolve().relative_to(root.resolve()).as_posix() if path.resolve().is_relative_to(root.resolve()) else None
        if relative is None or not re.fullmatch(RELATIVE_PATH, relative):
            raise SettingsError(f"app.requirements: {path} is outside the repository or has an odd name; "
                                "the guest sees only the repository")
        if relative in found:
            continue
        if not path.is_file():
            raise SettingsError(f"app.requirements: {relative} does not exist; list your app's packages there "
                                "(flask, ...) or point app.requirements at the file")
        found.append(relative)
        for line in path.read_text().splitlines():
            match = INCLUDE.match(line)
            if match:
                queue.append(path.parent / match.group(1))
    return found


def _app(raw: Any, root: Path) -> dict:
    """The app section with defaults filled in and its paths made relative to the repository."""
    raw = _mapping(raw, "app")
    static_raw = _mapping(raw.get("static", APP_DEFAULTS["static"]), "app.static")
    app = {**APP_DEFAULTS, **raw, "static": {**APP_DEFAULTS["static"], **static_raw}}
    folder = _text(app["folder"], "app.folder", RELATIVE_PATH,
                   "use a folder relative to the repository, such as app")
    if not (root / folder).is_dir():
        raise SettingsError(f"app.folder: {folder!r} is not a folder in the repository; put your app there "
                            "or set app.folder to where it is")
    requirements = _text(app["requirements"], "app.requirements", RELATIVE_PATH,
                         f"use a file relative to {folder}/, such as requirements.txt")
    static = _text(app["static"]["folder"], "app.static.folder", RELATIVE_PATH,
                   f"use a folder relative to {folder}/, such as static")
    url = _text(app["static"]["url"], "app.static.url", r"/([\w.~-]+/)+",
                "use a URL path that starts and ends with a slash, such as /static/")
    if url.startswith(RESERVED_URLS):
        raise SettingsError(f"app.static.url: {url!r} is kept for devbox; use another prefix such as /static/")
    env = _mapping(app["env"] if app["env"] is not None else {}, "app.env")
    return {
        "folder": folder,
        "wsgi": _wsgi_target(app["wsgi"]),
        "requirements": f"{folder}/{requirements}",
        # With the files it includes: what the guest's venv and the wheels follow.
        "requirement_files": requirement_files(root / folder / requirements, root),
        "static": {"folder": f"{folder}/{static}", "url": url},
        "writable": _writable(app["writable"], folder, root),
        "env": {name: _env_value(name, value) for name, value in env.items()},
    }


def _writable(value: Any, folder: str, root: Path) -> list[str]:
    """The folders of the app the guest may write (the rest of the synced folder
    is read-only for it), relative to the repository. Each lies inside the app's
    folder, away from everything devbox itself runs on the host."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise SettingsError(f"app.writable: {value!r} is not a list; list folders relative to {folder}/, "
                            "such as [instance, migrations]")
    found, top = [], folder.split("/")[0]
    for entry in value:
        relative = _text(entry, "app.writable", RELATIVE_PATH, f"use a folder relative to {folder}/, such as instance")
        path = root / folder / relative
        # A link could lead out of the app's folder, to files host root runs.
        if path.exists() and not path.resolve().is_relative_to((root / folder).resolve()):
            raise SettingsError(f"app.writable: {relative!r} leads outside {folder}/; list a real folder inside it")
        if top in HOST_CODE:
            raise SettingsError(f"app.writable: {folder}/{relative} is in {top}/, code the host runs; "
                                "keep writable folders in your app's folder")
        if path.exists() and not path.is_dir():
            raise SettingsError(f"app.writable: {relative!r} is a file; list folders only")
        found.append(f"{folder}/{relative}")
    return found


def _env_value(name: Any, value: Any) -> str:
    key = f"app.env.{name}"
    _text(name, key, r"[A-Za-z_][A-Za-z0-9_]*", "use letters, digits and underscores for variable names")
    if name.startswith("DEVBOX_"):
        raise SettingsError(f"{key}: the DEVBOX_ prefix is devbox's own; use another name")
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, (str, int, float)):
        raise SettingsError(f"{key}: {value!r} is not a string or number; quote it")
    text = str(value)
    # Rendered in single quotes for systemd and for bash alike: no escapes exist there.
    if re.search(r"['\n\r\0]", text):
        raise SettingsError(f"{key}: contains a quote or a line break, which the environment file cannot hold")
    return text


def _instances(raw: dict) -> tuple[int, str, int]:
    """How many app instances, how nginx reaches them, and on how many app guests."""
    instances = raw.get("instances", 1)
    if not isinstance(instances, int) or isinstance(instances, bool) or not 1 <= instances <= MAX_INSTANCES:
        raise SettingsError(f"instances: {instances!r} is not a number from 1 to {MAX_INSTANCES}; "
                            "use 1, or one per core for production's topology")
    bind = raw.get("app_bind", "unix")
    if bind not in APP_BINDS:
        raise SettingsError(f"app_bind: {bind!r} is not unix or tcp; use unix (or tcp for app_port)")
    nodes = raw.get("nodes", 0)
    if not isinstance(nodes, int) or isinstance(nodes, bool) or not 0 <= nodes <= MAX_NODES:
        raise SettingsError(f"nodes: {nodes!r} is not a number from 0 to {MAX_NODES}; use 0 (one guest runs "
                            "everything) or the number of app guests")
    if nodes:
        if instances not in (1, nodes):
            raise SettingsError(f"instances: with nodes: {nodes} each app guest runs one instance ({nodes} in all); "
                                "leave instances at 1")
        # Across guests only TCP reaches: each app guest listens on its own address.
        return nodes, "tcp", nodes
    if bind == "tcp" and instances > 1:
        raise SettingsError(f"app_bind: tcp serves one instance on app_port, and instances is {instances}; "
                            "use app_bind: unix for several")
    return instances, bind, nodes


def _guests(s: dict) -> dict:
    """Vagrant's machines and what each runs: with nodes: 0 one guest runs
    everything; else the front runs nginx and Redis and app guest K runs
    instance K. Each instance keeps its number (unit NAME@K) wherever it runs."""
    all_instances = list(range(1, s["instances"] + 1))
    hosts = list(ipaddress.ip_network(NODE_NETWORK).hosts())
    # The front has its address with nodes: 0 too, so that app guests can join
    # it without a restart.
    front = str(hosts[FIRST_NODE_HOST - 1])
    if not s["nodes"]:
        return {FRONT: {"role": "all", "address": front, "instances": all_instances}}
    guests = {FRONT: {"role": "front", "address": front, "instances": []}}
    for k in all_instances:
        guests[f"app{k}"] = {"role": "app", "address": str(hosts[FIRST_NODE_HOST - 1 + k]), "instances": [k]}
    return guests


def _this_guest(s: dict) -> None:
    """What the guest being provisioned runs ($DEVBOX_GUEST: its Vagrant name,
    which the Vagrantfile hands to the provisioner; default the front)."""
    name = os.environ.get("DEVBOX_GUEST") or FRONT
    if name not in s["guests"]:
        raise SettingsError(f"DEVBOX_GUEST: {name!r} is not one of this devbox's guests ({', '.join(s['guests'])}); "
                            "provision it with vagrant provision")
    guest = s["guests"][name]
    s["guest"], s["guest_role"], s["guest_address"] = name, guest["role"], guest["address"]
    s["guest_units"] = guest["units"]
    if s["nodes"] and guest["role"] == "app":
        s["app_bind_unit"] = s["app_binds"][guest["instances"][0] - 1]
    # Redis listens beyond its guest's loopback only for app guests, with a password.
    s["redis_host"] = s["guests"][FRONT]["address"] if s["nodes"] else "127.0.0.1"


def validate(raw: Any, root: Path = ROOT) -> dict:
    """Return a checked copy of the settings, or raise SettingsError naming the first bad key."""
    raw = _mapping(raw, "devbox.yaml")
    check_keys(raw)

    def need(key: str, source: dict = raw, prefix: str = "") -> Any:
        if key not in source or source[key] is None:
            raise SettingsError(f"{prefix}{key}: missing; add it to devbox.yaml (see the comments there)")
        return source[key]

    s: dict[str, Any] = {}
    s["name"] = _text(need("name"), "name", r"[a-z][a-z0-9-]{0,30}",
                      "use lower-case letters, digits and dashes, starting with a letter")
    if s["name"] in TAKEN_NAMES or s["name"].startswith("systemd-"):
        raise SettingsError(f"name: {s['name']!r} is a user or service the guest already has; "
                            "use another, such as devbox")
    try:
        host_ip = ipaddress.ip_address(need("host_ip"))
    except ValueError:
        raise SettingsError(f"host_ip: {raw['host_ip']!r} is not an IP address; use 127.0.0.1") from None
    if host_ip.version == 6:
        raise SettingsError(f"host_ip: {raw['host_ip']!r} is IPv6, which the port forwarding does not carry; "
                            "use 127.0.0.1 (browsers reach it as localhost too)")
    s["lan"] = raw.get("lan", False)
    if not isinstance(s["lan"], bool):
        raise SettingsError(f"lan: {s['lan']!r} is not true or false; leave it out, or set lan: true")
    if not host_ip.is_loopback and not s["lan"]:
        raise SettingsError(f"host_ip: {host_ip} serves the devbox beyond this machine; use 127.0.0.1, or set "
                            "lan: true if that is what you want (and name it in allowed_hosts)")
    s["host_ip"] = str(host_ip)
    allowed = raw.get("allowed_hosts", [])
    if not isinstance(allowed, list):
        raise SettingsError("allowed_hosts: not a list; write allowed_hosts: [devbox.lan] or leave it out")
    for name in allowed:
        _text(name, "allowed_hosts", HOST_NAME, "use host names or IP addresses, such as devbox.lan or 192.168.1.20")
    # Every Host a browser may send: anything else is refused by nginx (DNS rebinding).
    s["allowed_hosts"] = [*LOCAL_NAMES, *(name.lower() for name in allowed if name.lower() not in LOCAL_NAMES)]
    for key in ("host_port", "guest_port", "app_port"):
        s[key] = _port(need(key), key)
    if s["guest_port"] == s["app_port"]:
        raise SettingsError("app_port: equals guest_port; nginx and gunicorn need different ports")
    for key in ("guest_port", "app_port"):
        if s[key] in TAKEN_PORTS:
            raise SettingsError(f"{key}: {s[key]} is {TAKEN_PORTS[s[key]]}'s in the guest; use another, such as "
                                f"{ {'guest_port': 5000, 'app_port': 5001}[key] }")
    s["instances"], s["app_bind"], s["nodes"] = _instances(raw)
    # The app unit is a template: one gunicorn per instance, each with one worker.
    s["app_units"] = [f"{s['name']}@{i}.service" for i in range(1, s["instances"] + 1)]
    s["route_cookie"] = ROUTE_COOKIE
    s["app_socket_dir"] = f"/run/{s['name']}-app"
    s["guests"] = _guests(s)
    pattern = (f"unix:{s['app_socket_dir']}/{{}}.sock" if s["app_bind"] == "unix" else f"127.0.0.1:{s['app_port']}")
    s["app_bind_unit"] = pattern.format("%i")  # systemd puts the instance number in
    if s["nodes"]:  # each app guest's gunicorn on its own address
        s["app_binds"] = [f"{g['address']}:{s['app_port']}" for g in s["guests"].values() if g["role"] == "app"]
    else:
        s["app_binds"] = [pattern.format(i) for i in range(1, s["instances"] + 1)]
    # Which guest each instance runs on, for the host's commands (fab reload, the tests).
    s["instance_guests"] = [name for name, g in s["guests"].items() for _ in g["instances"]]
    for g in s["guests"].values():
        g["units"] = [s["app_units"][k - 1] for k in g["instances"]]
    _this_guest(s)
    worker = need("worker")
    if worker not in WORKERS:
        raise SettingsError(f"worker: {worker!r} is not supported; use one of {', '.join(WORKERS)}")
    s["worker"] = worker
    s["worker_class"] = WORKERS[worker]
    s["preload"] = worker in PRELOAD_WORKERS
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
    provider = raw.get("provider") or ""
    if provider not in ("", *PROVIDERS):
        raise SettingsError(f"provider: {provider!r} is not a Vagrant provider devbox has a box for; use one of "
                            f"{', '.join(PROVIDERS)}, or leave it empty for Vagrant's choice")
    s["provider"] = provider
    boxes = _mapping(need("boxes"), "boxes")
    s["boxes"] = {p: _text(need(p, boxes, "boxes."), f"boxes.{p}", r"[\w./-]+", "use a box name such as debian/bookworm64")
                  for p in PROVIDERS}
    paths = _mapping(need("paths"), "paths")
    s["paths"] = {}
    for key in PATH_KEYS:
        value = need(key, paths, "paths.")
        if not isinstance(value, str) or not re.fullmatch(r"(/[\w][\w.+-]*)+", value):
            raise SettingsError(f"paths.{key}: {value!r} must be an absolute guest path of letters, digits, "
                                "dots and dashes, without a trailing slash")
        s["paths"][key] = value
    size = _text(str(need("max_body_size")), "max_body_size", r"\d+[kKmMgG]?",
                 "use an nginx size such as 1m or 512k")
    s["max_body_size"] = size
    s["max_body_bytes"] = int(size.rstrip("kKmMgG")) * SIZE_UNITS[size[len(size.rstrip("kKmMgG")):].lower()]
    if s["max_body_bytes"] < 1024:
        raise SettingsError(f"max_body_size: {size!r} would refuse every form (nginx takes 0 as no limit at all); "
                            "use 1k or more, such as 1m")
    s["wheelhouse"] = _text(need("wheelhouse"), "wheelhouse", RELATIVE_PATH,
                            "use a folder relative to the repository, such as .cache/wheels")
    s["app"] = _app(raw.get("app", APP_DEFAULTS), root)
    # What a copied synced folder (rsync: libvirt) leaves out: the host's own
    # state, and the app's writable folders, which are the guest's there.
    s["rsync_exclude"] = [".git/", ".venv/", ".cache/", ".vagrant/", *(f"/{f}/" for f in s["app"]["writable"])]
    s["package_cache"] = _package_cache(raw.get("package_cache", {}))
    if _on_libvirt(s["provider"], root):
        # devbox's libvirt network has no way out but the host's caches
        # (provision/host/package-cache.sh): every entry point provisions through them.
        s["package_cache"] = {k: url or HOST_CACHES[k] for k, url in s["package_cache"].items()}
    s["libvirt_network"] = LIBVIRT_NETWORK
    return s


def _on_libvirt(provider: str, root: Path) -> bool:
    """Whether the guest runs on libvirt: the provider setting (or Vagrant's
    default provider) says so, or, with none, Vagrant made this Vagrant
    folder's guest with libvirt."""
    provider = provider or os.environ.get("VAGRANT_DEFAULT_PROVIDER", "")
    if provider:
        return provider == "libvirt"
    dotfile = Path(os.environ.get("VAGRANT_DOTFILE_PATH") or ".vagrant")
    return (root / dotfile / "machines" / FRONT / "libvirt" / "id").is_file()


def _package_cache(value: Any) -> dict:
    """apt and pip caching proxies, each an http(s) URL or "" (straight from the network)."""
    cache = _mapping(value or {}, "package_cache")
    out = {}
    for key, example in (("apt", "http://10.0.4.1:3142"), ("pip", "http://10.0.4.1:3141/index/")):
        url = cache.get(key) or ""
        if url and not (isinstance(url, str) and re.fullmatch(r"https?://[\w.:\[\]-]+(/[\w./~+-]*)?", url)):
            raise SettingsError(f"package_cache.{key}: {url!r} is not an http(s) URL; use one such as {example}, "
                                "or leave it empty")
        out[key] = url
    return out


def _override_worker(raw: dict, value: str) -> None:
    if value not in WORKERS:
        raise SettingsError(f"DEVBOX_WORKER: {value!r} is not a worker; use one of {', '.join(WORKERS)} or unset it")
    raw["worker"] = value


def _override_number(key: str, variable: str, low: int, top: int):
    def override(raw: dict, value: str) -> None:
        if not value.isdigit():
            raise SettingsError(f"{variable}: {value!r} is not a number; use {low} to {top} or unset it")
        raw[key] = int(value)
    return override


# Variable -> what it does to the raw settings: $DEVBOX_WORKER for `worker`,
# $DEVBOX_APP (a folder) for the whole `app` section with the default app
# settings, $DEVBOX_INSTANCES for `instances`, $DEVBOX_APP_BIND for `app_bind`,
# $DEVBOX_NODES for `nodes`, $DEVBOX_PROVIDER for `provider`, $DEVBOX_APT_CACHE
# and $DEVBOX_PIP_CACHE for `package_cache`.
OVERRIDES = {
    "DEVBOX_WORKER": _override_worker,
    "DEVBOX_PROVIDER": lambda raw, value: raw.update(provider=value),
    "DEVBOX_APP": lambda raw, value: raw.update(app={"folder": value}),
    "DEVBOX_INSTANCES": _override_number("instances", "DEVBOX_INSTANCES", 1, MAX_INSTANCES),
    "DEVBOX_APP_BIND": lambda raw, value: raw.update(app_bind=value),
    "DEVBOX_NODES": _override_number("nodes", "DEVBOX_NODES", 0, MAX_NODES),
    "DEVBOX_APT_CACHE": lambda raw, value: raw.update(package_cache={**(raw.get("package_cache") or {}), "apt": value}),
    "DEVBOX_PIP_CACHE": lambda raw, value: raw.update(package_cache={**(raw.get("package_cache") or {}), "pip": value}),
}


def overrides() -> dict[str, str]:
    """The variables of :data:`OVERRIDES` set here: the guest must be provisioned with the same."""
    return {name: os.environ[name] for name in OVERRIDES if os.environ.get(name)}


def load(path: str | os.PathLike | None = None) -> dict:
    """Read and check the settings file (``$DEVBOX_SETTINGS`` or ``devbox.yaml`` at the repo root).

    Variables stand in for a setting without editing the file (:data:`OVERRIDES`);
    the test runner uses them to try every worker class, a second app and
    several instances. The guest is provisioned with the same ones.
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
    if isinstance(raw, dict):
        for variable, value in overrides().items():
            OVERRIDES[variable](raw, value)
    return validate(raw)


def provisioner_env(settings: dict, guest: str) -> dict[str, str]:
    """The environment the guest's provisioner (provision/guest/provision.sh) runs with.

    What stands in for a setting on the host ($DEVBOX_WORKER and the like) is
    passed along, so the guest renders for the same worker, app and instances;
    and the apt cache, which is needed before the guest can read devbox.yaml.
    """
    env = {"DEVBOX_ROOT": settings["paths"]["synced"], "DEVBOX_GUEST": guest}
    if settings["package_cache"]["apt"]:
        env["DEVBOX_PACKAGE_CACHE_APT"] = settings["package_cache"]["apt"]
    # The guest's loader cannot tell a libvirt guest (no .vagrant there): the caches go along.
    for key, variable in (("apt", "DEVBOX_APT_CACHE"), ("pip", "DEVBOX_PIP_CACHE")):
        if settings["package_cache"][key]:
            env[variable] = settings["package_cache"][key]
    return {**env, **overrides()}


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
    """``DEVBOX_HOST_PORT=8001``-style lines (nested keys joined by ``_``) for provisioning scripts.

    The app's environment is left out: it is rendered into the app's own file;
    so is the table of guests: a script needs only its own guest's part.
    """
    lines = []
    for key, value in settings.items():
        if (prefix, key) in (("DEVBOX_APP_", "env"), ("DEVBOX_", "guests")):
            continue
        if isinstance(value, dict):
            lines.append(shell_exports(value, f"{prefix}{key.upper()}_"))
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if isinstance(value, list):
                text = " ".join(value)  # paths checked against RELATIVE_PATH: no spaces
            lines.append(f"{prefix}{key.upper()}={shlex.quote(text)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    try:
        settings = load()
        if "--shell" in argv:
            print(shell_exports(settings))
        if "--json" in argv:
            # The Vagrantfile runs the guest's provisioner with this environment.
            print(json.dumps({**settings, "provisioner_env": provisioner_env(settings, FRONT)}))
        for key in (k for k in argv if not k.startswith("--")):
            print(lookup(settings, key))
    except SettingsError as exc:
        print(f"devbox.yaml: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
