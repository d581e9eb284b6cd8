"""What `fab watch` does with a save, decided from the settings for any app,
and the debouncing of bursts of saves."""

import threading

import pytest

from devbox import settings as devbox_settings
from devbox.host.reload import answered
from devbox.host.watch import (CSS, NGINX, PAGE, PROVISION, RELOAD, TEMPLATE, Debouncer, classify, refresh_action,
                               takes_reload)
from tests.unit.conftest import SECOND_APP_FOLDER


@pytest.fixture
def second(raw):
    """The settings with the second app: another folder, the default layout."""
    raw["app"] = {"folder": SECOND_APP_FOLDER}
    return devbox_settings.validate(raw)


@pytest.mark.parametrize("path, action", [
    ("app/shop/views.py", RELOAD),
    ("app/shop/schema.sql", RELOAD),               # any file of the app's, not only Python
    ("app/templates/index.html", RELOAD),          # templates are code: the app reloads, then pages
    ("app/app.py", RELOAD),                        # a new module counts as soon as it is saved
    ("app/static/app.js", PAGE),
    ("app/static/app.css", CSS),
    ("app/static/vendor/socket.io.min.js", PAGE),
    ("provision/guest/nginx/site.conf.j2", NGINX),
    ("app/requirements.txt", PROVISION),
    ("devbox.yaml", PROVISION),
    # Never a reason to act:
    ("app/shop/__pycache__/db.cpython-311.pyc", None),
    ("app/shop/.views.py.swp", None),
    ("app/shop/views.py~", None),
    ("app/.#views.py", None),
    ("app/4913", None),
    ("app/instance/shop.sqlite", None),
    ("app/.venv/lib/site.py", None),
    ("app/node_modules/x/index.js", None),
    ("app/static/vendor/socket.io.min.js.map", None),
    ("tests/unit/test_watch.py", None),
    (f"{SECOND_APP_FOLDER}/app.py", None),         # another app's file
    (".git/index", None),
    ("README.md", None),
    ("fabfile.py", None),
    ("devbox/host/watch.py", None),
])
def test_classify_an_apps_files(settings, path, action):
    assert classify(path, settings) == action


@pytest.mark.parametrize("path, action", [
    (f"{SECOND_APP_FOLDER}/app.py", RELOAD),
    (f"{SECOND_APP_FOLDER}/templates/index.html", RELOAD),
    (f"{SECOND_APP_FOLDER}/static/style.css", CSS),
    (f"{SECOND_APP_FOLDER}/requirements.txt", PROVISION),
    ("app/shop/views.py", None),                    # the first app is not the app now
    ("app/static/app.css", None),
])
def test_classify_follows_the_app_settings(second, path, action):
    assert classify(path, second) == action


@pytest.mark.parametrize("paths, reload", [
    (["app/templates/index.html"], False),          # the app re-reads it
    (["app/shop/admin/templates/list.html"], False),
    (["app/templates/index.html", "app/shop/views.py"], True),
    (["app/templates.py"], True),                  # a module beside the folder is no template
    (["app/static/app.css"], False),               # not the app's code at all
])
def test_only_templates_the_app_re_reads_by_itself_take_no_reload(settings, paths, reload):
    templates = ["app/templates", "app/shop/admin/templates"]  # as devbox.host.reload.live_templates gives them
    assert takes_reload(paths, settings, templates) is reload
    assert takes_reload(paths, settings, []) is any(classify(p, settings) == RELOAD for p in paths)


@pytest.mark.parametrize("actions, refresh", [
    ({TEMPLATE}, PAGE),
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


def test_a_burst_of_saves_fires_once_after_the_quiet_period(settings):
    clock = FakeClock()
    debouncer = Debouncer(fire=None, settings=settings, quiet=0.2, clock=clock)
    for path in ("app/static/app.css", "app/shop/views.py", "app/shop/.views.py.swp",
                 "app/static/app.css"):
        debouncer.add(path)
        clock.now += 0.05
    assert debouncer.due() is None  # 0.05 s since the last save
    clock.now += 0.2
    assert debouncer.due() == ({RELOAD, CSS}, ["app/shop/views.py", "app/static/app.css"])
    assert debouncer.due() is None  # handed on once


def test_every_save_restarts_the_quiet_period(settings):
    clock = FakeClock()
    debouncer = Debouncer(fire=None, settings=settings, quiet=0.2, clock=clock)
    for _ in range(10):
        debouncer.add("app/static/app.css")
        clock.now += 0.15
        assert debouncer.due() is None
    clock.now += 0.1
    assert debouncer.due() == ({CSS}, ["app/static/app.css"])


def test_ignored_files_never_fire(settings):
    clock = FakeClock()
    debouncer = Debouncer(fire=None, settings=settings, quiet=0.2, clock=clock)
    debouncer.add("README.md")
    debouncer.add("app/shop/__pycache__/x.pyc")
    clock.now += 1
    assert debouncer.due() is None


def test_run_fires_each_burst_on_its_thread(settings):
    fired = []
    done = threading.Event()

    def fire(actions, paths):
        fired.append((actions, paths))
        done.set()

    debouncer = Debouncer(fire=fire, settings=settings, quiet=0.05)
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


def test_a_reload_that_times_out_says_what_the_instance_answered():
    old = {"boot_id": "a", "pid": 7, "version": "v1"}
    assert answered(None, old, "v2") == "nothing answered it"
    assert "from before the reload" in answered(old, old, "v2") and "pid 7" in answered(old, old, "v2")
    assert answered({**old, "boot_id": "b", "version": "v3"}, old, "v2") == \
        "a new worker answers with version v3, the files here are v2"
