"""Fixtures for the stack suite: devbox's whole stack through the forwarded
port, against whatever app devbox.yaml names (the demo, or with
DEVBOX_APP=tests/apps/plain a plain app written without devbox in mind).

The suite asks of the app only what a real-time Flask app has: an HTML page
at ``/`` and Flask-SocketIO at ``/socket.io/``. Socket.IO is spoken as raw
Engine.IO frames, with no event of the app's.
"""

import subprocess
import sys
import uuid

import pytest
import websocket

from devbox import settings as devbox_settings
from devbox.host.tls import websocket_sslopt
from devbox.settings import ROOT


@pytest.fixture(scope="session")
def app_module(settings):
    """The app's WSGI module (from app.wsgi), as a path relative to the repository."""
    module = settings["app"]["wsgi"].split(":", 1)[0].replace(".", "/")
    folder = ROOT / settings["app"]["folder"]
    for candidate in (folder / f"{module}.py", folder / module / "__init__.py"):
        if candidate.exists():
            return str(candidate.relative_to(ROOT))
    raise LookupError(f"no file for the module of {settings['app']['wsgi']} in {folder}")


@pytest.fixture
def add_probe(edit, app_module):
    """Factory: append a unique comment (or ``code``) to the app's WSGI module on the
    host; returns the marker. Nothing reloads it: that is what the tests test. The
    file is put back after the test."""
    original = (ROOT / app_module).read_text()

    def add(code=""):
        marker = uuid.uuid4().hex[:12]
        edit(app_module, original + f"\n# devbox probe {marker}\n{code.format(marker=marker)}\n", live=False)
        return marker

    return add


def pytest_generate_tests(metafunc):
    """Tests marked ``both_schemes`` run through HTTP's host port and, with tls,
    through HTTPS's: their ``base_url`` (and all that uses it) is each in turn."""
    if metafunc.definition.get_closest_marker("both_schemes") and "base_url" in metafunc.fixturenames:
        schemes = ["http", "https"] if devbox_settings.load()["tls"] else ["http"]
        metafunc.parametrize("base_url", schemes, indirect=True, scope="session")


def engineio_socket(base_url, origin=None, header=None):
    """A raw WebSocket speaking Engine.IO v4 / Socket.IO v5, already joined to '/'
    (wss for an https URL, checked against the host's local CA)."""
    ws = websocket.create_connection(base_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket",
                                     origin=origin or base_url, timeout=5, header=header,
                                     sslopt=websocket_sslopt(base_url))
    assert ws.recv().startswith("0{")          # Engine.IO open
    ws.send("40")                              # Socket.IO connect to "/"
    assert ws.recv().startswith("40{")
    return ws


def round_trip(ws):
    """A Socket.IO round trip that needs nothing of the app: asking to join a
    namespace it does not have is answered with a connect error."""
    namespace = f"/devbox-probe-{uuid.uuid4().hex[:8]}"
    ws.send(f"40{namespace},")
    while True:
        frame = ws.recv()
        if frame == "2":
            ws.send("3")  # Engine.IO ping
        elif frame.startswith(f"44{namespace},"):
            return frame


def closed(ws) -> bool:
    """Whether the server closes ``ws`` (rather than leaving it hanging): a round
    trip ends in a closed connection, not in the socket's time-out."""
    try:
        round_trip(ws)
    except (websocket.WebSocketTimeoutException, TimeoutError):
        return False
    except (websocket.WebSocketException, OSError):
        return True  # closed, or ended with what is no WebSocket frame
    return False


@pytest.fixture
def connect_socket(base_url):
    """Factory: raw Socket.IO WebSockets through the forwarded port, closed after the test."""
    sockets = []

    def connect(**kwargs):
        ws = engineio_socket(base_url, **kwargs)
        sockets.append(ws)
        return ws

    yield connect
    for ws in sockets:
        ws.close()


@pytest.fixture
def watcher(devbox, edit):
    """`fab watch` running in the background for this test; it stops before the
    edits are put back, and it alone brings them into a guest that holds a copy."""
    edit.watched = True
    process = subprocess.Popen([sys.executable, "-m", "fabric", "watch"], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = process.stdout.readline()
    assert first.startswith("watching "), first + process.stdout.read()
    yield process
    process.terminate()
    process.wait(timeout=10)
