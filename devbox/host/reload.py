"""Reloads that confirm the new code, for any app: what `fab reload` and `fab watch` do.

The host hashes the app's code as the guest will (devbox.appcode), asks the
guest to reload gracefully, and waits until devbox's health, through the
forwarded port, reports a new worker with exactly that version. Then pages may
be told to refresh through devbox's refresh hub.
"""

from __future__ import annotations

import json
import time
import urllib.request

from devbox import appcode
from devbox.host import guest as devbox_guest
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


def reload_app(settings: dict, conn, nginx: bool = False, timeout: float = 60) -> tuple[float, dict]:
    """Reload the app gracefully (restart it if it is down), optionally re-render
    nginx meanwhile, and wait until the new code answers through the forwarded
    port. Returns (seconds, health); raises ReloadError."""
    url = base_url(settings)
    before = devbox_guest.health_or_none(url)
    if before:
        check_same_app(settings, before)
    expected = expected_version(settings)
    started = time.monotonic()
    result = conn.run(f"sudo systemctl reload-or-restart {settings['name']}.service", hide=True, warn=True)
    if result.failed:
        raise ReloadError("systemctl could not reload the app (its message above); see fab logs",
                          log=result.stderr.strip())
    if nginx:
        render_nginx(settings, conn)  # while the new worker boots

    def new_code():
        health = devbox_guest.health_or_none(url)
        if not health or (before is not None and health["boot_id"] == before["boot_id"]):
            return None
        # A file saved after the reload began may be in the new worker already.
        return health if health["version"] == expected or health["version"] == expected_version(settings) else None

    after = devbox_guest.wait_for(new_code, timeout=timeout)
    elapsed = time.monotonic() - started
    if not after:
        log = conn.run(f"sudo tail -n 15 {settings['paths']['logs']}/app.log", hide=True, warn=True).stdout
        raise ReloadError(f"the new code did not answer within {timeout:g}s; the app log is above", log=log)
    if after["status"] != "ok":
        raise LoadFailed(f"the new code failed to load: {after['error']}; fix it and save again (fab logs shows "
                          "the traceback)")
    return elapsed, after


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
