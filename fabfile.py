"""devbox tasks. `fab -l` lists them, `fab -h TASK` shows a task's options.

Thin over devbox.host: nothing here touches Vagrant or the guest at import
time, so `fab -l` works with no guest and no Vagrant installed. Every task
works the same for any app: it asks devbox's health, never the app.
"""

import os
import shlex
import subprocess
import sys
import time

from fabric import task
from invoke.exceptions import Exit

from devbox import settings as devbox_settings
from devbox.host import guest as devbox_guest
from devbox.host import reload as devbox_reload
from devbox.host import sync as devbox_sync
from devbox.host import tls as devbox_tls
from devbox.host import wheels as devbox_wheels
from devbox.host.terminal import Printable
from devbox.host.watch import QUIET


def _settings():
    try:
        return devbox_settings.load()
    except devbox_settings.SettingsError as exc:
        raise Exit(f"devbox.yaml: {exc}", code=2) from None


def _guest(call):
    """``call()`` from devbox.host.guest; no Vagrant or no guest ends the task with its one-line reason."""
    try:
        return call()
    except devbox_guest.GuestError as exc:
        raise Exit(f"devbox: {exc}", code=1) from None


def _connection(guest=devbox_settings.FRONT):
    return _guest(lambda: devbox_guest.connection(guest))


def _guests(s):
    """Connections to every guest; a front that is down ends the task with its one line."""
    guests = devbox_guest.Guests(s)
    _guest(lambda: guests.front)
    return guests


def _vagrant(action, *args, **kwargs):
    """Run a python-vagrant method, streaming Vagrant's output; one line on failure."""
    try:
        getattr(_guest(devbox_guest.vagrant), action)(*args, **kwargs)
    except subprocess.CalledProcessError as exc:
        raise Exit(f"devbox: vagrant {action} failed (exit {exc.returncode}, output above)", code=1) from None


def _wheels(s):
    """The guest installs offline from wheels fetched here; a set already fetched costs nothing."""
    _guest(devbox_guest.vagrant)  # no Vagrant: say so before fetching anything
    try:
        devbox_wheels.fetch(s)
    except devbox_wheels.WheelsError as exc:
        raise Exit(f"devbox: {exc}", code=1) from None


def _copy_tree(guests):
    """A guest that holds a copy of the repository (libvirt: rsync) gets the files as they are now."""
    try:
        _guest(guests.copy_tree)
    except devbox_sync.SyncError as exc:
        raise Exit(f"devbox: {exc}", code=1) from None


def _check_writable(guests):
    """A writable folder the guest has lost (replaced on the host, or newly listed) ends the task before anything changes."""
    stale = _guest(guests.stale_writable)
    if stale:
        raise Exit(f"devbox: app.writable: {', '.join(stale)} is not mounted read-write in the guest as it is on the "
                   "host now (replaced there, or newly listed); run vagrant reload to mount it again", code=1)


def _running(s):
    """The health through the forwarded port, or the task's one-line end."""
    url = devbox_settings.base_url(s)
    health = devbox_guest.health_or_none(url)
    if health is None:
        raise Exit(f"devbox: {url} does not answer; run fab up first", code=1)
    return health


@task(help={"provider": "Vagrant provider (default: devbox.yaml's provider, else Vagrant's first usable one)"})
def up(c, provider=None):
    """Start the guest (created and provisioned the first time); returns when the app answers."""
    if provider:  # the settings (a libvirt guest's package caches) and Vagrant alike
        os.environ["DEVBOX_PROVIDER"] = provider
    s = _settings()
    started = time.monotonic()
    _wheels(s)
    _vagrant("up", provider=provider)
    url = devbox_settings.base_url(s)
    health = devbox_guest.wait_for(lambda: devbox_guest.health_or_none(url), timeout=60)
    if not health:
        raise Exit(f"devbox: the guest is up but {url} does not answer; see fab logs", code=1)
    if health["status"] != "ok":
        raise Exit(f"devbox: the guest is up, but the app failed to load: {health['error']}", code=1)
    _check_writable(_guests(s))  # a guest that was running already kept its mounts
    print(f"devbox is up at {url} ({time.monotonic() - started:.1f}s)")


@task
def halt(c):
    """Stop the guest; fab up starts it again with everything in place."""
    _vagrant("halt")


