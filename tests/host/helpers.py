"""Small helpers for the host-side tests."""

import subprocess
import sys

from devbox.settings import ROOT


def fab(*args, timeout=120):
    """Run a fab task from this repository, as a developer would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "fabric", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def pinned(worker, package):
    """The version requirements/worker-WORKER.txt pins for ``package``."""
    for line in (ROOT / "requirements" / f"worker-{worker}.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise LookupError(f"{package} is not pinned for the {worker} worker")
