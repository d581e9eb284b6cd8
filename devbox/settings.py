"""Load and check ``devbox.yaml``, the one source of truth for ports, box, worker, paths and the app.

Every part goes through :func:`load`: the Vagrantfile (``--json``), the guest's
provisioning scripts (``--shell``), the template renderer, the fabfile, the
tests and the benchmarks. A bad value is reported the same way everywhere: one
line naming the key and how to fix it.

Each key is defined once, in :data:`SETTINGS`: its default, type, range,
pattern and meaning. The loader checks values against it; the table in
docs/settings.md (``--docs``) and the JSON Schema editors check devbox.yaml
with (devbox.schema.json, ``--schema``) are printed from it.

Paths in the ``app`` section are given relative to ``app.folder`` and come out
relative to the repository, so that the host joins them with :data:`ROOT` and
the guest with ``paths.synced``.

Run ``python -m devbox.settings KEY`` to print one value (``paths.venv``),
``--shell`` for ``DEVBOX_*=value`` lines a shell script can eval, ``--json``
for everything, or no argument to check the file.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import ipaddress
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

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
# server setting: what runs each app instance. uWSGI (Debian's, with its
# gevent plugin: provision/guest/app/uwsgi.ini.j2) runs the app on gevent only.
SERVERS = ("gunicorn", "uwsgi")
UWSGI_WORKER = "gevent"
# Worker classes whose master may keep the app's libraries imported for the
# next worker (devbox/appserver/gunicorn_conf.py says why gevent may not).
PRELOAD_WORKERS = ("eventlet", "gthread")
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
PROVIDERS = ("virtualbox", "libvirt", "lxc", "parallels", "vmware_desktop")
MOVED = {
    "paths.static": "the static folder is app.static.folder now (relative to app.folder)",
    "paths.errors": "devbox's own pages always come from static/ now; remove it",
}

# `name` becomes a user and a systemd unit in the guest: never one the system has.
TAKEN_NAMES = {"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
               "www-data", "backup", "list", "irc", "gnats", "nobody", "vagrant", "nginx", "ssh", "sshd", "redis",
               "redis-server", "dbus", "messagebus", "systemd", "logrotate", "cron", "adm", "staff", "users"}
# Ports the guest's own services hold: SSH (Vagrant's way in) and Redis.
REDIS_PORT = 6379
TAKEN_PORTS = {22: "SSH", REDIS_PORT: "Redis"}
# The names a browser on this machine uses for the devbox; allowed_hosts adds more.
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
# The guest's certificate and key as the host makes them (devbox/host/tls.py).
TLS_LEAF = ROOT / ".vagrant" / "devbox-tls" / "site.pem"
# Where nginx finds RFC 7919's ffdhe2048 group (provision/guest/nginx/ffdhe2048.pem).
TLS_DHPARAM = "/etc/nginx/ffdhe2048.pem"
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
# Each devbox on the host (each Vagrant folder) has a block of its own of
# those, MAX_NODES + 1 long, claimed at its first vagrant up and kept in the
# Vagrant folder (provision/vagrant/settings.rb): 200-208, 209-217, ...
ADDRESS_BLOCKS = 6
BLOCK_FILE = "devbox-address-block"
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


# Words for a bad value of each kind, and the kinds' names in JSON Schema.
KIND_PROBLEMS = {bool: "is not true or false", list: "is not a list", dict: "is not a mapping"}
JSON_TYPES = {bool: "boolean", int: "integer", str: "string", list: "array", dict: "object"}


@dataclasses.dataclass
class Setting:
    """One key of devbox.yaml. The loader checks values against it; the docs
    table and the JSON Schema are printed from it."""

    key: str  # dotted, as messages name it: paths.venv
    default: Any  # what a key left out takes; for a required one, the value devbox ships (docs, editors)
    doc: str  # markdown, for the docs table and the schema's description
    required: bool = True
    kind: type | tuple[type, ...] | None = None  # None: the default's type
    low: int | None = None
    high: int | None = None
    choices: tuple = ()
    pattern: str = ""  # a text's, or each item's of a list
    problem: str = ""  # "VALUE is not ...", where the kind's own words would not be clear enough
    fix: str = ""  # what to write instead; {folder} is app.folder
    # What the fields cannot say about the value alone: returns it, or raises.
    check: Callable[[Setting, Any], Any] | None = None

    def __post_init__(self) -> None:
        self.kind = self.kind or type(self.default)
        # The message's words, where the entry has none of its own.
        if self.kind is int and self.low is not None:
            bounded = self.high is not None
            self.problem = self.problem or (f"is not a number from {self.range()}" if bounded
                                            else "is too small or not a number")
            self.fix = self.fix or ("" if bounded else f"set it to {self.range()}")
        self.problem = self.problem or KIND_PROBLEMS.get(self.kind, "is not valid")
        if self.kind is dict:
            self.fix = self.fix or "see the comments in devbox.yaml"

    @property
    def kinds(self) -> tuple[type, ...]:
        return self.kind if isinstance(self.kind, tuple) else (self.kind,)

    def range(self) -> str:
        if self.kind is not int or self.low is None:
            return ""
        return f"{self.low} to {self.high}" if self.high is not None else f"{self.low} or more"

    def error(self, value: Any, problem: str = "", **context: str) -> SettingsError:
        fix = f"; {self.fix.format(**context)}" if self.fix else ""
        return SettingsError(f"{self.key}: {value!r} {problem or self.problem}{fix}")

    def parse(self, value: Any, **context: str) -> Any:
        """``value`` checked against this setting (``context`` fills in its fix)."""
        # type(), not isinstance(): YAML's true is no number here.
        if (type(value) not in self.kinds or (self.low is not None and value < self.low)
                or (self.high is not None and value > self.high) or (self.choices and value not in self.choices)):
            raise self.error(value, **context)
        for item in (value if self.kind is list else [str(value)]) if self.pattern else []:
            if not (isinstance(item, str) and re.fullmatch(self.pattern, item)):
                raise self.error(item, "is not valid" if self.kind is list else "", **context)
        return self.check(self, value) if self.check else value

    def json_type(self) -> str | list[str]:
        # A key with nothing after it (`lan:`) is left out: null too, where that may be.
        types = [JSON_TYPES[kind] for kind in self.kinds] + ([] if self.required else ["null"])
        return types if len(types) > 1 else types[0]

    def schema(self) -> dict:
        """This key's JSON Schema: what an editor can check of the loader's rules, and the doc for its hover."""
        # Links lead nowhere in an editor: their text stays.
        out = {"description": re.sub(r"\[([^]]+)\]\([^)]+\)", r"\1", self.doc), "type": self.json_type()}
        out.update({"examples": [self.default]} if self.required else {"default": self.default})
        if self.choices:
            out["enum"] = [*self.choices, *([] if self.required else [None])]
        if self.low is not None:
            out["minimum"] = self.low
        if self.high is not None:
            out["maximum"] = self.high
        if self.pattern:
            pattern = f"^(?:{self.pattern})$"
            out.update({"items": {"type": "string", "pattern": pattern}} if self.kind is list else {"pattern": pattern})
        if self.kind is dict:  # app.env: what _environment takes
            out["additionalProperties"] = {"type": ["string", "number", "boolean"]}
        return out


def _free_name(setting: Setting, name: str) -> str:
    if name in TAKEN_NAMES or name.startswith("systemd-"):
        raise SettingsError(f"name: {name!r} is a user or service the guest already has; use another, such as devbox")
    return name


def _ipv4(setting: Setting, value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise setting.error(value) from None
    if address.version == 6:
        raise SettingsError(f"host_ip: {value!r} is IPv6, which the port forwarding does not carry; "
                            "use 127.0.0.1 (browsers reach it as localhost too)")
    return str(address)


def _free_port(setting: Setting, port: int) -> int:
    if port in TAKEN_PORTS:
        raise SettingsError(f"{setting.key}: {port} is {TAKEN_PORTS[port]}'s in the guest; use another, such as "
                            f"{setting.default}")
    return port


def _free_url(setting: Setting, url: str) -> str:
    if url.startswith(RESERVED_URLS):
        raise SettingsError(f"app.static.url: {url!r} is kept for devbox; use another prefix such as /static/")
    return url


def _wsgi_target(setting: Setting, value: str) -> str:
    """``module:name`` or ``module:factory(literal args)``, as gunicorn takes it."""
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


def _environment(setting: Setting, env: dict) -> dict[str, str]:
    """The app's variables as the text of its environment file."""
    out = {}
    for name, value in env.items():
        key = f"app.env.{name}"
        if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)):
            raise SettingsError(f"{key}: {name!r} is not valid; use letters, digits and underscores for variable names")
        if name.startswith("DEVBOX_"):
            raise SettingsError(f"{key}: the DEVBOX_ prefix is devbox's own; use another name")
        if not isinstance(value, (str, int, float)):
            raise SettingsError(f"{key}: {value!r} is not a string or number; quote it")
        out[name] = str(value).lower() if isinstance(value, bool) else str(value)
        # Rendered in single quotes for systemd and for bash alike: no escapes exist there.
        if re.search(r"['\n\r\0]", out[name]):
            raise SettingsError(f"{key}: contains a quote or a line break, which the environment file cannot hold")
    return out