@task(help={"yes": "do not ask (for scripts): the guest and the app's data in it go"})
def destroy(c, yes=False):
    """Delete the guest and everything in it (the app's data too; asks first). Your files stay."""
    if not yes:
        if not sys.stdin.isatty():
            raise Exit("devbox: fab destroy deletes the guest and the app's data in it; "
                       "run it on a terminal to be asked, or fab destroy --yes", code=1)
        answer = input("Delete the guest and the app's data in it (DATA_DIR, the database)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise Exit("devbox: nothing deleted", code=1)
    _vagrant("destroy")


@task
def provision(c):
    """Apply changes to devbox.yaml or the app's requirements to the running guest."""
    s = _settings()
    if s["nodes"]:
        for name, (state, _) in _guest(devbox_guest.states).items():
            if state != "running":  # vagrant would say so, and exit 0
                where = "guest" if name == devbox_settings.FRONT else f"app guest {name}"
                raise Exit(f"devbox: the {where} is {state.replace('_', ' ')}; run fab up", code=1)
    _wheels(s)
    guests = _guests(s)  # a guest that is down: its one line
    _check_writable(guests)
    _copy_tree(guests)
    if s["nodes"]:  # the app guests share secrets that the Vagrantfile hands out
        _vagrant("provision")
        return
    # What `vagrant provision` runs, over the SSH connection fab has already:
    # Vagrant's own start-up would double a no-op provision's time.
    try:
        with devbox_guest.certificate_handed(guests.front, s) as extra:
            command = devbox_guest.provision_command(s, extra=extra)
            if _guest(lambda: guests.front.run(command, warn=True)).failed:
                raise Exit("devbox: provisioning failed (above); fix it and run fab provision again", code=1)
    except devbox_tls.TLSError as exc:
        raise Exit(str(exc), code=1) from None


@task(help={"rolling": "reload the app's instances one after another, each confirmed first (default: all at once)"})
def reload(c, rolling=False):
    """Load code changes: the app reloaded gracefully, nginx re-rendered (nginx -t first); waits for the new code."""
    s = _settings()
    guests = _guests(s)
    _copy_tree(guests)
    try:
        elapsed, health = _guest(lambda: devbox_reload.reload_app(s, guests, nginx=True, rolling=rolling))
    except devbox_reload.ReloadError as exc:
        if exc.log:
            print(exc.log, file=sys.stderr)
        raise Exit(f"devbox: {exc}", code=1) from None
    every = f", all {s['instances']} instances" if s["instances"] > 1 else ""
    print(f"new code answering at {devbox_settings.base_url(s)} after {elapsed:.2f}s "
          f"(version {health['version']}{every})")


@task(help={"quiet": f"seconds without a save that end a burst of saves (default {QUIET})"})
def watch(c, quiet=QUIET):
    """The edit loop: app code saved -> reload, then open pages refresh; static file saved -> pages refresh (CSS in place)."""
    import threading

    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    from devbox.host.watch import Debouncer, Session, watched_folders
    from devbox.settings import ROOT

    s = _settings()
    _guest(devbox_guest.vagrant)
    _running(s)
    guests = _guests(s)
    _check_writable(guests)
    session = Session(s, guests)
    debouncer = Debouncer(session.fire, s, quiet=float(quiet))

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event):
            if event.event_type in ("opened", "closed_no_write") or event.is_directory:
                return
            for path in (event.src_path, getattr(event, "dest_path", "")):
                if path:
                    debouncer.add(os.path.relpath(path, ROOT))

    observer = Observer()
    for folder, recursive in watched_folders(s):
        observer.schedule(Handler(), str(ROOT / folder), recursive=recursive)
    observer.start()
    stop = threading.Event()
    pages = "" if s["dev_mode"] else "; open pages are not refreshed (dev_mode: false)"
    print(f"watching {ROOT / s['app']['folder']} for {devbox_settings.base_url(s)}{pages} (Ctrl-C stops)", flush=True)
    try:
        debouncer.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        observer.stop()
        observer.join()
        guests.close()


# Whatever the app, these say which server runs it; the app's own packages follow.
VERSIONS = """import sys, re, importlib.metadata as m
def version(p):
    try: return f"{p} {m.version(p)}"
    except m.PackageNotFoundError: return ""
names = ["gunicorn", "eventlet", "gevent"]
for line in open(sys.argv[1]):
    name = re.match(r"\\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    if name and not line.lstrip().startswith(("#", "-")): names.append(name.group(1))
print("python", sys.version.split()[0], *filter(None, map(version, dict.fromkeys(names))))"""


