"""What counts as the app's code, and its version: the same on the host and in
the guest, for any package layout."""

import os
from pathlib import Path

import pytest

from devbox import appcode


@pytest.fixture
def tree(tmp_path):
    """Factory: write files (path -> text) under an app folder; returns the folder."""
    def write(files):
        for relative, text in files.items():
            path = tmp_path / "app" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return tmp_path / "app"

    return write


CODE = {"app.py": "app = 1\n", "pkg/__init__.py": "", "pkg/views.py": "x = 1\n", "pkg/schema.sql": "create\n",
        "templates/index.html": "<p>", "pkg/templates/part.html": "<i>", ".env": "A=1\n", "requirements.txt": "x\n"}
NOT_CODE = {"static/app.css": "body {}", "pkg/__pycache__/views.cpython-311.pyc": "", ".git/HEAD": "",
            "venv/lib/site.py": "", "node_modules/x/index.js": "", "instance/app.sqlite": "", "pkg/.views.py.swp": "",
            "pkg/views.py~": "", "data.db": "", "4913": "", ".idea/workspace.xml": "", "app.log": ""}


def test_code_is_every_file_of_the_app_but_static_tooling_and_data(tree):
    folder = tree({**CODE, **NOT_CODE})
    assert [p.as_posix() for p in appcode.code_files(folder, folder / "static")] == sorted(CODE)


def test_the_version_follows_code_and_nothing_else(tree):
    folder = tree(CODE)
    before = appcode.version(folder, folder / "static")
    tree(NOT_CODE)
    assert appcode.version(folder, folder / "static") == before
    tree({"templates/index.html": "<p>changed!"})
    changed = appcode.version(folder, folder / "static")
    assert changed != before
    tree({"pkg/new.py": ""})  # a new empty module counts too
    assert appcode.version(folder, folder / "static") not in (before, changed)


def test_the_same_files_anywhere_give_the_same_version(tmp_path):
    # What a bind mount or `rsync -a` gives the guest: names, sizes and times kept.
    for where in ("host", "guest"):
        (tmp_path / where / "pkg").mkdir(parents=True)
        (tmp_path / where / "pkg" / "a.py").write_text("x = 1\n")
        os.utime(tmp_path / where / "pkg" / "a.py", ns=(1_700_000_000_123_456_789,) * 2)
    host, guest = tmp_path / "host", tmp_path / "guest"
    assert appcode.version(host, host / "static") == appcode.version(guest, guest / "static")
    (guest / "pkg" / "a.py").write_text("x = 2\n")  # a save in the guest's copy only
    assert appcode.version(host, host / "static") != appcode.version(guest, guest / "static")


def test_the_version_reads_no_file(tree, monkeypatch):
    # The host reads a 0600 .env, the app's user in the guest may not: the
    # version must come out the same for both, so it reads nothing at all.
    folder = tree(CODE)
    before = appcode.version(folder, folder / "static")

    def refuse(*args, **kwargs):
        raise PermissionError("not readable by this user")

    monkeypatch.setattr("builtins.open", refuse)
    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert appcode.version(folder, folder / "static") == before


def test_a_dangling_link_is_no_code(tree):
    folder = tree(CODE)
    before = appcode.version(folder, folder / "static")
    (folder / "gone.py").symlink_to(folder / "nowhere.py")
    assert appcode.version(folder, folder / "static") == before
