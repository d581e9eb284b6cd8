"""The repository the unit tests check devbox against: one of their own.

devbox's unit tests must hold for any team's checkout, whose devbox.yaml and
app/ are the team's to change (tests/unit/test_your_project.py proves it). So
nothing here reads the repository's devbox.yaml or app/: every unit test runs
with a small repository written into its tmp_path (``repo``), with settings
at the values of :data:`RAW` and apps of the tests' own, and
``devbox.settings.load()`` reads that one. devbox's own files (templates,
requirements/, devbox/) are still read from the checkout: they are devbox's.
"""

import copy
import functools

import pytest
import yaml

from devbox import settings as devbox_settings

# Every key devbox.yaml has, at known values (the shipped defaults, but for the app).
RAW = {
    "name": "devbox",
    "host_ip": "127.0.0.1",
    "host_port": 8001,
    "guest_port": 5000,
    "tls": True,
    "https_host_port": 8443,
    "https_guest_port": 5443,
    "instances": 1,
    "app_bind": "unix",
    "app_port": 5001,
    "nodes": 0,
    "allowed_hosts": [],
    "app": {"folder": "app", "wsgi": "shop:create_app()", "requirements": "requirements.txt",
            "static": {"folder": "static", "url": "/static/"}, "writable": ["instance"], "env": {}},
    "worker": "eventlet",
    "dev_mode": True,
    "memory": 1024,
    "cpus": 2,
    "provider": "",
    "boxes": {"virtualbox": "bento/debian-12", "parallels": "bento/debian-12", "vmware_desktop": "bento/debian-12",
              "libvirt": "debian/bookworm64", "lxc": "devbox/debian-12-lxc"},
    "package_cache": {"apt": "", "pip": ""},
    "paths": {"synced": "/vagrant", "venv": "/opt/devbox/venv", "data": "/var/lib/devbox", "logs": "/var/log/devbox",
              "config": "/etc/devbox"},
    "max_clients": 2000,
    "max_body_size": "1m",
    "wheelhouse": ".cache/wheels",
}

# The app RAW names: a package with a factory, as `shop:create_app()` in app/.
APP = {
    "shop/__init__.py": "from flask import Flask\n\n\ndef create_app():\n    return Flask(__name__)\n",
    "shop/views.py": "",
    "requirements.txt": "flask\n",
    "templates/index.html": "<p>shop</p>\n",
    "static/app.css": "body {}\n",
    "static/app.js": "",
}
# A second app, in the default layout (`gunicorn app:app`): what DEVBOX_APP switches to.
SECOND_APP_FOLDER = "tests/apps/second"
SECOND_APP = {
    "app.py": "from flask import Flask\n\napp = Flask(__name__)\n",
    "requirements.txt": "flask\n",
    "templates/index.html": "<p>second</p>\n",
    "static/style.css": "body {}\n",
}


def write_tree(root, files):
    """Write ``files`` (path relative to ``root`` -> text)."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(autouse=True)
def repo(tmp_path, monkeypatch):
    """The test's repository, tmp_path/repo: devbox.yaml at RAW's values, app/ (APP)
    and tests/apps/second/ (SECOND_APP). ``devbox.settings.load()`` and
    ``validate(raw)`` check against it, with none of the DEVBOX_* variables that
    stand in for a setting: a test sets those it means."""
    root = tmp_path / "repo"
    write_tree(root, {f"app/{name}": text for name, text in APP.items()})
    write_tree(root, {f"{SECOND_APP_FOLDER}/{name}": text for name, text in SECOND_APP.items()})
    (root / "devbox.yaml").write_text(yaml.safe_dump(RAW, sort_keys=False))
    for variable in (*devbox_settings.OVERRIDES, "DEVBOX_GUEST", "DEVBOX_SETTINGS", "VAGRANT_DOTFILE_PATH",
                     "VAGRANT_DEFAULT_PROVIDER", "DEVBOX_ADDRESS_BLOCK"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(devbox_settings, "DEFAULT_FILE", root / "devbox.yaml")
    # validate()'s root defaults to the checkout (bound when devbox.settings was
    # imported), and load() takes that default: point it here instead.
    monkeypatch.setattr(devbox_settings, "validate", functools.partial(devbox_settings.validate, root=root))
    return root


@pytest.fixture
def raw():
    """RAW as plain data, to change one key at a time before it is checked."""
    return copy.deepcopy(RAW)


@pytest.fixture
def settings(raw):
    """The checked settings of ``repo``, for the tests of what is made from them.
    (tests/conftest.py's ``settings`` are the team's devbox.yaml: not for unit tests.)"""
    return devbox_settings.validate(raw)
