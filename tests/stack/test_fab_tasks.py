"""The everyday fab tasks against the running devbox, and the one-line answer
when there is no guest."""

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from devbox.host import guest as devbox_guest
from devbox.settings import FRONT, PROVIDERS, ROOT
from tests.helpers import fab, pinned


def test_status_shows_every_layer(settings, http):
    instances = [http.get(f"/_devbox/instances/{i}/health").json() for i in range(1, settings["instances"] + 1)]
    result = fab("status")
    assert result.returncode == 0, result.stderr
    rows = [line.split(None, 1) for line in result.stdout.splitlines()]
    lines = dict(row for row in rows if not row[0].startswith(f"{settings['name']}@"))
    # The provider the settings name (./setup.sh sets it), else any devbox has a box for.
    running = [f"running ({p})" for p in ([settings["provider"]] if settings["provider"] else PROVIDERS)]
    if settings["nodes"]:  # each guest, with its fixed address
        for name, guest in settings["guests"].items():
            assert lines[name] in [f"{state} {guest['address']}" for state in running]
    else:
        assert lines["guest"] in running
    # Through the balancer: whichever instance nginx chose.
    assert any(lines["health"].startswith(f"http://localhost:{settings['host_port']}/_devbox/health: ok, "
                                          f"version {health['version']}, boot {health['boot_id'][:8]}")
               for health in instances), (lines["health"], instances)
    count, nodes = settings["instances"], settings["nodes"]
    runner = f"gunicorn {settings['worker']} worker" if settings["server"] == "gunicorn" else "uwsgi (gevent)"
    assert lines["app"] == (f"{settings['app']['wsgi']} in {settings['app']['folder']}/, {runner}, "
                            f"{count} instance{'s' if count > 1 else ''}"
                            f"{f' on {nodes} app guests' if nodes else ''}")
    # Every instance on its own line, with its own health (and guest).
    assert [row for row in rows if row[0].startswith(f"{settings['name']}@")] == [
        [unit, f"active{f' on {guest}' if nodes else ''}, on {bind}: ok, version {health['version']}, "
               f"pid {health['pid']}{', 1 vassal' if settings['server'] == 'uwsgi' else ''}"]
        for unit, bind, guest, health in zip(settings["app_units"], settings["app_binds"],
                                             settings["instance_guests"], instances)]
    assert lines["nginx"].startswith("active, nginx version: nginx/")
    assert lines["refresh"] == "active"
    reach = f", for app guests at {settings['redis_host']} with a password" if nodes else ""
    assert lines["redis"] == f"active, answers, REDIS_URL for the app{reach}"
    assert f"gunicorn {pinned(settings['worker'], 'gunicorn')}" in lines["versions"]
    if settings["server"] == "uwsgi":
        assert lines["versions"].startswith("uwsgi 2.0.")
    assert "flask-socketio 5." in lines["versions"]  # from the app's own requirements
    # The venv holds the chosen worker's library and no other's.
    for library in ("eventlet", "gevent"):
        assert (f" {library} " in lines["versions"]) == (settings["worker"] == library), lines["versions"]


def test_logs_show_the_request_just_made(http, settings):
    marker = uuid.uuid4().hex
    http.get(f"/?probe={marker}")
    result = fab("logs", "--lines", "50")
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    for path in (f"{settings['nginx_logs']}/access.log", f"{settings['nginx_logs']}/error.log",
                 f"{settings['paths']['logs']}/app.log"):
        assert f"==> {path} <==" in result.stdout


