"""Small helpers for the tests that reach the guest."""

import os
import shlex
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import requests

from devbox import settings as devbox_settings
from devbox.host import guest as devbox_guest
from devbox.host.scratch import on_app_guests, scratch_folder, use_scratch_data, wait_for_app  # noqa: F401  (for the tests)
from devbox.settings import ROOT


def fab(*args, timeout=120):
    """Run a fab task from this repository, as a developer would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "fabric", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def pinned(worker, package):
    """The version requirements/worker-WORKER.txt pins for ``package``."""
    for line in (ROOT / "requirements" / f"worker-{worker}.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package:
            return version.strip()
    raise LookupError(f"{package} is not pinned for the {worker} worker")


def count_in_app_logs(guests, settings, text, log="app-access.log"):
    """How many lines of an app log mention ``text``, over every guest that runs app instances."""
    command = f"sudo grep -cF -- {shlex.quote(text)} {settings['paths']['logs']}/{log}"
    return sum(int(result.stdout.strip() or 0) for result in on_app_guests(guests, command))


def boot_ids(http, settings):
    """Every app instance's boot id, each asked past the balancer: a restart of any changes them.
    (Through the balancer a request that brings its own Cookie header may land on another.)"""
    return [http.get(f"/_devbox/instances/{i}/health").json()["boot_id"] for i in range(1, settings["instances"] + 1)]


def main_pid(guests, settings, instance=1):
    """An app instance's main process, on the guest that runs it: its gunicorn master, or uWSGI's emperor."""
    unit = settings["app_units"][instance - 1]
    return guests.of_instance(instance).run(f"systemctl show -p MainPID --value {unit}", hide=True).stdout.strip()


def workers_command(settings, master):
    """A shell command printing the pids of an app instance's workers, oldest first: the children of
    ``master``, its main process (gunicorn's master), or under uWSGI the children of the emperor's vassals."""
    if settings["server"] == "uwsgi":
        master = f"\"$(ps -o pid= --ppid {master} | tr -d ' ' | paste -sd,)\""
    return f"ps -o pid= --sort=start_time --ppid {master}"


def worker_pids(guests, settings, instance=1, master=None):
    """An app instance's workers, oldest first (``master``: its main process, default the one now)."""
    master = master or main_pid(guests, settings, instance)
    return guests.of_instance(instance).run(workers_command(settings, master), hide=True, warn=True).stdout.split()


@contextmanager
def reloading(guests, settings):
    """`fab reload` running meanwhile. Entered once every app instance has
    retired its worker, which then no longer holds the listening socket (under
    gunicorn the new one may still be booting; under uWSGI the new vassal
    accepts): the window in which the retired worker finishes its open
    connections, for up to the graceful timeout, however long the new one takes
    to load (seconds under software emulation). On leaving, the reload must
    have succeeded."""
    instances = range(1, settings["instances"] + 1)
    masters = {i: main_pid(guests, settings, i) for i in instances}
    before = {i: worker_pids(guests, settings, i, masters[i]) for i in instances}
    reload = subprocess.Popen([sys.executable, "-m", "fabric", "reload"], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert devbox_guest.wait_for(
            lambda: all(set(worker_pids(guests, settings, i, masters[i])) - set(before[i]) for i in instances),
            timeout=30)
        app = f"{settings['paths']['synced']}/provision/guest/app"
        for i in instances:
            released = (f'bash {app}/released.sh "$(bash {app}/listener.sh {settings["app_binds"][i - 1]})" 30 '
                        + " ".join(before[i]))
            guests.of_instance(i).run(f"sudo bash -c {shlex.quote(released)}", hide=True)
        yield
    finally:
        output = reload.communicate(timeout=120)[0]
    assert reload.returncode == 0, output


class Load(threading.Thread):
    """Requests to ``paths`` through the forwarded port in a loop until stopped
    (with ``cookies``, such as another session's, to keep to its app instance);
    keeps each answer as (path, status, whether it is devbox's friendly page), or
    (path, the exception, False), and in ``started`` when each request began."""

    def __init__(self, base_url, paths, cookies=None):
        super().__init__(daemon=True)
        self.base_url, self.paths, self.cookies = base_url, paths, cookies
        self.stop = threading.Event()
        self.answers, self.started = [], []

    def run(self):
        with requests.Session() as session:
            session.cookies.update(self.cookies or {})  # nginx's route cookie: the same app instance
            while not self.stop.is_set():
                for path in self.paths:
                    self.started.append(time.monotonic())
                    try:
                        response = session.get(self.base_url + path, timeout=10)
                        self.answers.append((path, response.status_code, 'id="devbox-unavailable"' in response.text))
                    except requests.RequestException as exc:
                        self.answers.append((path, repr(exc), False))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()


@contextmanager
def instances(settings, guests, count):
    """The guest runs ``count`` app instances meanwhile, as after `DEVBOX_INSTANCES=count
    fab provision` (set here too, for fab, the settings and ``guests``); then as before."""
    os.environ["DEVBOX_INSTANCES"] = str(count)
    try:
        scaled = guests.settings = devbox_settings.load()
        guests.front.run(devbox_guest.provision_command(scaled, "app", "nginx"), hide=True)
        wait_for_app(scaled)
        yield scaled
    finally:
        del os.environ["DEVBOX_INSTANCES"]
        guests.settings = settings
        guests.front.run(devbox_guest.provision_command(settings, "app", "nginx"), hide=True)
        wait_for_app(settings)


def session_on(base_url, instance, tries=200):
    """A requests session that nginx keeps to app instance ``instance`` (by the cookie
    it hands a new client), found by starting new ones until one lands there."""
    for _ in range(tries):
        session = requests.Session()
        if session.get(base_url + "/_devbox/health", timeout=10).json()["instance"] == instance:
            return session
        session.close()
    raise AssertionError(f"no new client landed on instance {instance} in {tries} tries")
