"""Reach the guest from the host: its state through python-vagrant, a shell
through Fabric, devbox's health of the app through the forwarded port. The
first two are built on demand, never at import, so tools that import this
module work with no guest and no Vagrant installed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from devbox import settings as devbox_settings
from devbox.host import sync, tls
from devbox.host.terminal import printable
from devbox.settings import FRONT, ROOT


# Where ssh_configs keeps Vagrant's answer, in Vagrant's folder for the guests.
SSH_CACHE = "devbox-ssh-config.json"
# The devbox is on this machine: a proxy from the environment (http_proxy)
# must not stand between the host and its own forwarded port.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class GuestError(Exception):
    """The guest cannot be reached; the message says why and what to run."""


def vagrant(quiet: bool = False):
    """A python-vagrant handle on this repository's Vagrantfile; ``quiet`` hides Vagrant's own output."""
    if shutil.which("vagrant") is None:
        raise GuestError("vagrant is not installed; run ./setup.sh (bare Debian) or install Vagrant")
    import vagrant as python_vagrant  # imported late: fab -l must work without it

    return python_vagrant.Vagrant(root=str(ROOT), quiet_stdout=quiet, quiet_stderr=quiet)


# Each provider's words for a guest that is off, or paused, as devbox says them
# (fab's answers are the same whichever provider runs the guest).
STATES = {"shutoff": "stopped", "poweroff": "stopped", "not_running": "stopped", "aborted": "stopped",
          "paused": "suspended", "saved": "suspended", "frozen": "suspended"}


def states() -> dict[str, tuple[str, str]]:
    """Each guest's (state, provider), e.g. {'default': ('running', 'lxc')}."""
    return {status.name: (STATES.get(status.state, status.state), status.provider)
            for status in vagrant(quiet=True).status()}


def state(guest: str = FRONT) -> tuple[str, str]:
    """(state, provider) of a guest, e.g. ('running', 'lxc'), ('stopped', 'libvirt') or ('not_created', 'lxc')."""
    status = vagrant(quiet=True).status(vm_name=guest)[0]
    return STATES.get(status.state, status.state), status.provider


def _dotfile() -> Path:
    """Vagrant's folder for this repository's guests (VAGRANT_DOTFILE_PATH, as Vagrant reads it)."""
    return ROOT / (os.environ.get("VAGRANT_DOTFILE_PATH") or ".vagrant")


def _machines() -> list:
    """What Vagrant writes anew when it makes, or destroys, a guest: each machine's id and key."""
    machines = _dotfile() / "machines"
    return sorted([str(path.relative_to(machines)), path.stat().st_mtime_ns]
                  for path in machines.glob("*/*/*") if path.name in ("id", "private_key"))


# Providers whose synced folder is a copy the host keeps (rsync, in the
# Vagrantfile); every other mounts the host's folder.
COPYING_PROVIDERS = ("libvirt",)


def made_by(guest: str) -> str | None:
    """The provider Vagrant made a guest with, from the host's own records
    (its machine folder): never from anything the guest says."""
    made = [path.parent.name for path in (_dotfile() / "machines" / guest).glob("*/id") if path.stat().st_size]
    return made[0] if made else None


def ssh_configs(guest: str | None = None, cached: bool = True) -> dict[str, dict]:
    """`vagrant ssh-config` of one guest, or of every guest in one call:
    {name: {'HostName': ..., ...}}. Each call costs a second or more of Ruby
    start-up, so the answer for every guest is kept beside Vagrant's machine
    files and used while they are unchanged (``cached``); a connection made
    from it that fails asks Vagrant again (:func:`connection`)."""
    cache, machines = _dotfile() / SSH_CACHE, _machines()
    if cached:
        try:
            saved = json.loads(cache.read_text())
            if saved["machines"] == machines and (guest is None or guest in saved["configs"]):
                return saved["configs"] if guest is None else {guest: saved["configs"][guest]}
        except (OSError, ValueError, KeyError):
            pass
    configs, current = {}, None
    for line in vagrant(quiet=True).ssh_config(vm_name=guest).splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "Host":
            current = configs.setdefault(value, {})
        elif current is not None and key:
            current[key] = value.strip().strip('"')
    if guest is None and machines:
        partial = cache.with_suffix(f".{os.getpid()}")
        partial.write_text(json.dumps({"machines": machines, "configs": configs}))
        partial.replace(cache)
    return configs


def _connect(conf: dict, connect_timeout: float = 10):
    from fabric import Connection

    return Connection(host=conf["HostName"], user=conf["User"], port=int(conf["Port"]),
                      connect_kwargs={"key_filename": conf["IdentityFile"]}, connect_timeout=connect_timeout)


def _opened(conf: dict):
    """A connection from a kept ssh-config, already open; None if that no longer reaches the guest."""
    conn = _connect(conf, connect_timeout=3)
    try:
        conn.open()
    except Exception:  # noqa: BLE001  refused, unreachable, another host key or guest: ask Vagrant
        conn.close()
        return None
    conn.connect_timeout = 10
    return conn


def connection(guest: str = FRONT):
    """A Fabric Connection to a running guest (the front unless named), from `vagrant ssh-config`."""
    try:
        return _opened(ssh_configs(guest)[guest]) or _connect(ssh_configs(guest, cached=False)[guest])
    except subprocess.CalledProcessError:
        # Asked only now: each vagrant call costs a second of Ruby start-up.
        current, _ = state(guest)
        where = "guest" if guest == FRONT else f"app guest {guest}"
        if current == "not_created":
            raise GuestError(f"the {where} is not created; run fab up") from None
        raise GuestError(f"the {where} is {current.replace('_', ' ')}; run fab up") from None