def test_a_no_op_provision_changes_nothing(http, guest, settings):
    before = http.get("/_devbox/health").json()
    result = fab("provision", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "devbox: provisioned in" in result.stdout
    assert http.get("/_devbox/health").json()["boot_id"] == before["boot_id"]  # the app was not restarted
    # Nor wrote into the synced folder (bytecode, say): a VM's copy is kept by
    # rsync as the login user, who could not replace root's files.
    synced = settings["paths"]["synced"]
    # (.vagrant is the host's own state, its certificate's folder closed to the guest.)
    assert guest.run(f"sudo find {synced} -path {synced}/.vagrant -prune -o -user root -print -quit",
                     hide=True).stdout == ""


def test_fab_asks_vagrant_again_when_its_kept_ssh_config_no_longer_reaches_the_guest(guests):
    # fab keeps `vagrant ssh-config`'s answer (a second of Ruby per task); a
    # guest that moved (another address or port) must not make it fail.
    cache = ROOT / os.environ.get("VAGRANT_DOTFILE_PATH", ".vagrant") / devbox_guest.SSH_CACHE
    assert fab("logs", "--lines", "1").returncode == 0
    kept = json.loads(cache.read_text())
    right = kept["configs"]["default"]
    kept["configs"]["default"] = {**right, "HostName": "127.0.0.1", "Port": "1"}  # nothing listens there
    cache.write_text(json.dumps(kept))
    result = fab("logs", "--lines", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(cache.read_text())["configs"]["default"] == right


def test_a_guest_not_created_is_one_clear_line(tmp_path, settings):
    for name in ("Vagrantfile", "fabfile.py", "devbox.yaml"):
        shutil.copy(ROOT / name, tmp_path)
    for folder in ("devbox", "provision/vagrant", settings["app"]["folder"]):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    result = subprocess.run([sys.executable, "-m", "fabric", "logs"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == "devbox: the guest is not created; run fab up"


def test_shell_is_a_shell_on_the_app_in_the_guest_with_its_environment(settings):
    probe = 'import os; print("PROBE", os.getcwd(), type(app).__module__, sorted({"SECRET_KEY", "REDIS_URL", "DATA_DIR"} & set(os.environ)))'
    result = subprocess.run([sys.executable, "-m", "fabric", "shell"], cwd=ROOT, input=probe + "\nexit()\n",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("PROBE "))
    folder = f"{settings['paths']['synced']}/{settings['app']['folder']}"
    assert line == f"PROBE {folder} flask.app ['DATA_DIR', 'REDIS_URL', 'SECRET_KEY']"


def test_a_writable_folder_replaced_on_the_host_stops_fab_until_mounted_again(guests, settings):
    assert guests.stale_writable() == []
    folders = settings["app"]["writable"]
    if not folders or guests.copies():  # nothing to lose: no folder, or a VM's copy, where they are its own
        return
    folder = ROOT / folders[0]
    aside = folder.with_name(folder.name + f".devbox-test-{uuid.uuid4().hex[:6]}")
    folder.rename(aside)  # as `rm -rf app` and a fresh copy would, but reversibly
    folder.mkdir()
    try:
        expected = (f"devbox: app.writable: {folders[0]} is not mounted read-write in the guest as it is on the host "
                    "now (replaced there, or newly listed); run vagrant reload to mount it again")
        result = fab("provision")  # fab up and fab watch check the same way (fabfile._check_writable)
        assert (result.returncode, result.stderr.strip()) == (1, expected), result.stdout
    finally:
        folder.rmdir()
        aside.rename(folder)
    assert guests.stale_writable() == []



def test_a_guest_that_lies_about_its_folder_gets_no_copy_from_the_host(guests):
    # Whether a guest's folder is a copy is the host's to know (the provider that
    # made it): a guest that says its mount is not one must not have host root
    # copy the whole tree in.
    front = guests[FRONT]
    if guests.copies():
        pytest.skip("this guest's folder is a copy (libvirt): there is no mount to lie about")
    lie = "/usr/local/bin/mountpoint"
    front.run(f"printf '#!/bin/sh\\nexit 1\\n' | sudo tee {lie} >/dev/null && sudo chmod 755 {lie}", hide=True)
    try:
        result = fab("reload")
        assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
        assert "rsync" not in result.stdout + result.stderr
    finally:
        front.run(f"sudo rm -f {lie}", hide=True)


def test_the_host_reaches_the_guest_at_its_fixed_address_not_one_it_reports(guests, settings):
    # lxc: SSH and the forwarded port's DNAT target the address devbox gave the
    # guest, not whatever address the guest lists first.
    if devbox_guest.made_by(FRONT) != "lxc":
        pytest.skip("only vagrant-lxc asks the guest for its address")
    fixed = settings["guests"][FRONT]["address"]
    assert guests.configs[FRONT]["HostName"] == fixed
    dnat = subprocess.run(["iptables", "-w", "-t", "nat", "-S", f"DEVBOX-{settings['host_port']}"],
                          capture_output=True, text=True).stdout
    assert f"--to-destination {fixed}:{settings['guest_port']}" in dnat
