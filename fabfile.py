"""devbox tasks. `fab -l` lists them, `fab -h TASK` shows a task's options.

Nothing here touches Vagrant or the guest at import time: connections are made
inside the tasks, so `fab -l` works with no guest and no Vagrant installed.
"""

import os
import shlex
import subprocess
import sys
import time

from fabric import task
from invoke.exceptions import Exit

from devbox import guest as devbox_guest
from devbox import settings as devbox_settings


def _settings():
    try:
        return devbox_settings.load()
    except devbox_settings.SettingsError as exc:
        raise Exit(f"devbox.yaml: {exc}", code=2) from None


_base_url = devbox_settings.base_url
_health = devbox_guest.health_or_none


def _guest(call):
    """``call()`` from devbox.guest; no Vagrant or no guest ends the task with its one-line reason."""
    try:
        return call()
    except devbox_guest.GuestError as exc:
        raise Exit(f"devbox: {exc}", code=1) from None


def _connection():
    return _guest(devbox_guest.connection)


def _vagrant_call(action, *args, **kwargs):
    """Run a python-vagrant method, streaming Vagrant's output; one line on failure."""
    try:
        getattr(_guest(devbox_guest.vagrant), action)(*args, **kwargs)
    except subprocess.CalledProcessError as exc:
        raise Exit(f"devbox: vagrant {action} failed (exit {exc.returncode}, output above)", code=1) from None


def _guest_script(s, *steps):
    """The command that runs provision.sh steps in the guest, as root.

    The worker is passed along: on the host it may come from $DEVBOX_WORKER.
    """
    root = s["paths"]["synced"]
    return f"sudo DEVBOX_ROOT={root} DEVBOX_WORKER={s['worker']} bash {root}/provision/provision.sh {' '.join(steps)}"


@task(help={"provider": "Vagrant provider (default: the first usable one: virtualbox, libvirt, lxc)"})
def up(c, provider=None):
    """Start the guest (created and provisioned the first time); returns when the app answers."""
    s = _settings()
    started = time.monotonic()
    _vagrant_call("up", provider=provider)
    url = _base_url(s)
    if not devbox_guest.wait_for(lambda: _health(url), timeout=60):
        raise Exit(f"devbox: the guest is up but {url} does not answer; see fab logs", code=1)
    print(f"devbox is up at {url} ({time.monotonic() - started:.1f}s)")


@task
def halt(c):
    """Stop the guest; fab up starts it again with everything in place."""
    _vagrant_call("halt")


@task
def destroy(c):
    """Delete the guest and everything in it (the database too). Your files stay."""
    _vagrant_call("destroy")


@task
def provision(c):
    """Re-run provisioning: apply devbox.yaml and requirements changes to the running guest."""
    _vagrant_call("provision")


def _reload(s, conn, timeout=60):
    """Gracefully reload the app (restart it if it is down), re-render nginx,
    and wait until new code answers through the forwarded port; return the seconds it took."""
    url = _base_url(s)
    before = _health(url)
    started = time.monotonic()
    # HUP first: the new worker boots while nginx is re-rendered and checked.
    conn.run(f"sudo systemctl reload-or-restart {s['name']}.service", hide=True)
    result = conn.run(_guest_script(s, "nginx"), hide=True, warn=True)
    if result.failed:
        print(result.stderr.strip(), file=sys.stderr)  # nginx's own message
        raise Exit("devbox: the nginx config is invalid (above); the previous config keeps serving", code=1)

    def new_code():
        health = _health(url)
        return health if health and (before is None or health["boot_id"] != before["boot_id"]) else None

    after = devbox_guest.wait_for(new_code, timeout=timeout)
    if not after:
        print(conn.run(f"sudo tail -n 15 {s['paths']['logs']}/app.log", hide=True, warn=True).stdout, file=sys.stderr)
        raise Exit(f"devbox: the new code did not answer within {timeout}s; the app log is above", code=1)
    return time.monotonic() - started, after


@task
def reload(c):
    """Load code changes: app reloaded gracefully (HUP), nginx re-rendered if changed (nginx -t first); waits for the new code."""
    s = _settings()
    elapsed, health = _reload(s, _connection())
    print(f"new code answering at {_base_url(s)} after {elapsed:.2f}s (version {health['version']})")


# Packages of any worker class; those not in the guest's venv are left out.
VERSIONS = """import sys, importlib.metadata as m
def version(p):
    try: return f"{p} {m.version(p)}"
    except m.PackageNotFoundError: return ""
print("python", sys.version.split()[0], *filter(None, map(version, sys.argv[1:])))"""


