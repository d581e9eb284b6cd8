"""devbox's unit tests pass in a team's project, not only in devbox's own checkout.

A team replaces the demo in app/ with its own app, edits devbox.yaml (drops
the `app:` section for the defaults, renames the devbox, moves its port,
picks another worker) and deletes the demo's tests. The unit tests are
devbox's: they must hold there just the same, so they may read devbox's own
files but nothing of the app, of tests/demo/ or of the values in devbox.yaml.
This test makes such a project from a copy of the checkout and runs its unit
suite, which would fail on the first test that still leans on the demo.
"""

import os
import shutil
import subprocess
import sys

import yaml

from devbox.settings import ROOT

# Set in the copy's run, where this test is deselected: it must never run there.
NESTED = "DEVBOX_TEST_YOUR_PROJECT"
# The host's own state, never the project's (as rsync_exclude leaves it out too).
HOST_STATE = (".git", ".venv", ".cache", ".vagrant")


def copy_checkout(target):
    """The files of the checkout (tracked, and untracked but not ignored) as they are now, into ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for relative in filter(None, listed):
        source = ROOT / relative
        if relative.split("/")[0] in HOST_STATE or not source.exists():  # exists: deleted but not yet staged
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / relative, follow_symlinks=False)


def test_the_unit_suite_passes_in_a_teams_project(tmp_path, request):
    assert NESTED not in os.environ, "the copy's unit suite ran this test again; it must deselect it"
    project = tmp_path / "project"
    copy_checkout(project)
    # Another app where the demo was: a single module, loaded as app:app.
    shutil.rmtree(project / "app")
    shutil.copytree(ROOT / "tests" / "apps" / "plain", project / "app")
    shutil.rmtree(project / "tests" / "demo")
    settings = yaml.safe_load((project / "devbox.yaml").read_text())
    del settings["app"]  # the defaults: app/, app:app
    settings.update(name="shop", host_port=8123, worker="gevent")
    (project / "devbox.yaml").write_text(yaml.safe_dump(settings))

    env = {**os.environ, NESTED: "1"}
    # The copy's own devbox, not this checkout's, is what its tests import.
    where = subprocess.run([sys.executable, "-c", "import devbox.settings as s; print(s.ROOT)"], cwd=project,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where == str(project.resolve())
    result = subprocess.run([sys.executable, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider",
                             "--deselect", request.node.nodeid], cwd=project, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
