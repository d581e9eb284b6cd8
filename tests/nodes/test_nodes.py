"""Several guests: the front (nginx, Redis) and app guests on the private
network. An app guest that stops altogether is what instances in one guest
cannot show; what the app guests share (secret, data, Redis) is what makes
them one app."""

import json
import os
import shlex
import subprocess
import uuid

from devbox.host import guest as devbox_guest
from devbox.settings import ROOT
from tests.helpers import Load, session_on, wait_for_app


def vagrant(*args, timeout=300):
    """Vagrant on this repository's guests, as a developer runs it (DEVBOX_NODES passed on)."""
    result = subprocess.run(["vagrant", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env=os.environ)
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]


def test_an_app_guest_that_halts_moves_its_clients_to_another_and_comes_back(nodes, base_url, guests):
    browser = session_on(base_url, 2)
    guest = nodes["instance_guests"][1]
    with Load(base_url, ["/"], cookies=browser.cookies) as load:
        vagrant("halt", guest)
        halted = len(load.answers)
        # Its client is served by another instance, through the same cookie, at once.
        assert devbox_guest.wait_for(lambda: len(load.answers) > halted + 5, timeout=30)
        assert browser.get(base_url + "/_devbox/health", timeout=10).json()["instance"] != 2
        vagrant("up", guest)
        wait_for_app(nodes, timeout=60)
    failed = [answer for answer in load.answers[halted:] if answer[1] != 200]
    assert failed == [], failed[:5]  # once halted, never the friendly page: another guest answered
    # Back, it has its clients again (the cookie hashes to it).
    assert browser.get(base_url + "/_devbox/health", timeout=10).json()["instance"] == 2
    guests.connections.pop(guest).close()  # the old SSH session went with the halt


def test_redis_on_the_front_refuses_whoever_lacks_the_password(nodes, guests):
    front = nodes["redis_host"]
    app_guest = guests.of_instance(1)
    # From an app guest, as any code in it could try, and from the host alike.
    probe = f"import socket; s = socket.create_connection(({front!r}, 6379), timeout=5); s.sendall(b'PING\\r\\n'); print(s.recv(100))"
    answer = app_guest.run(f"python3 -c {shlex.quote(probe)}", hide=True).stdout
    assert "NOAUTH" in answer, answer
    result = subprocess.run(["python3", "-c", probe], capture_output=True, text=True, timeout=10)
    assert "NOAUTH" in result.stdout, result


def test_an_app_guests_port_answers_the_front_alone(nodes, guests):
    """Past nginx no one reaches gunicorn: the host and the other app guests
    are on the same bridge, and the app guest's firewall drops them."""
    (first, _), (second, other) = list(guests.app_guests())[:2]
    address, port = nodes["guests"][first]["address"], nodes["app_port"]
    probe = f"curl -sS --max-time 3 -o /dev/null -w '%{{http_code}}' http://{address}:{port}/_devbox/health"
    assert guests.front.run(probe, hide=True, warn=True).stdout == "200"
    assert other.run(probe, hide=True, warn=True).failed  # another app guest
    host = subprocess.run(shlex.split(probe), capture_output=True, text=True, timeout=10)
    assert host.returncode == 28, host  # curl's timeout: the packets were dropped
    assert "Status: active" in guests.of_instance(1).run("sudo ufw status", hide=True).stdout


def test_app_guests_share_one_secret_key_and_one_data_folder(nodes, guests):
    digests = {name: conn.run(f"sudo grep '^SECRET_KEY=' {nodes['paths']['config']}/secret.env | sha256sum",
                              hide=True).stdout for name, conn in guests.app_guests()}
    assert len(set(digests.values())) == 1, digests  # a session signed on one is good on every other
    marker = uuid.uuid4().hex
    data, user = nodes["paths"]["data"], nodes["name"]
    (first, writer), *others = guests.app_guests()
    writer.run(f"sudo -u {user} sh -c 'echo {marker} > {data}/.devbox-probe'", hide=True)
    try:
        for name, reader in others:
            assert reader.run(f"sudo cat {data}/.devbox-probe", hide=True).stdout.strip() == marker, name
    finally:
        writer.run(f"sudo rm -f {data}/.devbox-probe", hide=True)


def test_a_front_that_never_ran_the_app_provisions(nodes, guests):
    # As a front made with nodes from the start: no app step ever made devbox's
    # folders there. Its own steps (but Redis's, whose password only Vagrant
    # hands out) must make what they write into.
    front = guests[devbox_guest.FRONT]
    folders = [nodes["paths"]["config"], nodes["paths"]["logs"]]
    front.run(" && ".join(f"sudo mv {shlex.quote(f)} {shlex.quote(f + '.probe')}" for f in folders), hide=True)
    try:
        with devbox_guest.certificate_handed(front, nodes) as extra:
            command = devbox_guest.provision_command(nodes, "role", "refresh", "nginx", "logs", extra=extra)
            result = front.run(command, hide=True, warn=True)
        assert result.ok, result.stdout[-1500:] + result.stderr[-1500:]
        assert front.run(f"sudo stat -c '%U:%G %a' {shlex.quote(folders[0])}", hide=True).stdout.split() \
            == [f"root:{nodes['name']}", "750"]
    finally:
        # Back to the folders the running services were started with (the hub's token, the secrets).
        front.run(" && ".join(f"sudo rm -rf {shlex.quote(f)} && sudo mv {shlex.quote(f + '.probe')} {shlex.quote(f)}"
                              for f in folders), hide=True)


def test_the_shared_secrets_reach_no_command_line_and_no_log(nodes, guests):
    # Handed over as a file the SSH user alone may read: never on the
    # provisioner's command line (which anyone in the guest may read) or in
    # Vagrant's log, and the upload is gone after.
    secrets = json.loads((ROOT / ".vagrant" / "devbox-secrets.json").read_text())
    app_guest = next(name for name, _ in guests.app_guests())
    result = subprocess.run(["vagrant", "provision", app_guest], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "VAGRANT_LOG": "info"})
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    assert "devbox: provisioned in" in result.stdout
    for value in secrets.values():
        assert value not in result.stdout + result.stderr
    assert guests[app_guest].run("ls /tmp | grep -c devbox-secrets", hide=True, warn=True).stdout.strip() == "0"
