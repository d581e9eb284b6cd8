"""Fixtures shared by devbox's own tests.

The fixtures a team's tests use too (``base_url``, ``http``, ``page``,
``socketio_client``, ``edit``, ...) are devbox's pytest plugin,
``devbox/host/pytest_plugin.py``, loaded here for every test under tests/.
Those that reach the guest all go through its ``devbox_guests``: the first
test that needs the guest checks that the devbox answers (a failure, never a
skip: these tests exist to prove that every layer works) and points the app
at scratch data for the rest of the run. The unit tests ask for none of them
and run without a guest.
"""

from pathlib import Path

import pytest

from devbox.settings import ROOT
from tests.helpers import instances

pytest_plugins = ["devbox.host.pytest_plugin"]


def pytest_configure(config):
    config.addinivalue_line("markers", "devbox: one of devbox's own tests (set on every test of its suites)")
    config.addinivalue_line("markers", "both_schemes: run through HTTP's host port and, with tls, HTTPS's")


def pytest_collection_modifyitems(items):
    from devbox.host.pytest_plugin import DEVBOX_SUITES  # after pytest_plugins: its asserts are rewritten

    for item in items:
        if any(Path(item.path).is_relative_to(ROOT / suite) for suite in DEVBOX_SUITES):
            item.add_marker(pytest.mark.devbox)


@pytest.fixture(scope="session")
def settings(devbox_settings):
    """The checked contents of devbox.yaml: the same values the guest was built from."""
    return devbox_settings


@pytest.fixture(scope="session")
def guests(devbox_guests):
    """The running devbox's guests (the plugin's ``devbox_guests``), with the app's data on scratch."""
    return devbox_guests


@pytest.fixture(scope="session")
def devbox(guests):
    """The running devbox, for the whole run: a connection to its front guest."""
    return guests.front


@pytest.fixture(scope="module")
def scaled(guests, settings):
    """The settings of a guest running several app instances, for this module's
    tests: as configured when that is two or more, else three meanwhile
    (switched back after the module)."""
    if settings["instances"] >= 2:
        yield settings
        return
    if settings["nodes"]:
        pytest.fail("several instances with app guests means nodes: 2 or more; run with DEVBOX_NODES=2")
    with instances(settings, guests, 3) as several:
        yield several


@pytest.fixture(scope="session")
def guest(devbox):
    """A Fabric connection into the (front) guest, for looking at what the browser
    cannot see: nginx and Redis run there, and with nodes: 0 the app too."""
    return devbox


@pytest.fixture(scope="session")
def sync(guests):
    """``sync(path, ...)``: bring these host paths into a guest whose synced
    folder is a copy (libvirt), as fab watch does on each save; nothing to do
    where the guest sees the host's folder itself (lxc)."""
    def sync(*paths):
        guests.copy_files([str(Path(path).relative_to(ROOT)) for path in paths])

    return sync


@pytest.fixture
def open_page(new_context, settings):
    """Factory: a page in a fresh context (own cookies) on the devbox at ``path``
    (over HTTPS with ``base_url=https_url``), with its script errors collected;
    in development mode it returns once devbox's refresh client listens."""
    def open_page(path="/", **context_args):
        page = new_context(**context_args).new_page()
        page.goto(path)
        if settings["dev_mode"]:
            page.wait_for_function("window.devboxRefresh && window.devboxRefresh.connected", timeout=10_000)
        return page

    return open_page
