"""devbox's WSGI entry point around an app: loads it as gunicorn would, answers
/_devbox/health with the code it runs, keeps /_devbox/ from the app, and turns
an app that fails to load into one line and devbox's friendly page."""

import json
import os
import subprocess
import sys
import uuid
import wsgiref.util

import pytest

from devbox import appcode
from devbox.appserver.wsgi import Devbox
from devbox.settings import ROOT


def call(app, path="/", method="GET"):
    """One request through a WSGI callable: (status code, headers, body)."""
    environ = {"PATH_INFO": path, "REQUEST_METHOD": method}
    wsgiref.util.setup_testing_defaults(environ)
    seen = {}

    def start_response(status, headers):
        seen.update(status=int(status.split()[0]), headers=dict(headers))

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


@pytest.fixture
def app_folder(tmp_path, monkeypatch):
    """Factory: an app folder on sys.path holding one module with ``source``;
    returns (folder, module name). Module names are unique, so no test sees
    another's module."""
    folder = tmp_path / "app"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.chdir(folder)  # as gunicorn runs it: the app's folder is the working directory

    def make(source):
        name = f"app_{uuid.uuid4().hex[:8]}"
        (folder / f"{name}.py").write_text(source)
        return folder, name

    return make


HELLO = """
calls = []

def app(environ, start_response):
    calls.append(environ["PATH_INFO"])
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-App", "yes")])
    return [b"hello from " + environ["PATH_INFO"].encode()]

def make(greeting, loud=False):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [(greeting.upper() if loud else greeting).encode()]
    return app
"""


def wrap(folder, target):
    return Devbox(target, folder, folder / "static", "gthread")


def test_requests_reach_the_app_unchanged(app_folder):
    folder, name = app_folder(HELLO)
    status, headers, body = call(wrap(folder, f"{name}:app"), "/some/where")
    assert (status, headers["X-App"], body) == (201, "yes", b"hello from /some/where")


def test_a_factory_is_called_with_its_literal_arguments(app_folder):
    folder, name = app_folder(HELLO)
    assert call(wrap(folder, f"{name}:make('hi', loud=True)"))[2] == b"HI"


def test_health_names_the_code_the_worker_runs(app_folder):
    folder, name = app_folder(HELLO)
    first, second = wrap(folder, f"{name}:app"), wrap(folder, f"{name}:app")
    status, headers, body = call(first, "/_devbox/health")
    health = json.loads(body)
    assert (status, headers["Cache-Control"]) == (200, "no-store")
    assert health["status"] == "ok"
    assert health["folder"] == str(folder)
    assert health["version"] == appcode.version(folder, folder / "static")
    assert (health["app"], health["worker"]) == (f"{name}:app", "gthread")
    assert health["boot_id"] != json.loads(call(second, "/_devbox/health")[2])["boot_id"]


def test_the_version_is_taken_before_the_import(app_folder):
    # An import that changes the app's files: the version must be that of the
    # files before, never newer than the code that runs.
    folder, name = app_folder(HELLO + "\nimport pathlib\npathlib.Path(__file__).with_name('other.py').write_text('x = 2')\n")
    (folder / "other.py").write_text("x = 1")
    before = appcode.version(folder, folder / "static")
    assert json.loads(call(wrap(folder, f"{name}:app"), "/_devbox/health")[2])["version"] == before
    assert appcode.version(folder, folder / "static") != before


@pytest.mark.parametrize("path", ["/_devbox/", "/_devbox/anything", "/_devbox"])
def test_devbox_urls_never_reach_the_app(app_folder, path):
    folder, name = app_folder(HELLO)
    wrapper = wrap(folder, f"{name}:app")
    status, _, _ = call(wrapper, path)
    assert status == 404
    assert wrapper.app.__globals__["calls"] == []


def test_health_takes_get_and_head_only(app_folder):
    folder, name = app_folder(HELLO)
    wrapper = wrap(folder, f"{name}:app")
    assert call(wrapper, "/_devbox/health", "HEAD")[::2] == (200, b"")
    status, headers, _ = call(wrapper, "/_devbox/health", "POST")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")


