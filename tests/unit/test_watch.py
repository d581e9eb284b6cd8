"""What `fab watch` does with a save, and the debouncing of bursts of saves."""

import threading

import pytest

from devbox.watch import CSS, PAGE, RELOAD, Debouncer, classify, strongest


@pytest.mark.parametrize("path, action", [
    ("app/notifications.py", RELOAD),
    ("app/schema.sql", RELOAD),
    ("provision/templates/nginx-site.conf.j2", RELOAD),
    ("app/templates/index.html", PAGE),
    ("app/static/app.js", PAGE),
    ("app/static/app.css", CSS),
    ("app/static/vendor/socket.io.min.js", PAGE),
    # Never a reason to act:
    ("app/__pycache__/db.cpython-311.pyc", None),
    ("app/.notifications.py.swp", None),
    ("app/notifications.py~", None),
    ("app/.#notifications.py", None),
    ("app/4913", None),
    ("app/static/vendor/socket.io.min.js.map", None),
    ("tests/unit/test_watch.py", None),
    (".git/index", None),
    ("README.md", None),
    ("fabfile.py", None),
])
def test_classify(path, action):
    assert classify(path) == action


def test_the_strongest_action_covers_the_others():
    assert strongest([CSS, PAGE]) == PAGE
    assert strongest([CSS, RELOAD, PAGE]) == RELOAD
    assert strongest([CSS, CSS]) == CSS
    assert strongest([]) is None


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_burst_of_saves_fires_once_after_the_quiet_period():
    clock = FakeClock()
    debouncer = Debouncer(fire=None, quiet=0.2, clock=clock)
    for path in ("app/static/app.css", "app/notifications.py", "app/.notifications.py.swp", "app/static/app.css"):
        debouncer.add(path)
        clock.now += 0.05
    assert debouncer.due() is None  # 0.05 s since the last save
    clock.now += 0.2
    assert debouncer.due() == (RELOAD, ["app/notifications.py", "app/static/app.css"])
    assert debouncer.due() is None  # handed on once


def test_every_save_restarts_the_quiet_period():
    clock = FakeClock()
    debouncer = Debouncer(fire=None, quiet=0.2, clock=clock)
    for _ in range(10):
        debouncer.add("app/static/app.css")
        clock.now += 0.15
        assert debouncer.due() is None
    clock.now += 0.1
    assert debouncer.due() == (CSS, ["app/static/app.css"])


def test_ignored_files_never_fire():
    clock = FakeClock()
    debouncer = Debouncer(fire=None, quiet=0.2, clock=clock)
    debouncer.add("README.md")
    debouncer.add("app/__pycache__/x.pyc")
    clock.now += 1
    assert debouncer.due() is None


def test_run_fires_each_burst_on_its_thread():
    fired = []
    done = threading.Event()

    def fire(action, paths):
        fired.append((action, paths))
        done.set()

    debouncer = Debouncer(fire=fire, quiet=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=debouncer.run, args=(stop,), kwargs={"tick": 0.01})
    thread.start()
    try:
        debouncer.add("app/templates/index.html")
        assert done.wait(2)
    finally:
        stop.set()
        thread.join()
    assert fired == [(PAGE, ["app/templates/index.html"])]
