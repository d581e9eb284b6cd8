"""The fabfile without a guest: tasks list with no Vagrant at all, and each
task that needs one says what is missing in one line."""

import os
import shutil
import subprocess
import sys

import pytest

from devbox.settings import ROOT


def fab(*args, cwd=ROOT, path="/nonexistent"):
    """`fab ARGS` with PATH pointing nowhere: no vagrant to be found."""
    return subprocess.run([sys.executable, "-m", "fabric", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PATH": path})


def test_tasks_list_without_vagrant():
    result = fab("-l")
    assert result.returncode == 0, result.stderr
    for name in ("up", "reload", "watch", "status", "logs", "test", "shell", "provision", "halt", "destroy"):
        assert f"  {name} " in result.stdout


@pytest.mark.parametrize("task", ["status", "logs", "shell", "up"])
def test_missing_vagrant_is_one_clear_line(task):
    result = fab(task)
    assert result.returncode != 0
    assert result.stderr.strip() == "devbox: vagrant is not installed; run ./setup.sh (bare Debian) or install Vagrant"


def test_a_bad_setting_is_one_clear_line(tmp_path):
    for name in ("fabfile.py", "devbox.yaml"):
        shutil.copy(ROOT / name, tmp_path)
    shutil.copytree(ROOT / "devbox", tmp_path / "devbox")
    settings = tmp_path / "devbox.yaml"
    settings.write_text(settings.read_text().replace("worker: eventlet", "worker: tornado"))
    result = fab("status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("devbox.yaml: worker: 'tornado' is not supported; use one of")