@pytest.mark.parametrize("source, target, error", [
    ("def app(:\n", "{name}:app", "SyntaxError: invalid syntax ({name}.py, line 1)"),
    ("x = 1\nraise RuntimeError('no database')\n", "{name}:app", "RuntimeError: no database ({name}.py, line 2)"),
    ("import sys\nsys.exit(3)\n", "{name}:app", "SystemExit: 3 ({name}.py, line 2)"),
    ("import no_such_module_here\n", "{name}:app",
     "ModuleNotFoundError: No module named 'no_such_module_here' ({name}.py, line 1)"),
    ("x = 1\n", "{name}:app", "AppImportError: Failed to find attribute 'app' in '{name}'."),
    ("def make():\n    return {{}}['key']\n", "{name}:make()", "KeyError: 'key' ({name}.py, line 2)"),
    # A typo in app.wsgi: no frame of the app's, and none of importlib's named as if it were a file.
    ("x = 1\n", "no_such_module_{name}:app", "ModuleNotFoundError: No module named 'no_such_module_{name}'"),
])
def test_an_app_that_fails_to_load_is_one_line_and_the_friendly_page(app_folder, capsys, source, target, error):
    folder, name = app_folder(source.format(name="unused"))
    wrapper = wrap(folder, target.format(name=name))
    expected = error.format(name=name)
    status, _, body = call(wrapper, "/_devbox/health")
    assert (status, json.loads(body)["status"], json.loads(body)["error"]) == (503, "error", expected)
    status, headers, page = call(wrapper, "/anything")
    assert (status, headers["Retry-After"]) == (503, "1")
    assert b'id="devbox-unavailable"' in page
    assert f"devbox: the app {target.format(name=name)} failed to load: {expected}" in capsys.readouterr().err


def test_the_libraries_the_app_imported_are_recorded_for_the_master_but_not_its_code(app_folder, tmp_path):
    folder, name = app_folder("import json, wsgiref.simple_server\nfrom helper_mod import x\n" + HELLO)
    (folder / "helper_mod.py").write_text("x = 1\n")
    record = tmp_path / "preload.txt"
    Devbox(f"{name}:app", folder, folder / "static", "eventlet", record)
    recorded = record.read_text().split()
    assert {"json", "wsgiref.simple_server"} <= set(recorded)
    assert not {name, "helper_mod"} & set(recorded)  # the app's code would go stale in the master
    assert not [n for n in recorded if n.startswith(("devbox", "__"))]


def test_an_app_that_failed_to_load_records_nothing(app_folder, tmp_path):
    folder, name = app_folder("import json\nraise RuntimeError('broken')\n")
    record = tmp_path / "preload.txt"
    Devbox(f"{name}:app", folder, folder / "static", "eventlet", record)
    assert not record.exists()


def test_the_shell_loads_the_app_as_gunicorn_does(app_folder):
    folder, name = app_folder(HELLO)
    result = subprocess.run([sys.executable, "-m", "devbox.appserver.shell", f"{name}:make('hi')"], cwd=folder,
                            input="print('APP', app.__name__)\n", capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PYTHONPATH": f"{folder}:{ROOT}"})
    assert result.returncode == 0, result.stderr
    assert "APP app" in result.stdout  # a plain WSGI app (no Flask context), the factory called


FLASK_APP = """
from flask import Blueprint, Flask, render_template

app = Flask(__name__)
admin = Blueprint("admin", __name__, template_folder="admin/templates")
app.register_blueprint(admin)

@app.route("/")
def index():
    return render_template("index.html")
"""


@pytest.mark.parametrize("dev_mode", [True, False])
def test_in_development_a_flask_app_re_reads_a_saved_template_and_names_its_folders(app_folder, dev_mode):
    folder, name = app_folder(FLASK_APP)
    (folder / "templates").mkdir()
    (folder / "admin" / "templates").mkdir(parents=True)
    template = folder / "templates" / "index.html"
    template.write_text("first")
    wrapper = Devbox(f"{name}:app", folder, folder / "static", "gthread", dev_mode=dev_mode)
    assert call(wrapper)[2] == b"first"
    template.write_text("second")
    os.utime(template, (1, 1))  # however coarse the clock: another modification time
    health = json.loads(call(wrapper, "/_devbox/health")[2])
    if dev_mode:
        assert call(wrapper)[2] == b"second"  # the same worker: no reload
        assert health["templates"] == ["admin/templates", "templates"]
    else:  # as in production: a template is read once
        assert call(wrapper)[2] == b"first"
        assert "templates" not in health


def test_an_app_that_is_not_flask_names_no_template_folders(app_folder):
    folder, name = app_folder(HELLO)
    wrapper = Devbox(f"{name}:app", folder, folder / "static", "gthread", dev_mode=True)
    assert "templates" not in json.loads(call(wrapper, "/_devbox/health")[2])


@pytest.mark.parametrize("source, code, last_line", [
    ("from flask import Flask\napp = Flask(__name__)\n", 0, ""),
    ("from flask import Flask\napp = Flask(__name__\n", 1, "SyntaxError"),
    ("import no_such_module\napp = None\n", 1, "ModuleNotFoundError: No module named 'no_such_module'"),
])
def test_a_release_is_tried_as_gunicorns_worker_would_load_it(tmp_path, source, code, last_line):
    """fab deploy's trial before a release goes live (provision/guest/app/app.sh):
    run in the app's folder, its reason on the last line."""
    (tmp_path / "trialapp.py").write_text(source)
    result = subprocess.run([sys.executable, "-m", "devbox.appserver.trial", "trialapp:app"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert (lines[-1] if lines else "").startswith(last_line), result.stderr
