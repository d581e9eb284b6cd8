"""The fabfile without a guest: tasks list with no Vagrant at all, and each
task that needs one says what is missing in one line."""

import os
import shutil
import subprocess
import sys

import pytest

from devbox.settings import ROOT


def fab(*args, cwd=ROOT, env=None):
    """`fab ARGS` with PATH pointing nowhere: no vagrant to be found."""
    return subprocess.run([sys.executable, "-m", "fabric", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {}), "PATH": "/nonexistent"})


def test_tasks_list_without_vagrant():
    result = fab("-l")
    assert result.returncode == 0, result.stderr
    for name in ("up", "reload", "watch", "status", "logs", "test", "shell", "provision", "halt", "destroy"):
        assert f"  {name} " in result.stdout


@pytest.mark.parametrize("task", ["status", "logs", "shell", "up", "reload", "watch"])
def test_missing_vagrant_is_one_clear_line(task):
    result = fab(task)
    assert result.returncode != 0
    assert result.stderr.strip() == "devbox: vagrant is not installed; run ./setup.sh (bare Debian) or install Vagrant"


@pytest.mark.parametrize("change, expected", [
    (("worker: eventlet", "worker: tornado"), "devbox.yaml: worker: 'tornado' is not supported; use one of "
                                             "eventlet, gevent, gthread"),
    (("worker: eventlet", "workr: gevent"), "devbox.yaml: workr: unknown setting; did you mean worker?"),
    (("  folder: app ", "  folder: ap "), "devbox.yaml: app.folder: 'ap' is not a folder in the repository; "
                                          "put your app there or set app.folder to where it is"),
])
def test_a_bad_setting_is_one_clear_line(tmp_path, change, expected):
    shutil.copy(ROOT / "fabfile.py", tmp_path)
    for folder in ("devbox", "app"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    settings = tmp_path / "devbox.yaml"
    settings.write_text((ROOT / "devbox.yaml").read_text().replace(*change))
    result = fab("status", cwd=tmp_path, env={"DEVBOX_WORKER": "", "DEVBOX_APP": ""})
    assert result.returncode == 2
    assert result.stderr.strip() == expected
