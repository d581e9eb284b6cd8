"""The demo through the forwarded port: these tests need the demo to be the app running.

They use devbox's pytest plugin (devbox/host/pytest_plugin.py) as a team's own
tests would: ``http``, ``socketio_client``, ``new_context``, ``base_url``."""

import uuid

import pytest
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
def demo_page(new_context):
    """Factory: the demo's page in Chromium for a new visitor (its own cookies),
    once its own Socket.IO connection is live (``base_url=https_url``: over HTTPS)."""
    def open_demo(**context_args):
        page = new_context(**context_args).new_page()
        page.goto("/")
        expect(page.locator("#status")).to_have_text("live", timeout=10_000)
        return page

    return open_demo
