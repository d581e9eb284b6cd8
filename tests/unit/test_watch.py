"""What `fab watch` does with a save, decided from the settings for any app,
and the debouncing of bursts of saves."""

import threading

import pytest
import yaml

from devbox import settings as devbox_settings
from devbox.host.watch import CSS, NGINX, PAGE, PROVISION, RELOAD, Debouncer, classify, refresh_action
from devbox.settings import ROOT


@pytest.fixture(scope="module")
def demo():
    return devbox_settings.validate(yaml.safe_load((ROOT / "devbox.yaml").read_text()))


@pytest.fixture(scope="module")
def plain():
    """The settings with the second app: another folder, the default layout."""
    raw = yaml.safe_load((ROOT / "devbox.yaml").read_text())
    raw["app"] = {"folder": "tests/apps/plain"}
    return devbox_settings.validate(raw)


@pytest.mark.parametrize("path, action", [
    ("app/notifications/views.py", RELOAD),
    ("app/notifications/schema.sql", RELOAD),      # any file of the app's, not only Python
    ("app/templates/index.html", RELOAD),          # templates are code: the app reloads, then pages
    ("app/app.py", RELOAD),                        # a new module counts as soon as it is saved
    ("app/static/app.js", PAGE),
    ("app/static/app.css", CSS),
    ("app/static/vendor/socket.io.min.js", PAGE),
    ("provision/guest/nginx/site.conf.j2", NGINX),
    ("app/requirements.txt", PROVISION),
    ("devbox.yaml", PROVISION),
    # Never a reason to act:
    ("app/notifications/__pycache__/db.cpython-311.pyc", None),
    ("app/notifications/.views.py.swp", None),
    ("app/notifications/views.py~", None),
    ("app/.#views.py", None),
    ("app/4913", None),
    ("app/instance/notifications.sqlite", None),
    ("app/.venv/lib/site.py", None),
    ("app/node_modules/x/index.js", None),
    ("app/static/vendor/socket.io.min.js.map", None),
    ("tests/unit/test_watch.py", None),
    ("tests/apps/plain/app.py", None),              # another app's file
    (".git/index", None),
    ("README.md", None),
    ("fabfile.py", None),
    ("devbox/host/watch.py", None),
])
def test_classify_the_demo(demo, path, action):
    assert classify(path, demo) == action


@pytest.mark.parametrize("path, action", [
    ("tests/apps/plain/app.py", RELOAD),
    ("tests/apps/plain/templates/index.html", RELOAD),
    ("tests/apps/plain/static/style.css", CSS),
    ("tests/apps/plain/requirements.txt", PROVISION),
    ("app/notifications/views.py", None),           # the demo is not the app now
    ("app/static/app.css", None),
])
def test_classify_follows_the_app_settings(plain, path, action):
    assert classify(path, plain) == action


@pytest.mark.parametrize("actions, refresh", [
    ({CSS}, CSS),
    ({CSS, PAGE}, PAGE),
    ({RELOAD}, PAGE),
    ({NGINX, CSS}, PAGE),
    ({PROVISION}, None),
    (set(), None),
])
def test_open_pages_swap_stylesheets_only_when_nothing_else_changed(actions, refresh):
    assert refresh_action(actions) == refresh


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_burst_of_saves_fires_once_after_the_quiet_period(demo):
    clock = FakeClock()
    debouncer = Debouncer(fire=None, settings=demo, quiet=0.2, clock=clock)
    for path in ("app/static/app.css", "app/notifications/views.py", "app/notifications/.views.py.swp",
                 "app/static/app.css"):
        debouncer.add(path)
        clock.now += 0.05
    assert debouncer.due() is None  # 0.05 s since the last save
    clock.now += 0.2
    assert debouncer.due() == ({RELOAD, CSS}, ["app/notifications/views.py", "app/static/app.css"])
    assert debouncer.due() is None  # handed on once


def test_every_save_restarts_the_quiet_period(demo):
    clock = FakeClock()
    debouncer = Debouncer(fire=None, settings=demo, quiet=0.2, clock=clock)
    for _ in range(10):
        debouncer.add("app/static/app.css")
        clock.now += 0.15
        assert debouncer.due() is None
    clock.now += 0.1
    assert debouncer.due() == ({CSS}, ["app/static/app.css"])


def test_ignored_files_never_fire(demo):
    clock = FakeClock()
    debouncer = Debouncer(fire=None, settings=demo, quiet=0.2, clock=clock)
    debouncer.add("README.md")
    debouncer.add("app/notifications/__pycache__/x.pyc")
    clock.now += 1
    assert debouncer.due() is None


def test_run_fires_each_burst_on_its_thread(demo):
    fired = []
    done = threading.Event()

    def fire(actions, paths):
        fired.append((actions, paths))
        done.set()

    debouncer = Debouncer(fire=fire, settings=demo, quiet=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=debouncer.run, args=(stop,), kwargs={"tick": 0.01})
    thread.start()
    try:
        debouncer.add("app/static/app.js")
        assert done.wait(2)
    finally:
        stop.set()
        thread.join()
    assert fired == [({PAGE}, ["app/static/app.js"])]
