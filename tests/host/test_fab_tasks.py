"""The everyday fab tasks against the running devbox, and the one-line answer
when there is no guest."""

import shutil
import subprocess
import sys
import uuid

from devbox.settings import ROOT
from tests.host.helpers import fab, pinned


def test_status_shows_every_layer(settings, http):
    health = http.get("/healthz").json()
    result = fab("status")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["guest"] == "running (lxc)"
    assert f"version {health['version']}" in lines["health"]
    assert lines["nginx"].startswith("active, nginx version: nginx/")
    assert lines["app"].startswith(f"active, gunicorn {settings['worker']} worker on 127.0.0.1:{settings['app_port']}")
    assert f"gunicorn {pinned(settings['worker'], 'gunicorn')}" in lines["versions"]
    assert "flask-socketio 5." in lines["versions"]
    # The venv holds the chosen worker's library and no other's.
    for library in ("eventlet", "gevent"):
        assert (f" {library} " in lines["versions"]) == (settings["worker"] == library), lines["versions"]


def test_logs_show_the_request_just_made(http):
    marker = uuid.uuid4().hex
    http.get(f"/healthz?probe={marker}")
    result = fab("logs", "--lines", "50")
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    for name in ("nginx-access.log", "nginx-error.log", "app.log"):
        assert name in result.stdout


def test_a_no_op_provision_changes_nothing(http):
    before = http.get("/healthz").json()
    result = fab("provision", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "devbox: provisioned in" in result.stdout
    assert http.get("/healthz").json()["boot_id"] == before["boot_id"]  # the app was not restarted


def test_a_guest_not_created_is_one_clear_line(tmp_path):
    for name in ("Vagrantfile", "fabfile.py", "devbox.yaml"):
        shutil.copy(ROOT / name, tmp_path)
    shutil.copytree(ROOT / "devbox", tmp_path / "devbox")
    shutil.copytree(ROOT / "provision" / "vagrant", tmp_path / "provision" / "vagrant")
    result = subprocess.run([sys.executable, "-m", "fabric", "logs"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == "devbox: the guest is not created; run fab up"