@task
def status(c):
    """One screen: each guest's state and provider, services, devbox's health of every app instance, versions."""
    s = _settings()
    url = devbox_settings.base_url(s)
    states = _guest(devbox_guest.states)
    for name, (state, provider) in states.items():
        label = "guest" if len(states) == 1 else name
        print(f"{label:<9} {state} ({provider}){' ' + s['guests'][name]['address'] if len(states) > 1 else ''}")
    health = devbox_guest.health_or_none(url)
    if health is None:
        print(f"health    {url}/_devbox/health: no answer")
    else:
        problem = f": {health['error']}" if health["status"] != "ok" else ""
        print(f"health    {url}/_devbox/health: {health['status']}{problem}, version {health['version']}, "
              f"boot {health['boot_id'][:8]}, pid {health['pid']}")
    if states[devbox_settings.FRONT][0] != "running":
        return
    guests = _guests(s)

    def run(command, guest=devbox_settings.FRONT):
        return guests[guest].run(command, hide=True, warn=True).stdout.strip()

    root, name, venv = s["paths"]["synced"], s["name"], s["paths"]["venv"]
    nginx, refresh, redis = run(f"systemctl is-active nginx {name}-refresh redis-server").split()
    where = f" on {s['nodes']} app guests" if s["nodes"] else ""
    runner = f"gunicorn {s['worker']} worker" if s["server"] == "gunicorn" else f"uwsgi ({s['worker']})"
    print(f"app       {s['app']['wsgi']} in {s['app']['folder']}/, {runner}, "
          f"{s['instances']} instance{'s' if s['instances'] > 1 else ''}{where}")
    healths = devbox_guest.instance_healths(s)
    actives, vassals = {}, {}  # one systemctl per guest, whatever its number of instances
    for guest in dict.fromkeys(s["instance_guests"]):
        units = s["guests"][guest]["units"]
        answers = (run(f"systemctl is-active {' '.join(units)}", guest).split() if states[guest][0] == "running"
                   else [f"{guest} is down"] * len(units))
        actives.update(zip(units, answers))
        if s["server"] == "uwsgi" and states[guest][0] == "running":  # each emperor's vassals: two while one hands over
            folders = " ".join(f"{s['app_socket_dir']}/vassals-{i}" for i in s["guests"][guest]["instances"])
            counts = run(f"for d in {folders}; do sudo ls $d 2>/dev/null | wc -l; done", guest).split()
            vassals.update((unit, f", {n} vassal{'s' if n != '1' else ''}") for unit, n in zip(units, counts))
    for instance, (unit, bind, guest) in enumerate(zip(s["app_units"], s["app_binds"], s["instance_guests"]), 1):
        health, active = healths[instance], actives[unit]
        answer = (f"{health['status']}, version {health['version']}, pid {health['pid']}" if health
                  else "no answer") + vassals.get(unit, "")
        print(f"  {unit} {active}{f' on {guest}' if s['nodes'] else ''}, on {bind}: {answer}")
    print(f"nginx     {nginx}, {run('/usr/sbin/nginx -v 2>&1')} on guest port {s['guest_port']} "
          f"<- {s['host_ip']}:{s['host_port']}")
    if s["tls"]:
        try:
            https = f"certificate {devbox_tls.describe(devbox_tls.served(s))}, trusted by this host"
        except devbox_tls.TLSError as exc:
            https = str(exc).removeprefix("devbox: ")
        print(f"https     guest port {s['https_guest_port']} <- {s['host_ip']}:{s['https_host_port']}: {https}")
    else:
        print("https     off (tls: false)")
    print(f"refresh   {refresh if s['dev_mode'] else 'off (dev_mode: false)'}")
    # systemd says active for a hung one too
    answers = run(f"sudo timeout 2 bash {root}/provision/guest/redis/cli.sh ping 2>/dev/null") == "PONG"
    reach = f", for app guests at {s['redis_host']} with a password" if s["nodes"] else ""
    print(f"redis     {redis}, {'answers' if answers else 'does NOT answer'}, REDIS_URL for the app{reach}")
    app_guest = s["instance_guests"][0]
    if states[app_guest][0] == "running":
        requirements = shlex.quote(f"{root}/{s['app']['requirements']}")
        # uWSGI is Debian's, outside the venv.
        uwsgi = f"uwsgi {run('uwsgi --version', app_guest)} " if s["server"] == "uwsgi" else ""
        print(f"versions  {uwsgi}{run(f'{venv}/bin/python -c {shlex.quote(VERSIONS)} {requirements}', app_guest)}")
    guests.close()


