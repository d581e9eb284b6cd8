"""Small helpers for the host-side tests."""

import subprocess
import sys
import time

from devbox.settings import ROOT


def wait_for(predicate, timeout=10.0, interval=0.05):
    """Poll ``predicate`` until it returns something truthy; return that, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def fab(*args, timeout=120):
    """Run a fab task from this repository, as a developer would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "fabric", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)

