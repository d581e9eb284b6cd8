"""Fixtures shared by every test.

Those that reach the guest all go through ``devbox``: the first test that
needs the guest checks that the devbox answers (a failure, never a skip: these
tests exist to prove that every layer works) and points the app at scratch
data for the rest of the run. The unit tests ask for none of them and run
without a guest.
"""

from pathlib import Path

import pytest
import requests
from playwright.sync_api import sync_playwright

from devbox import settings as devbox_settings
from devbox.host import browser as devbox_browser
from devbox.host import guest as devbox_guest
from devbox.host.watch import RELOAD, classify
from devbox.settings import ROOT
from tests.helpers import fab, instances, scratch_data


@pytest.fixture(scope="session")
def settings():
    """The checked contents of devbox.yaml: the same values the guest was built from."""
    return devbox_settings.load()


def _quiet(conn):
    conn.config.run.in_stream = False  # pytest captures stdin; nothing here is interactive
    return conn


@pytest.fixture(scope="session")
def guests(settings):
    """The running devbox's guests, for the whole run, with the app's data on a
    scratch folder: connections to the front (nginx, Redis) and to whichever
    guest runs each app instance (the front too, with nodes: 0)."""
    url = devbox_settings.base_url(settings)
    try:
        devbox_guest.health(url, timeout=5)
    except OSError as exc:
        pytest.exit(f"devbox does not answer at {url} ({exc}); run ./setup.sh or fab up", returncode=3)
    guests = devbox_guest.Guests(settings, configure=_quiet)
    with scratch_data(settings, guests):
        yield guests
    guests.close()


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
def base_url(devbox, settings):
    """http://localhost:<host_port>: where the browser reaches the devbox."""
    return devbox_settings.base_url(settings)


@pytest.fixture(scope="session")
def guest(devbox):
    """A Fabric connection into the (front) guest, for looking at what the browser
    cannot see: nginx and Redis run there, and with nodes: 0 the app too."""
    return devbox


@pytest.fixture
def http(base_url):
    """A requests session whose relative URLs go to the devbox through the
    forwarded port. Redirects are returned, not followed: tests check them."""

    class Session(requests.Session):
        def request(self, method, url, *args, **kwargs):
            kwargs.setdefault("timeout", 10)
            kwargs["allow_redirects"] = False
            return super().request(method, base_url + url, *args, **kwargs)

    with Session() as session:
        yield session


@pytest.fixture(scope="session")
def sync(guests):
    """``sync(path, ...)``: bring these host paths into a guest whose synced
    folder is a copy (libvirt), as fab watch does on each save; nothing to do
    where the guest sees the host's folder itself (lxc)."""
    def sync(*paths):
        guests.copy_files([str(Path(path).relative_to(ROOT)) for path in paths])

    return sync


@pytest.fixture
def edit(settings, sync):
    """Factory: change or add a repository file on the host for this test only.

    ``edit(path, new_text)`` writes it, and brings it into a guest that holds a
    copy (unless ``fab watch`` is running: then that is its job, under test);
    at teardown every file is put back (or removed when it was new) and, when
    app code was among them, the app is reloaded onto the original code.
    """
    originals = {}

    def change(relative, text):
        path = ROOT / relative
        originals.setdefault(path, path.read_text() if path.exists() else None)
        path.write_text(text)
        if not change.watched:
            sync(path)
        return path

    change.watched = False
    yield change
    for path, text in originals.items():
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)
    sync(*originals)
    if any(classify(str(path.relative_to(ROOT)), settings) == RELOAD for path in originals):
        result = fab("reload")
        assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, for the whole run."""
    with sync_playwright() as playwright:
        browser = devbox_browser.launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, base_url, settings):
    """Factory: a fresh page (own cookies) on the devbox at ``path``, with its
    script errors collected; in development mode it returns once devbox's
    refresh client listens."""
    contexts = []

    def open_page(path="/"):
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(base_url + path)
        if settings["dev_mode"]:
            page.wait_for_function("window.devboxRefresh && window.devboxRefresh.connected", timeout=10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()
