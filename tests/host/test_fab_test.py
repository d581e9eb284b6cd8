"""fab test, as a team runs it: its own tests, wherever they are under tests/
but devbox's suites, with the plugin's fixtures, against the running devbox.
(Once per run: each fab test is a whole pytest run.)"""

import re
import shutil
import uuid

from devbox.settings import ROOT
from tests.helpers import fab


def test_fab_test_runs_the_teams_tests_and_stack_adds_devboxs():
    """A team's test, anywhere under tests/ but devbox's suites, with the plugin's fixtures."""
    name = f"team_probe_{uuid.uuid4().hex[:8]}"
    folder = ROOT / "tests" / name
    folder.mkdir()
    (folder / f"test_{name}.py").write_text("def test_home_page(http, page):\n"
                                           "    assert http.get('/').status_code == 200\n"
                                           "    page.goto('/')\n"
                                           "    assert page.errors == []\n")
    try:
        listed = fab("test", "--args=--collect-only -q")
        assert listed.returncode == 0, listed.stdout + listed.stderr
        collected = [line.split("/")[1] for line in listed.stdout.splitlines() if line.startswith("tests/")]
        assert name in collected and not {"unit", "stack", "host", "nodes", "apps"} & set(collected), collected
        stack = fab("test", "--stack", "--args=--collect-only -q")
        assert "tests/stack/test_proxy.py::" in stack.stdout and f"tests/{name}/" in stack.stdout
        result = fab("test", f"--args=-q -k {name}")
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"^1 passed", result.stdout, re.M), result.stdout
    finally:
        shutil.rmtree(folder)
