"""The guest's Python wheels, fetched on the host, which can reach the package index.

    python -m devbox.host.wheels

Every worker class's packages with the app's requirements, into the
wheelhouse (``wheelhouse`` in devbox.yaml), so that the guest installs offline
and switching `worker` needs no network. A set already fetched is not fetched
again: a re-run with the same requirement files needs no network at all.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys

from devbox import settings as devbox_settings
from devbox.settings import ROOT, WORKERS

class WheelsError(Exception):
    """pip could not fetch a wheel; the message names the file and pip's reason."""


# The guest is Debian 12: CPython 3.11, glibc 2.36, on the host's architecture
# (lxc shares the host's kernel; a VM on a laptop runs natively, not emulated:
# Apple Silicon's boxes are arm64). pip does not widen a manylinux_2_X platform
# to older glibc tags by itself, so they are listed.
PYTHON = "3.11"
ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def platforms(machine: str | None = None) -> list[str]:
    """The wheel platform tags a Debian 12 guest of this architecture (default: the host's) installs."""
    machine = machine or platform.machine()
    arch = ARCHITECTURES.get(machine.lower())
    if arch is None:
        raise WheelsError(f"no Debian 12 guest for a {machine} host; devbox runs on x86_64 and arm64 (aarch64)")
    return [f"manylinux2014_{arch}", *(f"manylinux_2_{glibc}_{arch}" for glibc in range(17, 37))]


def fetch(settings: dict, out=sys.stdout) -> None:
    tags = platforms()
    wheelhouse = ROOT / settings["wheelhouse"]
    app_requirements = ROOT / settings["app"]["requirements"]
    for worker in WORKERS:
        files = [ROOT / "requirements" / f"worker-{worker}.txt", app_requirements]
        included = [ROOT / f for f in settings["app"]["requirement_files"]]
        digest = hashlib.sha256(tags[0].encode() + b"".join(f.read_bytes() for f in files + included)).hexdigest()[:16]
        stamp = wheelhouse / ".fetched" / digest
        if stamp.exists():
            continue
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--dest", str(wheelhouse), "--only-binary=:all:", "--implementation", "cp",
                   "--python-version", PYTHON, *(f"--platform={p}" for p in tags)]
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