@task(help={"follow": "keep streaming new lines", "lines": "how many lines of each log to show first"})
def logs(c, follow=False, lines=20):
    """nginx's and the app's logs, and what the app printed (tracebacks too), from each guest; --follow streams them."""
    s = _settings()
    guests = _guests(s)
    n = int(lines)
    # nginx's logs on the front, each app guest's own (with nodes: 0, all on the one guest).
    files = {devbox_settings.FRONT: [f"{s['nginx_logs']}/access.log", f"{s['nginx_logs']}/error.log"]}
    for guest in dict.fromkeys(s["instance_guests"]):
        files.setdefault(guest, []).append(f"{s['paths']['logs']}/app.log")
    commands = {}
    for guest, names in files.items():
        paths = " ".join(shlex.quote(name) for name in names)
        tail = f"sudo tail -v -n {n} {'-F' if follow else ''} {paths}"  # -v: each file's name, even alone
        if guest not in s["instance_guests"]:
            commands[guest] = tail
            continue
        # What the app writes to stdout and stderr (an import's traceback, a
        # print) is in the journal, each line tagged with its instance.
        journal = (f"sudo journalctl -q --no-pager -n {n} {'-f' if follow else ''} "
                   f"-u {shlex.quote(s['name'] + '@*.service')} -o short-iso")
        header = 'echo; echo "==> journal: the app\'s stdout and stderr <=="'
        # Streams interleave when followed: the journal's lines have their tag, and no header.
        commands[guest] = f"{tail} & {journal}; kill $! 2>/dev/null" if follow else f"{tail}; {header}; {journal}"
    running = []
    # The logs hold what the app and its clients wrote: no control character of theirs reaches the terminal.
    streams = {"out_stream": Printable(sys.stdout), "err_stream": Printable(sys.stderr)}
    for guest, command in commands.items():
        if follow and len(commands) > 1:  # every guest's stream at once
            running.append(_guest(lambda: guests[guest]).run(command, warn=True, asynchronous=True, **streams))
        else:
            if len(commands) > 1:
                print(f"### {guest}", flush=True)
            _guest(lambda: guests[guest]).run(command, pty=follow, warn=True, **streams)
    for promise in running:
        promise.join()


@task(help={"stack": "devbox's stack suite too (tests/stack): the whole stack against your app",
            "args": "passed to pytest, e.g. --args='-k login -x'; paths in it replace your tests"})
def test(c, stack=False, args=""):
    """Your app's tests (tests/ but devbox's own suites) against the running devbox; --stack adds devbox's."""
    from devbox.host.pytest_plugin import team_tests
    from devbox.settings import ROOT

    _running(_settings())

    def path(word):  # a test path given in --args (not an option's value such as -k app), made absolute
        file, sep, rest = word.partition("::")
        if word.startswith("-") or not ("/" in file or file.endswith(".py") or sep) or not os.path.exists(file):
            return None
        return os.path.abspath(file) + sep + rest

    given = [(word, path(word)) for word in shlex.split(args)]
    words = [found or word for word, found in given]
    named = any(found for _, found in given)
    paths = ([] if named else team_tests()) + (["tests/stack"] if stack else [])
    if not paths and not named:
        raise Exit("devbox: no tests of your app under tests/ yet (see README, Test your own app); "
                   "fab test --stack runs devbox's stack suite", code=5)
    with c.cd(str(ROOT)):  # the paths are the repository's, wherever fab was started
        result = c.run(shlex.join([sys.executable, "-m", "pytest", *paths, *words]), pty=sys.stdout.isatty(),
                       warn=True)
    if result.exited:
        raise Exit(code=result.exited)


@task
def shell(c):
    """A Python shell on the app in the guest, with its environment (for a Flask app, as `flask shell`)."""
    s = _settings()
    config, venv = s["paths"]["config"], s["paths"]["venv"]
    folder = f"{s['paths']['synced']}/{s['app']['folder']}"
    command = (f"cd {shlex.quote(folder)} && set -a && . {config}/secret.env && . {config}/app.env && set +a && "
               f"exec {venv}/bin/python -m devbox.appserver.shell {shlex.quote(s['app']['wsgi'])}")
    _connection(s["instance_guests"][0]).run(f"sudo -u {s['name']} bash -c {shlex.quote(command)}", pty=True)


def _deploy_call(call, deploy_file):
    from devbox.host import deploy as devbox_deploy

    try:
        return call(deploy_file)
    except devbox_settings.SettingsError as exc:
        raise Exit(f"{exc}", code=2) from None
    except devbox_deploy.DeployError as exc:
        raise Exit(f"devbox: {exc}", code=1) from None


@task(help={"file": "the server's settings (default deploy.yaml beside devbox.yaml, or $DEVBOX_DEPLOY)",
            "check": "only show what a deploy would change on the server (packages, files, release), changing nothing"})
def deploy(c, file=None, check=False):
    """Put the app on the server in deploy.yaml: the devbox's stack over HTTPS, a new release made live gracefully."""
    from devbox.host import deploy as devbox_deploy

    if check:
        print(_deploy_call(devbox_deploy.check, file), end="")
        return
    started = time.monotonic()
    release, url = _deploy_call(devbox_deploy.deploy, file)
    print(f"release {release} is live at {url} ({time.monotonic() - started:.1f}s)")


@task(help={"file": "the server's settings (default deploy.yaml beside devbox.yaml, or $DEVBOX_DEPLOY)"})
def rollback(c, file=None):
    """Make the release before the live one live again on the server (its venv kept: seconds)."""
    from devbox.host import deploy as devbox_deploy

    started = time.monotonic()
    old, new = _deploy_call(devbox_deploy.rollback, file)
    print(f"rolled back from {old} to {new} ({time.monotonic() - started:.1f}s)")
