"""The app's data on a scratch folder while tests run, so whatever they store,
the developer's data stays as it was.

A systemd drop-in under /run gives each app unit an environment file after the
app's own (the later one wins: DATA_DIR), and vanishes with a guest reboot.
"""

from __future__ import annotations

from contextlib import contextmanager

from devbox.host import guest as devbox_guest
from devbox.settings import base_url


def on_app_guests(guests, command: str) -> list:
    """Run ``command`` on every guest that runs app instances (the one guest, or
    each app guest with nodes), ``{units}`` standing for that guest's app units;
    returns the results in instance order."""
    return [conn.run(command.format(units=guests.units(name)), hide=True, warn=True)
            for name, conn in guests.app_guests()]


def wait_for_app(settings: dict, timeout: float = 30) -> None:
    """Wait until every app instance's own health, through the forwarded port, says the app loaded."""
    def all_up():
        return all(h and h["status"] == "ok" for h in devbox_guest.instance_healths(settings).values())

    assert devbox_guest.wait_for(all_up, timeout=timeout), \
        f"the app at {base_url(settings)} did not come back within {timeout}s"


def scratch_folder(settings: dict) -> str:
    """Where the tests' DATA_DIR is: beside the real one, or with app guests (nodes) in
    it, since only that folder is theirs to share."""
    data = settings["paths"]["data"]
    return f"{data}/.devbox-test" if settings["nodes"] else f"{data}-test"


def _paths(settings: dict) -> tuple[str, str, str]:
    name = settings["name"]
    return (scratch_folder(settings), f"/run/systemd/system/{name}@.service.d/test-data.conf",
            f"/run/{name}-test.env")


def _restart(settings: dict, guests) -> None:
    for result in on_app_guests(guests, "sudo systemctl daemon-reload && sudo systemctl restart {units}"):
        assert result.ok, result.stderr
    wait_for_app(settings)


def use_scratch_data(settings: dict, guests, fresh: bool = True) -> str:
    """Point the app's DATA_DIR at the scratch folder (emptied when ``fresh``) on every
    guest that runs it, and restart the app onto it; returns the folder."""
    scratch, dropin, env = _paths(settings)
    name = settings["name"]
    empty = f"sudo rm -rf {scratch} && " if fresh else ""
    for result in on_app_guests(guests, f"{empty}sudo install -d -o {name} -g {name} -m 750 {scratch}"
                                        f" && sudo mkdir -p {dropin.rsplit('/', 1)[0]}"
                                        f" && printf '[Service]\\nEnvironmentFile={env}\\n' | sudo tee {dropin} >/dev/null"
                                        f" && echo DATA_DIR={scratch} | sudo tee {env} >/dev/null"):
        assert result.ok, result.stderr
    _restart(settings, guests)
    return scratch


@contextmanager
def scratch_data(settings: dict, guests):
    """The app runs with DATA_DIR on a fresh scratch folder meanwhile, then on its own again."""
    try:  # a restart that fails half-way is undone too: the developer's data comes back
        yield use_scratch_data(settings, guests)
    finally:
        scratch, dropin, env = _paths(settings)
        on_app_guests(guests, f"sudo rm -f {dropin} {env} && sudo rm -rf {scratch}")
        _restart(settings, guests)
