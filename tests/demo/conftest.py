"""The demo app's tests: its unit tests (Flask's and Flask-SocketIO's test
clients, on the host) and its behaviour through the forwarded port. They are
the demo's, not devbox's: when you put your own app in app/, remove this
folder (devbox's own tests are tests/unit/ and tests/stack/)."""

import sys

from devbox.settings import ROOT

# The demo's project folder, as its own tests would have it on the path.
sys.path.insert(0, str(ROOT / "app"))
