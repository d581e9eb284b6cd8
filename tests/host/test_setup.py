"""./setup.sh and what it does to the host: a re-run needs no network, the box
is never built from packages nobody checked, and the services devbox installed
only as tools do not start at boot."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devbox.settings import ROOT

RECORD = Path("/var/lib/devbox/host-packages")
TOOL_SERVICES = {"nginx": "nginx", "lxc": "lxc-net", "libvirt-daemon-system": "libvirtd", "apt-cacher-ng": "apt-cacher-ng"}  # as provision/host/packages.sh has them


def test_a_re_run_of_setup_needs_no_network(devbox):
    # Every address it could fetch from leads nowhere: with everything in
    # place, setup only checks.
    nowhere = "http://127.0.0.1:9"
    env = {**os.environ, "http_proxy": nowhere, "https_proxy": nowhere, "HTTP_PROXY": nowhere,
           "HTTPS_PROXY": nowhere, "PIP_INDEX_URL": f"{nowhere}/simple", "PIP_NO_INDEX": "1"}
    result = subprocess.run(["./setup.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "==> devbox is up: http://localhost:" in result.stdout
    # fab talks to the devbox directly too, whatever proxy the environment names.
    status = subprocess.run([sys.executable, "-m", "fabric", "status"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=env)
    assert "/_devbox/health: ok" in status.stdout, status.stdout + status.stderr


@pytest.mark.parametrize("args, env, expected", [
    (["--provider", "docker"], {}, "--provider 'docker'"),
    ([], {"DEVBOX_PROVIDER": "virtualbox"}, "provider 'virtualbox' (devbox.yaml, or $DEVBOX_PROVIDER)"),
])
def test_a_provider_setup_cannot_run_is_one_line(args, env, expected):
    result = subprocess.run(["./setup.sh", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, **env})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (f"setup.sh: {expected} is not one ./setup.sh runs; use lxc or "
                                                      "libvirt (VirtualBox and the others: vagrant up, see README)")


def test_a_folder_whose_guest_runs_on_another_provider_is_one_line_before_any_box_is_built(tmp_path):
    made = tmp_path / "machines" / "default" / "libvirt" / "id"
    made.parent.mkdir(parents=True)
    made.write_text("3f0c0e4e-0000-0000-0000-000000000000")
    result = subprocess.run(["./setup.sh", "--provider", "lxc"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "VAGRANT_DOTFILE_PATH": str(tmp_path)})
    assert result.returncode == 1
    assert "==> lxc box" not in result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        "setup.sh: this folder's guest runs on libvirt, not lxc; remove it first with ./setup.sh down, or give the "
        "lxc guest a Vagrant folder of its own (VAGRANT_DOTFILE_PATH=.vagrant/lxc)")


def test_the_box_is_not_built_without_debians_keyring(tmp_path):
    result = subprocess.run([str(ROOT / "provision/host/build-box.sh"), "lxc", "devbox/test-never-built"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "DEBIAN_KEYRING": str(tmp_path / "none.gpg"),
                                                        "DEVBOX_CACHE": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip() == (f"build-box: {tmp_path}/none.gpg is missing, so the packages could not be "
                                     "checked; install debian-archive-keyring")


def test_services_devbox_installed_as_tools_do_not_start_at_boot():
    installed = set(RECORD.read_text().split())
    services = [service for package, service in TOOL_SERVICES.items() if package in installed]
    assert services, f"{RECORD} names none of {sorted(TOOL_SERVICES)}"
    for service in services:
        sysv = sorted(p.name for p in Path("/etc").glob(f"rc[2345].d/S*{service}"))
        systemd = Path(f"/etc/systemd/system/multi-user.target.wants/{service}.service")
        assert (sysv, systemd.exists()) == ([], False), service
