"""Reach the guest from the host: its state through python-vagrant, a shell
through Fabric. Both are built on demand, never at import, so tools that
import this module work with no guest and no Vagrant installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request

from devbox.settings import ROOT


class GuestError(Exception):
    """The guest cannot be reached; the message says why and what to run."""


def vagrant(quiet: bool = False):
    """A python-vagrant handle on this repository's Vagrantfile; ``quiet`` hides Vagrant's own output."""
    if shutil.which("vagrant") is None:
        raise GuestError("vagrant is not installed; run ./setup.sh (bare Debian) or install Vagrant")
    import vagrant as python_vagrant  # imported late: fab -l must work without it

    return python_vagrant.Vagrant(root=str(ROOT), quiet_stdout=quiet, quiet_stderr=quiet)


def state() -> tuple[str, str]:
    """(state, provider) of the guest, e.g. ('running', 'lxc') or ('not_created', 'lxc')."""
    status = vagrant(quiet=True).status()
    return status[0].state, status[0].provider


def connection():
    """A Fabric Connection to the running guest, from `vagrant ssh-config`."""
    from fabric import Connection

    try:
        conf = vagrant(quiet=True).conf()
    except subprocess.CalledProcessError:
        # Asked only now: each vagrant call costs a second of Ruby start-up.
        current, _ = state()
        if current == "not_created":
            raise GuestError("the guest is not created; run fab up") from None
        raise GuestError(f"the guest is {current.replace('_', ' ')}; run fab up") from None
    return Connection(
        host=conf["HostName"],
        user=conf["User"],
        port=int(conf["Port"]),
        connect_kwargs={"key_filename": conf["IdentityFile"].strip('"')},
        connect_timeout=10,
    )


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; return that, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def health(base_url: str, timeout: float = 2.0) -> dict:
    """The app's /healthz answer through ``base_url``; raises OSError when it does not answer."""
    with urllib.request.urlopen(f"{base_url}/healthz", timeout=timeout) as response:
        return json.load(response)


def health_or_none(base_url: str) -> dict | None:
    """The /healthz answer, or None while the app does not answer (down, restarting, a 503 page)."""
    try:
        return health(base_url)
    except (OSError, ValueError):
        return None
