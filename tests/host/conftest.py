"""Fixtures for the tests that run on the host against the guest that
`vagrant up` started, through the forwarded port, as a browser would.

A guest that does not answer is a failure, never a skip: these tests exist to
prove that every layer works.
"""

import uuid

import pytest
import requests
import socketio

from devbox import guest as devbox_guest


@pytest.fixture(scope="session")
def base_url(settings):
    """http://localhost:<host_port>: where the browser reaches the devbox."""
    return f"http://localhost:{settings['host_port']}"


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

