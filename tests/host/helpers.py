"""Small helpers for the host-side tests."""

import time


def wait_for(predicate, timeout=10.0, interval=0.05):
    """Poll ``predicate`` until it returns something truthy; return that, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None