def _size_bytes(size: str) -> int:
    number = size.rstrip("kKmMgG")
    return int(number) * SIZE_UNITS[size[len(number):].lower()]


def _body_size(setting: Setting, size: str | int) -> str:
    size = str(size)  # a plain number is bytes to nginx
    if _size_bytes(size) < 1024:
        raise SettingsError(f"max_body_size: {size!r} would refuse every form (nginx takes 0 as no limit at all); "
                            "use 1k or more, such as 1m")
    return size


PORT = dict(low=1, high=65535, problem="is not a port", fix="set it to a number from 1 to 65535")
BOX = dict(pattern=r"[\w./-]+", fix="use a box name such as debian/bookworm64")
GUEST_PATH = dict(pattern=r"(/[\w][\w.+-]*)+", problem="must be an absolute guest path of letters, digits, dots and "
                                                        "dashes, without a trailing slash")
CACHE = dict(required=False, pattern=r"(https?://[\w.:\[\]-]+(/[\w./~+-]*)?)?", problem="is not an http(s) URL")
NOT_IN_LXC = "VirtualBox, Parallels, VMware, libvirt; lxc shares the host's and ignores it"

# Every key devbox.yaml may have, in the docs' order. A key `app.static.url` is
# `url` in the mapping `static` in the mapping `app`; a mapping is required if
# one of its keys is. `app.env`'s keys are the app's own.
SETTINGS = {setting.key: setting for setting in [
    Setting("name", "devbox", "hostname, lxc container name, app user and systemd units (`NAME@1.service`, ...); "
            "lower-case letters, digits and dashes; never a system account (`root`, `www-data`, `vagrant`, ...)",
            pattern=r"[a-z][a-z0-9-]{0,30}", fix="use lower-case letters, digits and dashes, starting with a letter",
            check=_free_name),
    Setting("host_ip", "127.0.0.1", "where the forwarded port answers on the host; IPv4 only. Anything but loopback "
            "puts the devbox on the LAN and needs `lan: true`", problem="is not an IP address", fix="use 127.0.0.1",
            check=_ipv4),
    Setting("lan", False, "say `true` to let `host_ip` be a LAN address (`0.0.0.0`); name the devbox's LAN name in "
            "`allowed_hosts`", required=False, fix="leave it out, or set lan: true"),
    Setting("allowed_hosts", [], "names a browser may use besides `localhost`, `127.0.0.1` and `[::1]` (with the "
            "host port, or the guest port inside the guest); nginx answers any other `Host` with 421 and devbox's page",
            required=False, pattern=HOST_NAME,
            fix="list host names or IP addresses, such as [devbox.lan, 192.168.1.20], or leave it out"),
    Setting("host_port", 8001, "the port the browser uses; change it here and everything follows, `proxy_redirect` "
            "included", **PORT),
    Setting("guest_port", 5000, "nginx inside the guest (not 22 or 6379: SSH and Redis have those)", **PORT,
            check=_free_port),
    Setting("tls", True, "`true`: nginx serves the app over HTTPS too, on `https_host_port`, with HTTP/2 for pages "
            "and `wss` for Socket.IO, from a certificate of the host's own local CA (mkcert), which the host trusts "
            "([HTTPS](https.md)); plain HTTP on `host_port` stays", required=False,
            fix="set it to true or false"),
    Setting("https_host_port", 8443, "the HTTPS port the browser uses, forwarded like `host_port`", required=False,
            **PORT),
    Setting("https_guest_port", 5443, "nginx's HTTPS port inside the guest; not `guest_port` or `app_port`",
            required=False, **PORT, check=_free_port),
    Setting("instances", 1, "app instances: each a gunicorn with one worker (`NAME@N.service`, a systemd template "
            "unit); nginx balances across them, sticky by a cookie ([instances](instances.md))", required=False,
            low=1, high=MAX_INSTANCES, fix="use 1, or one per core for production's topology"),
    Setting("app_bind", "unix", "how nginx reaches them: `unix` (sockets in `/run/NAME-app/`, which only the app and "
            "nginx's group may enter) or `tcp` (one instance only, on `app_port` on the guest's loopback, for tools "
            "that want a port). With `tcp` any user or process in the guest can connect to gunicorn directly, past "
            "nginx ([security](security.md)). `nodes` makes it `tcp`", required=False, choices=APP_BINDS,
            problem="is not unix or tcp", fix="use unix (or tcp for app_port)"),
    Setting("app_port", 5001, "needed even with `unix`: gunicorn's port with `app_bind: tcp` (on the guest's "
            "loopback) and with `nodes` (on each app guest's address); not 22 or 6379 either, and not `guest_port`",
            **PORT, check=_free_port),
    Setting("nodes", 0, "app guests (lxc only so far): 0 runs everything in one guest; N ≥ 1 makes that guest the "
            "front (nginx, Redis) and adds N app guests, one instance each, so `instances` stays 1 "
            "([nodes](nodes.md))", required=False, low=0, high=MAX_NODES,
            fix="use 0 (one guest runs everything) or the number of app guests"),
    Setting("app.folder", "app", "your app's folder in the repository; gunicorn's working directory", required=False,
            pattern=RELATIVE_PATH, fix="use a folder relative to the repository, such as app"),
    Setting("app.wsgi", "app:app", "what gunicorn loads: `module:name` or `module:factory(literal args)` (such as "
            "`myapp:create_app()`)", required=False, pattern=WSGI_TARGET,
            fix="use module:name (app:app) or module:factory() (myapp:create_app()), as gunicorn takes it",
            check=_wsgi_target),
    Setting("app.requirements", "requirements.txt", "in `app.folder`; installed in the guest's venv beside the "
            "worker's packages. Files it includes (`-r`, `-c`) count too, inside the repository", required=False,
            pattern=RELATIVE_PATH, fix="use a file relative to {folder}/, such as requirements.txt"),
    Setting("app.static.folder", "static", "in `app.folder`; served by nginx itself", required=False,
            pattern=RELATIVE_PATH, fix="use a folder relative to {folder}/, such as static"),
    Setting("app.static.url", "/static/", "where nginx serves `app.static.folder`; not under "
            f"{' or '.join(f'`{url}`' for url in RESERVED_URLS)}", required=False, pattern=r"/([\w.~-]+/)+",
            fix="use a URL path that starts and ends with a slash, such as /static/", check=_free_url),
    Setting("app.writable", [], "folders in `app.folder` the app may write (the demo: `[instance]`): [the read-only "
            "folder and `app.writable`](security.md#the-read-only-folder-and-appwritable)", required=False,
            pattern=RELATIVE_PATH, fix="list folders relative to {folder}/, such as [instance, migrations]"),
    Setting("app.env", {}, "extra environment for the app, below", required=False,
            fix="write NAME: value under it, one a line", check=_environment),
    Setting("server", "gunicorn", "what runs each app instance behind nginx: `gunicorn`, or `uwsgi` (Debian's "
            "uWSGI with its gevent loop, reached over the uwsgi protocol; it takes `worker: gevent`) "
            "([workers](workers.md#uwsgi))", required=False, choices=SERVERS, problem="is not supported",
            fix=f"use one of {', '.join(SERVERS)}"),
    Setting("worker", "eventlet", f"gunicorn worker class: {', '.join(f'`{w}`' for w in WORKERS)} "
            "([workers](workers.md))", choices=tuple(WORKERS), problem="is not supported",
            fix=f"use one of {', '.join(WORKERS)}"),
    Setting("dev_mode", True, "`true`: nginx adds devbox's refresh script to the app's HTML pages, so `fab watch` "
            "refreshes them, and a Flask app re-reads a saved template by itself (`TEMPLATES_AUTO_RELOAD`); "
            "`false`: neither, and `fab watch` still reloads the app ([edit loop](edit-loop.md)). The "
            "debugger is never on", fix="set it to true or false"),
    Setting("memory", 1024, f"the guest's memory in MiB ({NOT_IN_LXC})", low=256),
    Setting("cpus", 2, f"the guest's CPUs ({NOT_IN_LXC})", low=1),
    Setting("provider", "", "the Vagrant provider a plain `vagrant up`, `fab up` and `./setup.sh` take: "
            f"{', '.join(f'`{p}`' for p in PROVIDERS)}; empty: Vagrant's first usable one in the "
            "Vagrantfile's order (VirtualBox first), and for `./setup.sh` lxc. `./setup.sh --provider lxc|libvirt` "
            "and `fab up --provider=...` override it for one run ([providers](providers.md))", required=False,
            choices=("", *PROVIDERS), problem="is not a Vagrant provider devbox has a box for",
            fix=f"use one of {', '.join(PROVIDERS)}, or leave it empty for Vagrant's choice"),
    Setting("boxes.virtualbox", "bento/debian-12", "VirtualBox's box: Debian 12, amd64 and arm64 (VirtualBox 7.1.6 or "
            "later on arm64)", **BOX),
    Setting("boxes.libvirt", "debian/bookworm64", "libvirt's (amd64), built locally by `./setup.sh --provider "
            "libvirt` under its public name", **BOX),
    Setting("boxes.lxc", "devbox/debian-12-lxc", "lxc's, built locally by `./setup.sh`", **BOX),
    Setting("boxes.parallels", "bento/debian-12", "Parallels' box", **BOX),
    Setting("boxes.vmware_desktop", "bento/debian-12", "VMware's box", **BOX),
    Setting("package_cache.apt", "", "an apt proxy (apt-cacher-ng) the guest installs Debian packages through; "
            "empty: the network, or on libvirt the host's that `./setup.sh --provider libvirt` runs "
            f"(`{HOST_CACHES['apt']}`)", fix=f"use one such as {HOST_CACHES['apt']}, or leave it empty", **CACHE),
    Setting("package_cache.pip", "", "a PyPI index URL the guest installs Python packages from; empty: the wheels "
            f"(`wheelhouse`) or PyPI, or on libvirt the host's (`{HOST_CACHES['pip']}`)",
            fix=f"use one such as {HOST_CACHES['pip']}, or leave it empty", **CACHE),
    Setting("paths.synced", "/vagrant", "the repository in the guest", **GUEST_PATH),
    Setting("paths.venv", "/opt/devbox/venv", "the app's venv", **GUEST_PATH),
    Setting("paths.data", "/var/lib/devbox", "the app's `DATA_DIR`", **GUEST_PATH),
    Setting("paths.logs", "/var/log/devbox", "the app's logs (nginx's are in `/var/log/nginx/NAME/`)", **GUEST_PATH),
    Setting("paths.config", "/etc/devbox", "secrets made when provisioning", **GUEST_PATH),
    Setting("max_clients", 2000, "WebSocket clients held open at once (gunicorn worker connections; nginx gets twice "
            "as many)", low=100),
    Setting("max_body_size", "1m", "largest request body nginx accepts (nginx's size syntax, 1k or more)",
            kind=(str, int), pattern=r"\d+[kKmMgG]?", fix="use an nginx size such as 1m or 512k", check=_body_size),
    Setting("wheelhouse", ".cache/wheels", "host folder of guest wheels for offline provisioning",
            pattern=RELATIVE_PATH, fix="use a folder relative to the repository, such as .cache/wheels"),
]}

