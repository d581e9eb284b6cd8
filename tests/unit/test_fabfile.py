"""The fabfile without a guest: tasks list with no Vagrant at all, and each
task that needs one says what is missing in one line."""

import os
import shutil
import subprocess
import sys

import pytest

from devbox.settings import ROOT


@pytest.fixture
def fab(repo):
    """`fab ARGS` in the test's repository (tests/unit/conftest.py), with devbox's
    fabfile and code copied in, and PATH pointing nowhere: no vagrant to be found."""
    shutil.copy(ROOT / "fabfile.py", repo)
    shutil.copytree(ROOT / "devbox", repo / "devbox", ignore=shutil.ignore_patterns("__pycache__"))

    def fab(*args):
        return subprocess.run([sys.executable, "-m", "fabric", *args], cwd=repo, capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PATH": "/nonexistent"})

    return fab


def test_tasks_list_without_vagrant(fab):
    result = fab("-l")
    assert result.returncode == 0, result.stderr
    for name in ("up", "reload", "watch", "status", "logs", "test", "shell", "provision", "halt", "destroy"):
        assert f"  {name} " in result.stdout


@pytest.mark.parametrize("task", ["status", "logs", "shell", "up", "reload", "watch"])
def test_missing_vagrant_is_one_clear_line(fab, task):
    result = fab(task)
    assert result.returncode != 0
    assert result.stderr.strip() == "devbox: vagrant is not installed; run ./setup.sh (bare Debian) or install Vagrant"


@pytest.mark.parametrize("change, expected", [
    (("worker: eventlet", "worker: tornado"), "devbox.yaml: worker: 'tornado' is not supported; use one of "
                                             "eventlet, gevent, gthread"),
    (("worker: eventlet", "workr: gevent"), "devbox.yaml: workr: unknown setting; did you mean worker?"),
    (("\n  folder: app\n", "\n  folder: ap\n"), "devbox.yaml: app.folder: 'ap' is not a folder in the repository; "
                                                "put your app there or set app.folder to where it is"),
])
def test_a_bad_setting_is_one_clear_line(fab, repo, change, expected):
    settings = repo / "devbox.yaml"
    settings.write_text(settings.read_text().replace(*change))
    result = fab("status")
    assert result.returncode == 2
    assert result.stderr.strip() == expected


def test_destroy_without_a_terminal_asks_for_yes_and_deletes_nothing(fab):
    result = fab("destroy")  # stdin is not a terminal here, and no vagrant could run
    assert result.returncode == 1
    assert result.stderr.strip() == ("devbox: fab destroy deletes the guest and the app's data in it; "
                                     "run it on a terminal to be asked, or fab destroy --yes")
    # With --yes it goes on to Vagrant (here: none to be found).
    assert "vagrant is not installed" in fab("destroy", "--yes").stderr
