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


def reload_app(settings: dict, conn, nginx: bool = False, timeout: float = 60) -> tuple[float, dict]:
    """Reload the app gracefully (restart it if it is down), optionally re-render
    nginx meanwhile, and wait until the new code answers through the forwarded
    port. Returns (seconds, health); raises ReloadError."""
    url = base_url(settings)
    before = devbox_guest.health_or_none(url)
    expected = expected_version(settings)
    started = time.monotonic()
    conn.run(f"sudo systemctl reload-or-restart {settings['name']}.service", hide=True)
    if nginx:
        render_nginx(settings, conn)  # while the new worker boots

    def new_code():
        health = devbox_guest.health_or_none(url)
        fresh = health and (before is None or health["boot_id"] != before["boot_id"])
        return health if fresh and health["version"] == expected else None

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
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)["pages"]
