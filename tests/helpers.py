"""Small helpers for the tests that reach the guest."""

import subprocess
import sys
from contextlib import contextmanager

from devbox.host import guest as devbox_guest
from devbox.settings import ROOT, base_url


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


def wait_for_app(settings, timeout=30):
    """Wait until devbox's health says the app loaded; returns the health."""
    url = base_url(settings)
    health = devbox_guest.wait_for(lambda: (devbox_guest.health_or_none(url) or {}).get("status") == "ok"
                                   and devbox_guest.health(url), timeout=timeout)
    assert health, f"the app at {url} did not come back within {timeout}s"
    return health


@contextmanager
def scratch_data(settings, conn):
    """The app runs with DATA_DIR on a scratch folder meanwhile: whatever the
    tests store, the developer's data stays as it was. A systemd drop-in under
    /run adds an environment file after the app's own (the later one wins) and
    vanishes with a guest reboot."""
    name, scratch = settings["name"], f"{settings['paths']['data']}-test"
    dropin, env = f"/run/systemd/system/{name}.service.d/test-data.conf", f"/run/{name}-test.env"

    def restart():
        conn.run(f"sudo systemctl daemon-reload && sudo systemctl restart {name}", hide=True)
        wait_for_app(settings)

    conn.run(f"sudo rm -rf {scratch} && sudo install -d -o {name} -g {name} -m 750 {scratch}"
             f" && sudo mkdir -p {dropin.rsplit('/', 1)[0]}"
             f" && printf '[Service]\\nEnvironmentFile={env}\\n' | sudo tee {dropin} >/dev/null"
             f" && echo DATA_DIR={scratch} | sudo tee {env} >/dev/null", hide=True)
    restart()
    try:
        yield scratch
    finally:
        conn.run(f"sudo rm -f {dropin} {env} && sudo rm -rf {scratch}", hide=True)
        restart()