# deploy.yaml: the production server `fab deploy` puts the same stack on. Its
# own keys only; the app, worker and limits are devbox.yaml's, so what passes
# in the devbox is what runs there, and nothing of development reaches it.
DEPLOY_FILE = ROOT / "deploy.yaml"
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
SSH_TARGET = r"([a-z_][a-z0-9_-]*@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?"


def _app_servers(setting: Setting, value: list) -> list:
    if len(value) > MAX_NODES:
        raise SettingsError(f"{setting.key}: {len(value)} app servers; use at most {MAX_NODES}")
    for target in value:
        host = re.fullmatch(SSH_TARGET, target).group(2)
        if not _ipv4(host):
            raise SettingsError(f"{setting.key}: {target!r} is not at an IPv4 address (the front's nginx and the "
                                "firewalls name it); use its address on the network it shares with the server")
    if len(set(value)) < len(value):
        raise SettingsError(f"{setting.key}: an app server is listed twice; list each once")
    return value


def _ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def _some(setting: Setting, value: list) -> list:
    if not value:
        raise SettingsError(f"{setting.key}: empty; {setting.fix}")
    return [name.lower() for name in value]


DEPLOY_SETTINGS = {setting.key: setting for setting in [
    Setting("server", "admin@203.0.113.10", "the server, as ssh reaches it: `[user@]host[:port]`; root, or a user "
            "with sudo. Debian 12 or Ubuntu 24.04, with nothing of devbox on it beforehand", pattern=SSH_TARGET,
            fix="set it to your server's SSH address, such as admin@203.0.113.10"),
    Setting("ssh_key", "", "a private key file for it; empty: ssh's own (agent, ~/.ssh)", required=False,
            pattern=r"([^\0\n]*)", fix="name a key file, or leave it empty"),
    Setting("known_hosts", "", "the known_hosts file the server's host key must be in (ssh's own way: "
            "`ssh` to it once and check the key); empty: `~/.ssh/known_hosts`", required=False,
            pattern=r"([^\0\n]*)", fix="name a known_hosts file, or leave it empty"),
    Setting("domains", ["example.com"], "the names the site answers to, each resolving to the server; the first "
            "names the certificate", pattern=HOST_NAME, fix="list the site's names, such as [example.com]",
            check=_some),
    Setting("acme.directory", LETS_ENCRYPT, "the ACME CA certbot orders the certificate from (Let's Encrypt's; "
            "its staging directory while trying things out)", required=False, pattern=r"https://[\w.:\[\]-]+(/[\w./~+-]*)?",
            fix=f"use an https URL such as {LETS_ENCRYPT}"),
    Setting("acme.email", "ops@example.com", "where the CA writes about the certificate (expiry, revocation)",
            pattern=r"[^@\s'\"]+@[A-Za-z0-9.-]+", fix="set it to an address of yours, such as ops@example.com"),
    Setting("acme.ca_bundle", "", "a CA file on this host (relative to the repository, or absolute) the "
            "directory's own HTTPS is checked against: a private ACME CA's (Pebble's in devbox's tests); empty: "
            "the system's", required=False, pattern=f"/?{RELATIVE_PATH}|",
            fix="name a PEM file, or leave it empty"),
    Setting("app_servers", [], "app servers, as ssh reaches them (`[user@]address[:port]`, IPv4 addresses on a "
            "network they share with the server): each runs one app instance, and `server` becomes their front "
            "(nginx, Redis, the certificate); empty: the server runs everything ([deploy](deploy.md))",
            required=False, pattern=SSH_TARGET, check=_app_servers,
            fix="list them as user@10.0.0.11, or leave the list empty"),
    Setting("front_address", "", "with app_servers: the server's own IPv4 address on the network it shares "
            "with them (they reach Redis there; their firewalls let in only it); empty: the address in `server`",
            required=False, pattern=r"(\d{1,3}\.){3}\d{1,3}|", fix="use an IPv4 address such as 10.0.0.10"),
    Setting("instances", 0, "app instances on the server; 0: one per core (with app_servers: one on each)",
            required=False, low=0, high=MAX_INSTANCES, fix=f"use 0 (one per core) or 1 to {MAX_INSTANCES}"),
    Setting("keep_releases", 5, "releases kept on the server for `fab rollback`", required=False, low=2, high=20),
    Setting("package_cache.apt", "", "an apt proxy the server installs Debian packages through; empty: its own "
            "sources", fix="use an URL such as http://10.0.5.1:3142, or leave it empty", **CACHE),
    Setting("package_cache.pip", "", "a PyPI index the server installs Python packages from; empty: PyPI",
            fix="use an URL such as http://10.0.5.1:3141/index/, or leave it empty", **CACHE),
]}
# Which file a table's keys live in, for the messages.
FILES = {id(SETTINGS): "devbox.yaml", id(DEPLOY_SETTINGS): "deploy.yaml"}


