"""Which tests are the team's: what fab test runs by default and ./setup.sh test adds to its passes."""

from devbox.host.pytest_plugin import DEVBOX_SUITES, team_tests


def test_the_teams_tests_are_everything_under_tests_but_devboxs_suites(tmp_path):
    for folder in (*DEVBOX_SUITES, "tests/app", "tests/shop", "tests/__pycache__"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("conftest.py", "helpers.py", "__init__.py", "test_smoke.py", "login_test.py", "test_data.json"):
        (tmp_path / "tests" / name).write_text("")
    assert team_tests(tmp_path) == ["tests/app", "tests/login_test.py", "tests/shop", "tests/test_smoke.py"]
    for folder in ("tests/app", "tests/shop"):
        (tmp_path / folder).rmdir()
    (tmp_path / "tests" / "test_smoke.py").unlink()
    (tmp_path / "tests" / "login_test.py").unlink()
    assert team_tests(tmp_path) == []