class Guests:
    """Connections to the devbox's guests, made when first needed (all of them
    at once, from one `vagrant ssh-config`): the front (nginx, Redis) and the
    guest of each app instance, which is the front too with nodes: 0.
    ``configure`` is applied to each new connection."""

    def __init__(self, settings: dict, configure=None):
        self.settings, self.configure = settings, configure or (lambda conn: conn)
        self.connections, self.configs, self._copies = {}, {}, None

    def __getitem__(self, guest: str):
        if guest not in self.connections:
            opened = None
            try:
                configs = ssh_configs()  # a guest that is down fails them all: asked alone below
                if guest in configs:
                    opened = _opened(configs[guest])
                    if opened is None:
                        configs = ssh_configs(cached=False)  # kept, but no longer right
            except subprocess.CalledProcessError:
                configs = {}
            for name, conf in configs.items():
                self.configs.setdefault(name, conf)
                conn = opened if name == guest and opened else _connect(conf)
                self.connections.setdefault(name, self.configure(conn))
            if guest not in self.connections:
                self.connections[guest] = self.configure(connection(guest))
                self.configs[guest] = ssh_configs(guest)[guest]
        return self.connections[guest]

    def copies(self) -> list[str]:
        """The guests whose synced folder is a copy of the host's (devbox.host.sync): decided
        on the host, by the provider that made each. A guest that said so itself could
        have host root copy the whole tree in, whatever its mount hides."""
        if self._copies is None:
            names = dict.fromkeys([FRONT, *self.settings["instance_guests"]])
            self._copies = [name for name in names if made_by(name) in COPYING_PROVIDERS]
        return self._copies

    def copy_files(self, paths: list[str]) -> None:
        """Bring these saved files into every guest that holds a copy."""
        for name in self.copies():
            sync.copy_files(self.settings, self[name], paths)

    def copy_tree(self) -> None:
        """Bring the whole tree into every guest that holds a copy (before a reload or provisioning)."""
        for name in self.copies():
            sync.copy_tree(self.settings, self.configs[name])

    def stale_writable(self) -> list[str]:
        """The app's writable folders that a guest running the app does not see
        read-write as the host has them now (devbox.host.sync.stale_writable)."""
        stale = []
        for name in dict.fromkeys(self.settings["instance_guests"]):
            stale += [f for f in sync.stale_writable(self.settings, self[name]) if f not in stale]
        return stale

    @property
    def front(self):
        return self[FRONT]

    def of_instance(self, instance: int):
        """The connection to the guest that runs app instance ``instance`` (from 1)."""
        return self[self.settings["instance_guests"][instance - 1]]

    def app_guests(self) -> list:
        """(guest name, connection) of every guest that runs app instances."""
        return [(name, self[name]) for name in dict.fromkeys(self.settings["instance_guests"])]

    def units(self, guest: str) -> str:
        """The app units a guest runs, for one systemctl command."""
        return " ".join(self.settings["guests"][guest]["units"])

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()


def provision_command(settings: dict, *steps: str, guest: str = FRONT, extra: dict | None = None) -> str:
    """The command that runs provisioning steps in a guest, as root, as Vagrant does."""
    root = settings["paths"]["synced"]
    env = {**devbox_settings.provisioner_env(settings, guest), **(extra or {})}
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"sudo {assignments} bash {shlex.quote(root + '/provision/guest/provision.sh')} {' '.join(steps)}"


@contextlib.contextmanager
def certificate_handed(conn, settings: dict):
    """With tls, the host's certificate for the guest (made or renewed first)
    uploaded into a folder of the SSH user's alone, as the provisioner's
    DEVBOX_TLS_UPLOAD, which moves it to root's; the folder goes after."""
    if not settings["tls"]:
        yield {}
        return
    leaf = tls.leaf(settings)
    folder = conn.run("mktemp -d", hide=True).stdout.strip()
    try:
        conn.put(str(leaf), f"{folder}/site.pem")
        yield {"DEVBOX_TLS_UPLOAD": f"{folder}/site.pem"}
    finally:
        conn.run(f"rm -rf {shlex.quote(folder)}", hide=True, warn=True)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll ``predicate`` until it returns something truthy; return that, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def instance_path(instance: int) -> str:
    """Where nginx answers one app instance's health, past its balancer."""
    return f"/_devbox/instances/{instance}/health"


def instance_healths(settings: dict) -> dict[int, dict | None]:
    """Every app instance's health (None where nothing answers), each asked past nginx's balancer."""
    url = devbox_settings.base_url(settings)
    return {i: health_or_none(url, instance_path(i)) for i in range(1, settings["instances"] + 1)}


def health(base_url: str, timeout: float = 2.0, path: str = "/_devbox/health") -> dict:
    """devbox's health of the app's process (/_devbox/health) through ``base_url``.

    ``status`` is ``ok``, or ``error`` when the app's code failed to load (then
    ``error`` says what failed); ``version`` and ``boot_id`` say which code the
    worker runs. Raises OSError when nothing answers it: the guest is down, or
    the app is restarting and nginx shows its friendly page. ``path``: another
    health, such as one instance's (:func:`instance_path`).
    """
    try:
        with DIRECT.open(base_url + path, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code != 503 or exc.headers.get_content_type() != "application/json":
            raise
        body = json.load(exc)
    if "error" in body:  # the app's words, for a terminal
        body["error"] = printable(str(body["error"]))
    return body


def health_or_none(base_url: str, path: str = "/_devbox/health") -> dict | None:
    """The health, or None while nothing answers it (down, restarting, nginx's 503 page)."""
    try:
        return health(base_url, path=path)
    except (OSError, ValueError, http.client.HTTPException):  # an answer cut short (a worker killed) is none
        return None