def _keys(prefix: str = "", table: dict = SETTINGS) -> dict[str, Setting]:
    """The keys of the mapping at ``prefix`` (``""``: the file, ``"app."``), each a setting or a mapping of them.
    ``table``: :data:`SETTINGS` (devbox.yaml) or :data:`DEPLOY_SETTINGS` (deploy.yaml)."""
    names = dict.fromkeys(key[len(prefix):].split(".")[0] for key in table if key.startswith(prefix))
    return {name: table.get(prefix + name) or _mapping_of(prefix + name, table) for name in names}


def _mapping_of(key: str, table: dict = SETTINGS) -> Setting:
    return Setting(key, {}, "", required=any(setting.required for setting in _keys(f"{key}.", table).values()))


def _get(raw: dict, key: str, table: dict = SETTINGS, **context: str) -> Any:
    """The checked value of ``key`` from ``raw``, the mapping it is in; its default if left out."""
    setting = table.get(key) or _mapping_of(key, table)
    value = raw.get(key.rpartition(".")[2])
    if value is None:  # left out, or nothing after it
        if setting.required:
            raise SettingsError(f"{key}: missing; add it to {FILES[id(table)]} (see the comments there)")
        return setting.default
    return setting.parse(value, **context)


def _get_all(raw: dict, key: str, table: dict = SETTINGS) -> dict:
    """The checked values of the mapping ``key`` (``paths``), by their own names."""
    mapping = _get(raw, key, table)
    return {name: _get(mapping, f"{key}.{name}", table) for name in _keys(f"{key}.", table)}


