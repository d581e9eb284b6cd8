"""The guest's Python wheels, fetched on the host, which can reach the package index.

    python -m devbox.host.wheels

Every worker class's packages with the app's requirements, into the
wheelhouse (``wheelhouse`` in devbox.yaml), so that the guest installs offline
and switching `worker` needs no network. A set already fetched is not fetched
again: a re-run with the same requirement files needs no network at all.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

from devbox import settings as devbox_settings
from devbox.settings import ROOT, WORKERS

# The guest is Debian 12: CPython 3.11, glibc 2.36, x86_64. pip does not widen
# a manylinux_2_X platform to older glibc tags by itself, so they are listed.
PYTHON = "3.11"
PLATFORMS = ["manylinux2014_x86_64", *(f"manylinux_2_{glibc}_x86_64" for glibc in range(17, 37))]


class WheelsError(Exception):
    """pip could not fetch a wheel; the message names the file and pip's reason."""


def fetch(settings: dict, out=sys.stdout) -> None:
    wheelhouse = ROOT / settings["wheelhouse"]
    app_requirements = ROOT / settings["app"]["requirements"]
    for worker in WORKERS:
        files = [ROOT / "requirements" / f"worker-{worker}.txt", app_requirements]
        included = [ROOT / f for f in settings["app"]["requirement_files"]]
        digest = hashlib.sha256(b"".join(f.read_bytes() for f in files + included)).hexdigest()[:16]
        stamp = wheelhouse / ".fetched" / digest
        if stamp.exists():
            continue
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--dest", str(wheelhouse), "--only-binary=:all:", "--implementation", "cp",
                   "--python-version", PYTHON, *(f"--platform={p}" for p in PLATFORMS)]
        for f in files:
            command += ["-r", str(f)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise WheelsError(f"pip could not fetch wheels for the {worker} worker and "
                              f"{settings['app']['requirements']}: {reason}")
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
        print(f"{worker} worker + {settings['app']['requirements']}: wheels in {settings['wheelhouse']}", file=out)


def main() -> int:
    try:
        fetch(devbox_settings.load())
    except devbox_settings.SettingsError as exc:
        print(f"devbox.yaml: {exc}", file=sys.stderr)
        return 2
    except WheelsError as exc:
        print(f"devbox: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
