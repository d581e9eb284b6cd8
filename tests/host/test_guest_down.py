"""The guest halted under fab: every task says so in one line (never a
traceback), and `fab up` brings everything back."""

import subprocess
import sys

from devbox.host import guest as devbox_guest
from devbox.settings import PROVIDERS, ROOT
from tests.helpers import fab, use_scratch_data, wait_for_app

ONE_LINE = {
    "logs": "devbox: the guest is stopped; run fab up",
    "reload": "devbox: the guest is stopped; run fab up",
    "shell": "devbox: the guest is stopped; run fab up",
    "provision": "devbox: the guest is stopped; run fab up",
    "test": "devbox: http://localhost:{host_port} does not answer; run fab up first",
    "watch": "devbox: http://localhost:{host_port} does not answer; run fab up first",
}


def test_a_halted_guest_is_one_line_for_every_task_and_fab_up_brings_it_back(devbox, guests, settings, base_url):
    halted = subprocess.run(["vagrant", "halt"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert halted.returncode == 0, halted.stderr
    try:
        for task, expected in ONE_LINE.items():
            result = fab(task, timeout=180)
            lines = result.stderr.strip().splitlines()
            assert result.returncode != 0, task
            assert lines and lines[-1].startswith(expected.format(**settings)), (task, result.stderr[-1500:])
            assert "Traceback" not in result.stderr, (task, result.stderr[-1500:])
        status = fab("status")
        assert status.returncode == 0
        assert status.stdout.splitlines()[1] == f"health    {base_url}/_devbox/health: no answer"
        # The same word on every provider (libvirt's own is "shutoff", VirtualBox's "poweroff").
        assert status.stdout.splitlines()[0] in [f"guest     stopped ({p})"
                                                 for p in ([settings["provider"]] if settings["provider"] else PROVIDERS)]
    finally:
        up = subprocess.run([sys.executable, "-m", "fabric", "up"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
        assert up.returncode == 0, up.stdout[-1500:] + up.stderr[-1500:]
        assert f"devbox is up at {base_url}" in up.stdout
        # The run's SSH connection went with the old container, without a word,
        # and the new one may have another address. The halt took the run's
        # scratch data along too (it lives under /run): point the app at it again.
        conf = devbox_guest.vagrant(quiet=True).conf()
        devbox.close()
        devbox.host, devbox.port = conf["HostName"], int(conf["Port"])
        use_scratch_data(settings, guests, fresh=False)
    assert devbox_guest.health(base_url)["status"] == "ok"
    wait_for_app(settings)