def check_keys(raw: dict, prefix: str = "", table: dict = SETTINGS) -> None:
    """Refuse a key devbox does not know, naming the closest known one: a typo
    must not be silently ignored."""
    known = _keys(prefix, table)
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            if dotted in MOVED and table is SETTINGS:
                raise SettingsError(f"{dotted}: no longer a setting; {MOVED[dotted]}")
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = f"did you mean {prefix}{close[0]}?" if close else f"see the comments in {FILES[id(table)]} for the keys"
            raise SettingsError(f"{dotted}: unknown setting; {hint}")
        if dotted not in table and isinstance(value, dict):
            check_keys(value, f"{dotted}.", table)


def json_schema(prefix: str = "") -> dict:
    """The JSON Schema of devbox.yaml (or of its mapping at ``prefix``), for editors: devbox.schema.json."""
    keys = _keys(prefix)
    schema = {"type": "object", "properties": {}, "additionalProperties": False,
              "required": [name for name, setting in keys.items() if setting.required]}
    for name, setting in keys.items():
        key = prefix + name
        schema["properties"][name] = setting.schema() if key in SETTINGS else \
            {**json_schema(f"{key}."), "type": setting.json_type()}
    if not prefix:
        schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "devbox.yaml",
                  "description": "devbox's settings: docs/settings.md", **schema}
    return schema


def docs_table() -> str:
    """The table of docs/settings.md: every key, its default (a required one's: the value devbox ships), its meaning."""
    rows = ["| key | value | meaning |", "|---|---|---|"]
    for setting in SETTINGS.values():
        value = setting.default if isinstance(setting.default, str) and setting.default else json.dumps(setting.default)
        meaning = "; ".join(filter(None, [setting.doc.replace("|", "\\|"), setting.range()]))
        rows.append(f"| `{setting.key}` | `{value}`{' (required)' if setting.required else ''} | {meaning} |")
    return "\n".join(rows)


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


def _app(raw: dict, root: Path, shared: str | None = None) -> dict:
    """The app section with defaults filled in and its paths made relative to the repository."""
    app = _get(raw, "app")
    static = _get(app, "app.static")
    folder = _get(app, "app.folder")
    if not (root / folder).is_dir():
        raise SettingsError(f"app.folder: {folder!r} is not a folder in the repository; put your app there "
                            "or set app.folder to where it is")
    requirements = _get(app, "app.requirements", folder=folder)
    static_folder = _get(static, "app.static.folder", folder=folder)
    return {
        "folder": folder,
        "wsgi": _get(app, "app.wsgi"),
        "requirements": f"{folder}/{requirements}",
        # With the files it includes: what the guest's venv and the wheels follow.
        "requirement_files": requirement_files(root / folder / requirements, root),
        "static": {"folder": f"{folder}/{static_folder}", "url": _get(static, "app.static.url")},
        "writable": _writable(_get(app, "app.writable", folder=folder), folder, root, shared),
        "env": _get(app, "app.env"),
    }


def _writable(folders: list[str], folder: str, root: Path, shared: str | None = None) -> list[str]:
    """The folders of the app the guest may write (the rest of the synced folder
    is read-only for it), relative to the repository. Each lies inside the app's
    folder, away from everything devbox itself runs on the host; on a server,
    a release's are links into ``shared``, which the server keeps."""
    found, top = [], folder.split("/")[0]
    for relative in folders:
        path = root / folder / relative
        # A link could lead out of the app's folder, to files host root runs.
        target = path.resolve()
        if path.exists() and not target.is_relative_to((root / folder).resolve()) \
                and not (shared and target.is_relative_to(shared)):
            raise SettingsError(f"app.writable: {relative!r} leads outside {folder}/; list a real folder inside it")
        if top in HOST_CODE:
            raise SettingsError(f"app.writable: {folder}/{relative} is in {top}/, code the host runs; "
                                "keep writable folders in your app's folder")
        if path.exists() and not path.is_dir():
            raise SettingsError(f"app.writable: {relative!r} is a file; list folders only")
        found.append(f"{folder}/{relative}")
    return found


def _instances(raw: dict) -> tuple[int, str, int]:
    """How many app instances, how nginx reaches them, and on how many app guests."""
    instances, bind, nodes = (_get(raw, key) for key in ("instances", "app_bind", "nodes"))
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


def fixed_mac(address: str) -> str:
    """The MAC of the guest at a fixed address: 02:00 and the address's octets
    (locally administered). A guest made again is found at once, and the
    bridge lets no other claim the address (provision/host/network.sh)."""
    return "02:00:" + ":".join(f"{int(octet):02x}" for octet in address.split("."))


def fixed_addresses(network: str = NODE_NETWORK, block: int = 0) -> list[str]:
    """The fixed addresses of a devbox's guests (its address block): the front's, then one per app guest."""
    hosts = list(ipaddress.ip_network(network).hosts())
    first = FIRST_NODE_HOST - 1 + block * (MAX_NODES + 1)
    return [str(hosts[first + k]) for k in range(MAX_NODES + 1)]


def address_block(root: Path = ROOT) -> int:
    """This devbox's address block: $DEVBOX_ADDRESS_BLOCK (a guest's provisioner
    gets it so), else the one its Vagrant folder claimed; 0 before any."""
    value = os.environ.get("DEVBOX_ADDRESS_BLOCK")
    if value is None:
        dotfile = Path(os.environ.get("VAGRANT_DOTFILE_PATH") or ".vagrant")
        try:
            value = (root / dotfile / BLOCK_FILE).read_text().strip()
        except OSError:
            return 0
    if not (value.isdigit() and int(value) < ADDRESS_BLOCKS):
        raise SettingsError(f"address block {value!r} (in the Vagrant folder's {BLOCK_FILE}) is not 0 to "
                            f"{ADDRESS_BLOCKS - 1}; delete that file and run vagrant up")
    return int(value)


