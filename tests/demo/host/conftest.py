"""The demo through the forwarded port: these tests need the demo to be the app running."""

import uuid

import pytest
import socketio
from playwright.sync_api import expect

from devbox.host import guest as devbox_guest

DEMO = "notifications:create_app()"


@pytest.fixture(scope="session", autouse=True)
def the_demo_runs(base_url):
    """Fail at once, with the reason, when another app runs (DEVBOX_APP, or app.wsgi changed)."""
    running = devbox_guest.health(base_url)["app"]
    if running != DEMO:
        pytest.fail(f"the demo tests need the demo ({DEMO}); the devbox runs {running}")


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

    def connect(url=None, **kwargs):
        url = url or base_url
        # An Origin header set through headers= is sent twice (websocket-client
        # adds its own) and always refused, so pass it as a websocket option.
        client = socketio.Client(reconnection=False, websocket_extra_options={"origin": url}, **kwargs)
        client.connect(url, transports=["websocket"], wait_timeout=10)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.disconnect()


@pytest.fixture
def demo_page(open_page):
    """Factory: the demo's page in Chromium, once its own Socket.IO connection is live."""
    def open_demo():
        page = open_page()
        expect(page.locator("#status")).to_have_text("live", timeout=10_000)
        return page

    return open_demo
