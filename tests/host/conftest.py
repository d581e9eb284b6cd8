"""Fixtures for the tests that run on the host against the guest that
`vagrant up` started, through the forwarded port, as a browser would.

A guest that does not answer is a failure, never a skip: these tests exist to
prove that every layer works.
"""

import uuid

import pytest
import requests
import socketio
from playwright.sync_api import expect, sync_playwright

from devbox import browser as devbox_browser
from devbox import guest as devbox_guest
from devbox import settings as devbox_settings
from devbox.settings import ROOT
from devbox.watch import RELOAD, classify
from tests.host.helpers import fab


@pytest.fixture(scope="session")
def base_url(settings):
    """http://localhost:<host_port>: where the browser reaches the devbox."""
    return devbox_settings.base_url(settings)


@pytest.fixture(scope="session", autouse=True)
def devbox_up(base_url):
    """Fail the whole run at once, with the fix, when the devbox does not answer."""
    try:
        devbox_guest.health(base_url, timeout=5)
    except OSError as exc:
        pytest.exit(f"devbox does not answer at {base_url} ({exc}); run ./setup.sh or fab up", returncode=3)


@pytest.fixture(scope="session")
def guest():
    """A Fabric connection into the guest, for looking at what the browser cannot see."""
    conn = devbox_guest.connection()
    conn.config.run.in_stream = False  # pytest captures stdin; nothing here is interactive
    yield conn
    conn.close()


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


@pytest.fixture
def unique_text():
    """A notification text no other test (or earlier run) has sent."""
    return f"test notification {uuid.uuid4().hex[:12]}"


@pytest.fixture
def connect_client(base_url):
    """Factory: a python-socketio client connected over WebSocket through the forwarded port.

    Every client it makes is disconnected at the end of the test.
    """
    clients = []

    def connect(url=None, origin=None, **kwargs):
        url = url or base_url
        # An Origin header set through headers= is sent twice (websocket-client
        # adds its own) and always refused, so pass it as a websocket option.
        client = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin or url}, **kwargs)
        client.connect(url, transports=["websocket"], wait_timeout=10)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.disconnect()



@pytest.fixture
def edit():
    """Factory: change a repository file on the host for this test only.

    ``edit(path, new_text)`` writes it; at teardown every file is put back and,
    when app code was among them, the app is reloaded onto the original code.
    """
    originals = {}

    def change(relative, text):
        path = ROOT / relative
        originals.setdefault(path, path.read_text())
        path.write_text(text)
        return path

    yield change
    for path, text in originals.items():
        path.write_text(text)
    if any(classify(str(path.relative_to(ROOT))) == RELOAD for path in originals):
        result = fab("reload")
        assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, for the whole module."""
    with sync_playwright() as playwright:
        browser = devbox_browser.launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, base_url):
    """Factory: a fresh page (own cookies) on the devbox, with its console errors collected."""
    contexts = []

    def open_page():
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(base_url + "/")
        expect(page.locator("#status")).to_have_text("live", timeout=10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()