def _guests(s: dict, addresses: list[str] | None = None) -> dict:
    """Vagrant's machines (or a deploy's servers, at ``addresses``) and what each
    runs: with nodes: 0 one guest runs everything; else the front runs nginx and
    Redis and app guest K runs instance K. Each instance keeps its number (unit
    NAME@K) wherever it runs."""
    all_instances = list(range(1, s["instances"] + 1))
    addresses = addresses or fixed_addresses(block=s["address_block"])
    # The front has its address with nodes: 0 too, so that app guests can join
    # it without a restart.
    if not s["nodes"]:
        guests = {FRONT: {"role": "all", "address": addresses[0], "instances": all_instances}}
    else:
        guests = {FRONT: {"role": "front", "address": addresses[0], "instances": []}}
        for k in all_instances:
            guests[f"app{k}"] = {"role": "app", "address": addresses[k], "instances": [k]}
    for guest in guests.values():
        guest["mac"] = fixed_mac(guest["address"])
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
    s["redis_port"] = REDIS_PORT


def validate(raw: Any, root: Path = ROOT, shared: str | None = None, addresses: list[str] | None = None) -> dict:
    """Return a checked copy of the settings, or raise SettingsError naming the first bad key."""
    if not isinstance(raw, dict):
        raise SettingsError("devbox.yaml: missing or not a mapping; see the comments in devbox.yaml")
    check_keys(raw)
    s = {key: _get(raw, key) for key in ("name", "lan", "host_ip", "allowed_hosts", "host_port", "guest_port",
                                          "app_port", "tls", "https_host_port", "https_guest_port")}
    if not ipaddress.ip_address(s["host_ip"]).is_loopback and not s["lan"]:
        raise SettingsError(f"host_ip: {s['host_ip']} serves the devbox beyond this machine; use 127.0.0.1, or set "
                            "lan: true if that is what you want (and name it in allowed_hosts)")
    # Every Host a browser may send: anything else is refused by nginx (DNS rebinding).
    s["allowed_hosts"] = [*LOCAL_NAMES, *(name.lower() for name in s["allowed_hosts"] if name.lower() not in LOCAL_NAMES)]
    if s["guest_port"] == s["app_port"]:
        raise SettingsError("app_port: equals guest_port; nginx and gunicorn need different ports")
    if s["https_guest_port"] in (s["guest_port"], s["app_port"]):
        raise SettingsError("https_guest_port: equals guest_port or app_port; use a port of its own, such as 5443")
    if s["https_host_port"] == s["host_port"]:
        raise SettingsError("https_host_port: equals host_port; HTTP and HTTPS need a host port each, such as 8443")
    s["instances"], s["app_bind"], s["nodes"] = _instances(raw)
    # The app unit is a template: one gunicorn per instance, each with one worker.
    s["app_units"] = [f"{s['name']}@{i}.service" for i in range(1, s["instances"] + 1)]
    s["route_cookie"] = ROUTE_COOKIE
    s["app_socket_dir"] = f"/run/{s['name']}-app"
    # nginx's logs: in a folder of root's, never in one the app's user may
    # change (nginx's master reopens them as root).
    s["nginx_logs"] = f"/var/log/nginx/{s['name']}"
    s["address_block"] = address_block(root)
    s["guests"] = _guests(s, addresses)
    s["app_addresses"] = [g["address"] for g in s["guests"].values() if g["role"] == "app"]
    pattern = (f"unix:{s['app_socket_dir']}/{{}}.sock" if s["app_bind"] == "unix" else f"127.0.0.1:{s['app_port']}")
    s["app_bind_unit"] = pattern.format("%i")  # systemd puts the instance number in
    if s["nodes"]:  # each app guest's gunicorn on its own address
        s["app_binds"] = [f"{g['address']}:{s['app_port']}" for g in s["guests"].values() if g["role"] == "app"]
    else:
        s["app_binds"] = [pattern.format(i) for i in range(1, s["instances"] + 1)]
    # Whose X-Forwarded-Proto gunicorn believes (HTTPS behind nginx): nginx's
    # address alone; unix sockets are nginx's by their folder's mode.
    s["front_address"] = s["guests"][FRONT]["address"]
    s["forwarded_allow_ips"] = s["front_address"] if s["nodes"] else "127.0.0.1,::1"
    # Which guest each instance runs on, for the host's commands (fab reload, the tests).
    s["instance_guests"] = [name for name, g in s["guests"].items() for _ in g["instances"]]
    for g in s["guests"].values():
        g["units"] = [s["app_units"][k - 1] for k in g["instances"]]
    _this_guest(s)
    s["server"], s["worker"] = _get(raw, "server"), _get(raw, "worker")
    if s["server"] == "uwsgi" and s["worker"] != UWSGI_WORKER:
        raise SettingsError(f"server: uwsgi runs the app on gevent, and worker is {s['worker']}; set worker: "
                            f"{UWSGI_WORKER}, or server: gunicorn")
    s["worker_class"] = WORKERS[s["worker"]]
    s["preload"] = s["server"] == "gunicorn" and s["worker"] in PRELOAD_WORKERS
    s.update({key: _get(raw, key) for key in ("dev_mode", "memory", "max_clients", "cpus")})
    # gthread: a thread per client; its connection limit counts them too, plus
    # room for kept-alive HTTP connections.
    threaded = s["worker"] == "gthread"
    s["threads"] = s["max_clients"] if threaded else 1
    s["worker_connections"] = s["max_clients"] * (2 if threaded else 1)
    s["provider"] = _get(raw, "provider")
    s["boxes"] = _get_all(raw, "boxes")
    s["paths"] = _get_all(raw, "paths")
    # The certificate and key the host made for the guest: root's alone there (nginx's master reads them).
    s["tls_file"] = f"{s['paths']['config']}/tls/site.pem"
    s["tls_dhparam"] = TLS_DHPARAM
    s["tls_certificate"] = s["tls_certificate_key"] = s["tls_file"]
    s["production"] = s["hsts"] = False
    # Each template and the file it becomes in the guest or on the server:
    # provision/guest/lib.sh's render writes it, fab deploy --check compares it.
    name, config, units = s["name"], s["paths"]["config"], "/etc/systemd/system"
    s["rendered"] = {
        "nginx/site.conf.j2": f"/etc/nginx/sites-available/{name}.conf",
        "app/app@.service.j2": f"{units}/{name}@.service",
        **({"app/uwsgi.ini.j2": f"{config}/uwsgi.ini"} if s["server"] == "uwsgi" else {}),
        "app/app.env.j2": f"{config}/app.env",
        **({"refresh/refresh.service.j2": f"{units}/{name}-refresh.service"} if s["dev_mode"] else {}),
        "logs/logrotate.conf.j2": f"{config}/logrotate.conf",
        "logs/logrotate.service.j2": f"{units}/{name}-logrotate.service",
        "logs/logrotate.timer.j2": f"{units}/{name}-logrotate.timer",
    }
    s["max_body_size"] = _get(raw, "max_body_size")
    s["max_body_bytes"] = _size_bytes(s["max_body_size"])
    s["wheelhouse"] = _get(raw, "wheelhouse")
    s["app"] = _app(raw, root, shared)
    # What a copied synced folder (rsync: libvirt) leaves out: the host's own
    # state (folders, or links to them: a .venv may be one), and the app's
    # writable folders, which are the guest's there.
    s["rsync_exclude"] = [".git", ".venv", ".cache", ".vagrant", *(f"/{f}/" for f in s["app"]["writable"])]
    s["package_cache"] = _get_all(raw, "package_cache")
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