@task
def status(c):
    """One screen: guest state and provider, services, health through the forwarded port, versions."""
    s = _settings()
    url = _base_url(s)
    state, provider = _guest(devbox_guest.state)
    print(f"guest     {state} ({provider})")
    health = _health(url)
    if health:
        print(f"health    {url}/healthz: {health['status']}, version {health['version']}, "
              f"boot {health['boot_id'][:8]}, async_mode {health['async_mode']}")
    else:
        print(f"health    {url}/healthz: no answer")
    if state != "running":
        return
    conn = _connection()

    def guest(command):
        return conn.run(command, hide=True, warn=True).stdout.strip()

    nginx = guest("systemctl is-active nginx") + ", " + guest("/usr/sbin/nginx -v 2>&1")
    app = guest(f"systemctl is-active {s['name']}")
    python = f"{s['paths']['venv']}/bin/python -c {shlex.quote(VERSIONS)}"
    versions = guest(f"{python} gunicorn eventlet gevent simple-websocket flask flask-socketio")
    print(f"nginx     {nginx}")
    print(f"app       {app}, gunicorn {s['worker']} worker on 127.0.0.1:{s['app_port']}")
    print(f"versions  {versions}")


@task(help={"follow": "keep streaming new lines", "lines": "how many lines of each log to show first"})
def logs(c, follow=False, lines=20):
    """nginx access/error and app logs from the guest; --follow to stream them."""
    s = _settings()
    logs_dir = s["paths"]["logs"]
    files = " ".join(f"{logs_dir}/{name}" for name in ("nginx-access.log", "nginx-error.log", "app.log"))
    flag = "-F" if follow else ""
    _connection().run(f"sudo tail -n {int(lines)} {flag} {files}", pty=follow, warn=True)


@task(help={"args": "options passed to pytest, e.g. --args='-k static -x'"})
def test(c, args=""):
    """Run the test suite on the host against the running devbox (unit tests included)."""
    s = _settings()
    if not _health(_base_url(s)):
        raise Exit(f"devbox: {_base_url(s)} does not answer; run fab up first", code=1)
    c.run(f"{sys.executable} -m pytest {args}", pty=sys.stdout.isatty())


@task
def shell(c):
    """A Flask shell inside the guest, with the app's settings and database."""
    s = _settings()
    config, venv, root = s["paths"]["config"], s["paths"]["venv"], s["paths"]["synced"]
    command = (f"cd {root} && set -a && . {config}/app.env && . {config}/secret.env && set +a && "
               f"exec {venv}/bin/flask --app app shell")
    _connection().run(f"sudo -u {s['name']} bash -c '{command}'", pty=True)


@task(help={"quiet": "seconds without a save that end a burst of saves (default 0.2)"})
def watch(c, quiet=0.2):
    """Watch the tree: .py saved -> reload; template or static saved -> open pages refresh (CSS in place)."""
    import threading

    import socketio
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    from devbox.settings import ROOT
    from devbox.watch import RELOAD, Debouncer

    s = _settings()
    url = _base_url(s)
    if not s["dev_mode"]:
        raise Exit("devbox: dev_mode is off in devbox.yaml, so pages cannot be told to refresh; "
                   "set dev_mode: true and run fab provision", code=1)
    if _health(url) is None:
        raise Exit(f"devbox: {url} does not answer; run fab up first", code=1)
    conn = _connection()
    pages = socketio.Client(reconnection=True, websocket_extra_options={"origin": url})
    pages.connect(url, transports=["websocket"], wait_timeout=10)

    def fire(action, paths):
        started = time.monotonic()
        try:
            if action == RELOAD:
                _reload(s, conn, timeout=20)
            pages.call("devbox:changed", {"action": "page" if action == RELOAD else action}, timeout=5)
        except Exit as exc:
            print(exc.message, file=sys.stderr)  # keep watching: the next save may fix it
            return
        except Exception as exc:  # noqa: BLE001  the watcher must outlive a lost connection
            print(f"devbox: could not tell the pages ({exc}); is the devbox up?", file=sys.stderr)
            return
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        print(f"{time.strftime('%H:%M:%S')} {shown}: {action} ({time.monotonic() - started:.2f}s)", flush=True)

    debouncer = Debouncer(fire, quiet=float(quiet))

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event):
            if event.event_type in ("opened", "closed_no_write") or event.is_directory:
                return
            for path in (event.src_path, getattr(event, "dest_path", "")):
                if path:
                    debouncer.add(os.path.relpath(path, ROOT))

    observer = Observer()
    observer.schedule(Handler(), str(ROOT), recursive=True)
    observer.start()
    stop = threading.Event()
    print(f"watching {ROOT} for {url} (Ctrl-C stops)", flush=True)
    try:
        debouncer.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        observer.stop()
        observer.join()
        pages.disconnect()
        conn.close()
