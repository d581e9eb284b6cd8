"""Reloads that confirm the new code, for any app: what `fab reload` and `fab watch` do.

The host hashes the app's code as the guest will (devbox.appcode), asks the
guest to reload every app instance gracefully, and waits until each one's
health, through the forwarded port, reports a new worker with exactly that
version. Then pages may be told to refresh through devbox's refresh hub.
"""

from __future__ import annotations

import json
import time
import urllib.request

from devbox import appcode
from devbox.host import guest as devbox_guest
from devbox.host.terminal import printable
from devbox.settings import ROOT, base_url


class ReloadError(Exception):
    """A reload did not bring the new code up; the message says what and what to do."""

    def __init__(self, message: str, log: str = ""):
        super().__init__(message)
        self.log = log


class LoadFailed(ReloadError):
    """The new worker runs, but the app's code raised while it was loaded."""


def expected_version(settings: dict) -> str:
    """The version a worker reports once it runs the host's files."""
    return appcode.version(ROOT / settings["app"]["folder"], ROOT / settings["app"]["static"]["folder"])


def live_templates(settings: dict, health: dict | None) -> list[str]:
    """The folders, relative to the repository, whose templates the running app
    re-reads by itself (``templates`` in its health, in development): saving
    one takes a page refresh and no reload."""
    folder = settings["app"]["folder"]
    return [f"{folder}/{template}" for template in (health or {}).get("templates", [])]


def render_nginx(settings: dict, conn) -> None:
    """Re-render nginx's site in the guest; `nginx -t` refuses a broken one and the old one keeps serving."""
    result = conn.run(devbox_guest.provision_command(settings, "nginx"), hide=True, warn=True)
    if result.failed:
        raise ReloadError("the nginx config is invalid (nginx's message above); the previous config keeps serving",
                          log=result.stderr.strip())


def check_same_app(settings: dict, health: dict) -> None:
    """The guest must run the app and worker these settings name: a guest provisioned
    with DEVBOX_APP or DEVBOX_WORKER and a host without them would wait in vain."""
    here = (settings["app"]["wsgi"], f"{settings['paths']['synced']}/{settings['app']['folder']}", settings["worker"])
    there = (health["app"], health["folder"], health["worker"])
    if here != there:
        raise ReloadError(f"the guest runs {there[0]} from {there[1]} ({there[2]} worker) but the settings here name "
                          f"{here[0]} from {here[1]} ({here[2]} worker); run fab provision to apply them, or set "
                          "the same DEVBOX_APP / DEVBOX_WORKER as when the guest was provisioned")


def same_worker(health: dict, before: dict | None) -> bool:
    """Whether ``health`` comes from the worker that answered ``before`` the reload."""
    return before is not None and health["boot_id"] == before["boot_id"]


def answered(health: dict | None, before: dict | None, expected: str) -> str:
    """What an instance that never showed the new code answered last, in a few words."""
    if not health:
        return "nothing answered it"
    if same_worker(health, before):
        return f"the worker from before the reload still answers, pid {health['pid']}"
    return f"a new worker answers with version {health['version']}, the files here are {expected}"


def reload_app(settings: dict, guests: devbox_guest.Guests, nginx: bool = False, timeout: float = 60,
               rolling: bool = False) -> tuple[float, dict]:
    """Reload every app instance gracefully (restart those that are down), on
    whichever guest each runs, optionally re-render nginx meanwhile, and wait
    until each instance answers with the new code through the forwarded port.
    All at once, or ``rolling``: one after another, each confirmed before the
    next. Returns (seconds, the first instance's health); raises ReloadError."""
    url = base_url(settings)
    before = devbox_guest.instance_healths(settings)
    instances = list(before)
    for health in filter(None, before.values()):
        check_same_app(settings, health)
    expected = expected_version(settings)
    started = time.monotonic()

    last = {}  # what each instance answered last: the error says why it was not the new code

    def new_code(instance):
        health = last[instance] = devbox_guest.health_or_none(url, devbox_guest.instance_path(instance))
        if not health or same_worker(health, before[instance]):
            return None
        # A file saved after the reload began may be in the new worker already.
        return health if health["version"] == expected or health["version"] == expected_version(settings) else None

    batches = [[i] for i in instances] if rolling else [instances]
    after = {}
    for batch in batches:
        wanted = {settings["app_units"][i - 1] for i in batch}
        for guest in dict.fromkeys(settings["instance_guests"][i - 1] for i in batch):
            units = " ".join(unit for unit in settings["guests"][guest]["units"] if unit in wanted)
            result = guests[guest].run(f"sudo systemctl reload-or-restart {units}", hide=True, warn=True)
            if result.failed:
                raise ReloadError("systemctl could not reload the app (its message above); see fab logs",
                                  log=result.stderr.strip())
        if nginx and batch is batches[0]:
            render_nginx(settings, guests.front)  # while the new workers boot
        deadline = started + timeout
        for instance in batch:
            after[instance] = devbox_guest.wait_for(lambda: new_code(instance), timeout=deadline - time.monotonic())
            if not after[instance]:
                log = printable(guests.of_instance(instance).run(f"sudo tail -n 15 {settings['paths']['logs']}/app.log",
                                                                 hide=True, warn=True).stdout)
                raise ReloadError(f"the new code did not answer within {timeout:g}s"
                                  f"{f' on instance {instance}' if len(instances) > 1 else ''} "
                                  f"({answered(last.get(instance), before[instance], expected_version(settings))}); "
                                  "the app log is above", log=log)
            if after[instance]["status"] != "ok":
                raise LoadFailed(f"the new code failed to load: {after[instance]['error']}; fix it and save again "
                                 "(fab logs shows the traceback)")
    return time.monotonic() - started, after[1]


def refresh_token(settings: dict, conn) -> str:
    """The token the refresh hub takes, readable only by root in the guest."""
    return conn.run(f"sudo cat {settings['paths']['config']}/refresh.token", hide=True).stdout.strip()


def refresh_pages(settings: dict, token: str, action: str) -> int:
    """Tell every open page to refresh (``page``) or swap its stylesheets (``css``); returns how many listen."""
    request = urllib.request.Request(f"{base_url(settings)}/_devbox/refresh", method="POST",
                                     data=json.dumps({"action": action}).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with devbox_guest.DIRECT.open(request, timeout=5) as response:
        return json.load(response)["pages"]