def _override_worker(raw: dict, value: str) -> None:
    if value not in WORKERS:
        raise SettingsError(f"DEVBOX_WORKER: {value!r} is not a worker; use one of {', '.join(WORKERS)} or unset it")
    raw["worker"] = value


def _override_server(raw: dict, value: str) -> None:
    if value not in SERVERS:
        raise SettingsError(f"DEVBOX_SERVER: {value!r} is not a server; use one of {', '.join(SERVERS)} or unset it")
    raw["server"] = value
    if value == "uwsgi":
        raw["worker"] = UWSGI_WORKER


def _override_number(key: str):
    def override(raw: dict, value: str) -> None:
        if not value.isdigit():
            setting = SETTINGS[key]
            raise SettingsError(f"DEVBOX_{key.upper()}: {value!r} is not a number; use {setting.range()} or unset it")
        raw[key] = int(value)
    return override


# Variable -> what it does to the raw settings: $DEVBOX_WORKER for `worker`,
# $DEVBOX_SERVER for `server` (uwsgi with its worker, gevent),
# $DEVBOX_APP (a folder) for the whole `app` section with the default app
# settings, $DEVBOX_INSTANCES for `instances`, $DEVBOX_APP_BIND for `app_bind`,
# $DEVBOX_HOST_PORT for `host_port`, $DEVBOX_HTTPS_HOST_PORT for `https_host_port`,
# $DEVBOX_NODES for `nodes`, $DEVBOX_PROVIDER for `provider`, $DEVBOX_APT_CACHE
# and $DEVBOX_PIP_CACHE for `package_cache`.
OVERRIDES = {
    "DEVBOX_WORKER": _override_worker,
    "DEVBOX_SERVER": _override_server,
    "DEVBOX_PROVIDER": lambda raw, value: raw.update(provider=value),
    "DEVBOX_APP": lambda raw, value: raw.update(app={"folder": value}),
    "DEVBOX_INSTANCES": _override_number("instances"),
    "DEVBOX_APP_BIND": lambda raw, value: raw.update(app_bind=value),
    # A second devbox beside the first (the test run's libvirt VM): another port.
    "DEVBOX_HOST_PORT": _override_number("host_port"),
    "DEVBOX_HTTPS_HOST_PORT": _override_number("https_host_port"),
    "DEVBOX_NODES": _override_number("nodes"),
    "DEVBOX_APT_CACHE": lambda raw, value: raw.update(package_cache={**(raw.get("package_cache") or {}), "apt": value}),
    "DEVBOX_PIP_CACHE": lambda raw, value: raw.update(package_cache={**(raw.get("package_cache") or {}), "pip": value}),
}


def overrides() -> dict[str, str]:
    """The variables of :data:`OVERRIDES` set here: the guest must be provisioned with the same."""
    return {name: os.environ[name] for name in OVERRIDES if os.environ.get(name)}


def read_yaml(path: Path) -> Any:
    """The YAML in ``path``, or one line saying what is wrong with the file."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        fix = "copy devbox.yaml from the repository" if path.name == "devbox.yaml" else \
            "copy deploy.yaml from devbox's repository and fill in your server"
        raise SettingsError(f"{path}: not found; {fix}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SettingsError(f"{path}: not valid YAML{where}; fix the syntax there") from None


def load(path: str | os.PathLike | None = None) -> dict:
    """Read and check the settings file (``$DEVBOX_SETTINGS`` or ``devbox.yaml`` at the repo root).

    Variables stand in for a setting without editing the file (:data:`OVERRIDES`);
    the test runner uses them to try every worker class, a second app and
    several instances. The guest is provisioned with the same ones.
    On a server (``$DEVBOX_PROFILE`` production, which `fab deploy` sets) the
    settings are production's instead (:func:`production`), with no override.
    """
    path = Path(path or os.environ.get("DEVBOX_SETTINGS") or DEFAULT_FILE)
    raw = read_yaml(path)
    if os.environ.get("DEVBOX_PROFILE") == "production":
        return production(raw, load_deploy(path.parent / DEPLOY_FILE.name), path.parent)
    if isinstance(raw, dict):
        for variable, value in overrides().items():
            OVERRIDES[variable](raw, value)
    return validate(raw)


def load_deploy(path: str | os.PathLike | None = None) -> dict:
    """The checked deploy settings (``$DEVBOX_DEPLOY`` or ``deploy.yaml`` beside devbox.yaml);
    a bad one's message names the file."""
    path = Path(path or os.environ.get("DEVBOX_DEPLOY") or DEPLOY_FILE)
    raw = read_yaml(path)
    try:
        return _deploy(raw, path)
    except SettingsError as exc:
        raise SettingsError(f"{path.name}: {exc}") from None


def _deploy(raw: Any, path: Path) -> dict:
    if not isinstance(raw, dict):
        raise SettingsError("missing or not a mapping; see the comments in deploy.yaml")
    check_keys(raw, table=DEPLOY_SETTINGS)
    d = {key: _get(raw, key, DEPLOY_SETTINGS) for key in ("server", "ssh_key", "known_hosts", "domains", "app_servers",
                                                         "front_address", "instances", "keep_releases")}
    d["acme"] = _get_all(raw, "acme", DEPLOY_SETTINGS)
    d["package_cache"] = _get_all(raw, "package_cache", DEPLOY_SETTINGS)
    bundle = d["acme"]["ca_bundle"]
    if bundle and not (path.parent / bundle).is_file():
        raise SettingsError(f"acme.ca_bundle: {bundle!r} is not a file (relative to {path.name}'s folder, or "
                            "absolute); name a PEM file, or leave it empty")
    d["acme"]["ca_bundle_file"] = str(path.parent / bundle) if bundle else ""
    # Each machine the deploy reaches, by its name in the settings' guests:
    # the server (the front, with app servers), then app server K as appK.
    d["ssh"] = {FRONT: _ssh_target("server", d["server"])}
    d["ssh"].update((f"app{k}", _ssh_target("app_servers", target)) for k, target in enumerate(d["app_servers"], 1))
    if d["app_servers"]:
        d["front_address"] = d["front_address"] or d["ssh"][FRONT]["host"]
        if not _ipv4(d["front_address"]):
            raise SettingsError(f"front_address: missing, and server ({d['server']}) is not an IPv4 address; set it "
                                "to the server's address on the network it shares with the app servers")
        if d["instances"] not in (0, len(d["app_servers"])):
            raise SettingsError(f"instances: each app server runs one instance ({len(d['app_servers'])} in all); "
                                "leave instances at 0")
    return d


def _ssh_target(key: str, target: str) -> dict:
    """``[user@]host[:port]`` as its parts (root and 22 by default)."""
    user, host, port = re.fullmatch(SSH_TARGET, target).groups()
    ssh = {"name": target, "user": (user or "root@")[:-1], "host": host.strip("[]"), "port": int((port or ":22")[1:])}
    if not 1 <= ssh["port"] <= 65535:
        raise SettingsError(f"{key}: port {port[1:]} in {target!r} is not a port; use 22 or the machine's SSH port")
    return ssh


# Where a server keeps the app: releases/ID (one per deploy), `current` (a
# link to the live one), shared/ (app.writable, kept across releases).
SERVER_ROOT = "/srv/{name}"


def production(dev_raw: Any, deploy: dict, root: Path = ROOT) -> dict:
    """The settings of a server: devbox.yaml's app, worker and limits, and
    production's own for the rest: the server's names on 80 and 443, a
    certificate from the ACME CA, no development mode, instances per core."""
    if not isinstance(dev_raw, dict):
        raise SettingsError("devbox.yaml: missing or not a mapping; see the comments in devbox.yaml")
    name = _get(dev_raw, "name")  # validate() below checks the rest, unknown keys included
    home = SERVER_ROOT.format(name=name)
    shared = f"{home}/shared"
    cores = min(os.cpu_count() or 1, MAX_INSTANCES)
    # With app servers, the roles of the devbox's app guests (nodes): the
    # server is their front, and app server K runs instance K.
    apps = len(deploy["app_servers"])
    raw = {**dev_raw, "host_ip": "0.0.0.0", "lan": True, "allowed_hosts": deploy["domains"],
           "host_port": 80, "guest_port": 80, "tls": True, "https_host_port": 443, "https_guest_port": 443,
           "instances": apps or deploy["instances"] or cores, "app_bind": "unix", "nodes": apps, "dev_mode": False,
           "provider": "", "paths": {**(dev_raw.get("paths") or {}), "synced": f"{home}/current"}}
    addresses = [deploy["front_address"], *(deploy["ssh"][f"app{k}"]["host"] for k in range(1, apps + 1))]
    s = validate(raw, root=root, shared=shared, addresses=addresses if apps else None)
    s["package_cache"] = deploy["package_cache"]
    s.update(production=True, hsts="max-age=63072000", server_root=home, releases=f"{home}/releases", shared=shared,
             domains=deploy["domains"], acme=deploy["acme"], keep_releases=deploy["keep_releases"],
             ssh_port=deploy["ssh"][s["guest"]]["port"], acme_webroot=f"/var/lib/{name}-acme",
             # What the certificate was last ordered for, and where that is
             # kept: another CA or other names order it again.
             acme_order={"file": f"{s['paths']['config']}/acme-order",
                         "text": f"{deploy['acme']['directory']} {' '.join(deploy['domains'])}"},
             tls_certificate=f"/etc/letsencrypt/live/{name}/fullchain.pem",
             tls_certificate_key=f"/etc/letsencrypt/live/{name}/privkey.pem")
    # HTTPS once certbot has the certificate (provision/guest/acme/acme.sh);
    # until then plain HTTP serves the CA's challenges.
    s["tls"] = Path(s["tls_certificate"]).is_file()
    return s


def provisioner_env(settings: dict, guest: str) -> dict[str, str]:
    """The environment the guest's provisioner (provision/guest/provision.sh) runs with.

    What stands in for a setting on the host ($DEVBOX_WORKER and the like) is
    passed along, so the guest renders for the same worker, app and instances;
    and the apt cache, which is needed before the guest can read devbox.yaml.
    """
    env = {"DEVBOX_ROOT": settings["paths"]["synced"], "DEVBOX_GUEST": guest,
           "DEVBOX_ADDRESS_BLOCK": str(settings["address_block"])}
    if settings["package_cache"]["apt"]:
        env["DEVBOX_PACKAGE_CACHE_APT"] = settings["package_cache"]["apt"]
    # The guest's loader cannot tell a libvirt guest (no .vagrant there): the caches go along.
    for key, variable in (("apt", "DEVBOX_APT_CACHE"), ("pip", "DEVBOX_PIP_CACHE")):
        if settings["package_cache"][key]:
            env[variable] = settings["package_cache"][key]
    return {**env, **overrides()}


def base_url(settings: dict, scheme: str = "http") -> str:
    """Where the browser reaches the devbox: http://localhost:<host_port>, or
    https://localhost:<https_host_port>."""
    if scheme == "https":
        return f"https://localhost:{settings['https_host_port']}"
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
        if (prefix, key) == ("DEVBOX_", "rendered"):  # TEMPLATE=FILE pairs: neither has a space
            lines.append(f"DEVBOX_RENDERED={shlex.quote(' '.join(f'{t}={f}' for t, f in value.items()))}")
        elif isinstance(value, dict):
            lines.append(shell_exports(value, f"{prefix}{key.upper()}_"))
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if isinstance(value, list):
                text = " ".join(value)  # paths checked against RELATIVE_PATH: no spaces
            lines.append(f"{prefix}{key.upper()}={shlex.quote(text)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    # From SETTINGS alone: they come out even when devbox.yaml is broken.
    if "--docs" in argv:
        print(docs_table())
        return 0
    if "--schema" in argv:
        print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
        return 0
    if argv[:1] == ["--address-blocks"]:  # for provision/vagrant/settings.rb: how many, and the file naming one
        print(ADDRESS_BLOCKS, BLOCK_FILE)
        return 0
    if argv[:1] == ["--fixed-guests"]:  # for provision/host/network.sh: "ADDRESS MAC" lines, every block's
        addresses = [a for block in range(ADDRESS_BLOCKS) for a in fixed_addresses(*argv[1:2], block=block)]
        print("\n".join(f"{address} {fixed_mac(address)}" for address in addresses))
        return 0
    try:
        settings = load()
        if "--shell" in argv:
            print(shell_exports(settings))
        if "--json" in argv:
            # The Vagrantfile runs the guest's provisioner with this environment.
            print(json.dumps({**settings, "provisioner_env": provisioner_env(settings, FRONT), "tls_leaf": str(TLS_LEAF)}))
        for key in (k for k in argv if not k.startswith("--")):
            print(lookup(settings, key))
    except SettingsError as exc:
        print(f"devbox.yaml: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
