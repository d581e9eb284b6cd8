"""The kernel port forwarding that stands in for vagrant-lxc's redir
(provision/host/forward.sh): a port added reaches the guest's nginx, every
port of a container goes when it is removed (also one a changed host_port gave
up), and none of it disturbs the devbox's own port."""

import socket
import subprocess
import uuid

import pytest
import requests

from devbox.host import guest as devbox_guest
from devbox.settings import ROOT

FORWARD = ROOT / "provision" / "host" / "forward.sh"


def forward(*args):
    return subprocess.run([str(FORWARD), *map(str, args)], capture_output=True, text=True, timeout=30)


def spare_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def container():
    """A made-up container name, its ports removed afterwards."""
    name = f"devbox-test-{uuid.uuid4().hex[:6]}"
    yield name
    forward("remove", name)


def reaches_nginx(port, settings):
    try:
        # A name nginx answers to: the Host check would refuse 127.0.0.1:<spare port>.
        return requests.get(f"http://127.0.0.1:{port}/_devbox/health", timeout=3,
                            headers={"Host": f"localhost:{settings['guest_port']}"}).status_code == 200
    except requests.RequestException:
        return False


def test_every_port_of_a_container_goes_with_it(settings, base_url, container):
    guest_ip = devbox_guest.vagrant(quiet=True).conf()["HostName"]
    first, changed = spare_port(), spare_port()  # host_port, and host_port after a change
    assert not reaches_nginx(first, settings)
    for _ in range(2):  # adding twice leaves one rule, not two
        assert forward("add", container, "127.0.0.1", first, guest_ip, settings["guest_port"]).returncode == 0
    assert forward("add", container, "127.0.0.1", changed, guest_ip, settings["guest_port"]).returncode == 0
    rules = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    assert rules.count(f"--dport {first} ") == 1
    assert reaches_nginx(first, settings) and reaches_nginx(changed, settings)
    boot_id = devbox_guest.health(base_url)["boot_id"]

    assert forward("remove", container).returncode == 0
    assert not reaches_nginx(first, settings) and not reaches_nginx(changed, settings)
    assert devbox_guest.health(base_url)["boot_id"] == boot_id  # the devbox's own port is untouched


@pytest.mark.parametrize("args", [("add", "c", "127.0.0.1"), ("remove",), ("remove", ""), ("holder",), ("bogus",)])
def test_bad_usage_is_one_line_and_a_failure(args):
    result = forward(*args)
    assert result.returncode != 0
    assert result.stderr.strip() == ("forward.sh: usage: forward.sh add CONTAINER HOST_IP HOST_PORT GUEST_IP "
                                     "GUEST_PORT | remove CONTAINER | clear | holder HOST_PORT")


ROGUE = """
import socket, sys
s = socket.socket(socket.AF_INET6)
s.bind(("::1", int(sys.argv[1])))
s.listen()
print("listening", flush=True)
s.settimeout(2)
try:
    s.accept()
    print("got a connection", flush=True)
except socket.timeout:
    print("nothing", flush=True)
"""


def test_no_local_user_answers_for_the_devbox_on_ipv6_loopback(devbox, settings):
    # localhost is [::1] first where /etc/hosts says so (stock Debian): an
    # unprivileged process listening there would get the browser's requests.
    # Every forwarded port refuses there instead, and clients go on to 127.0.0.1.
    ports = [settings["host_port"]] + ([settings["https_host_port"]] if settings["tls"] else [])
    for port in ports:
        rogue = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                  "/usr/bin/python3", "-c", ROGUE, str(port)], stdout=subprocess.PIPE, text=True)
        try:
            assert rogue.stdout.readline().strip() == "listening"  # taking the port itself is not prevented
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("::1", port), timeout=3)
            assert rogue.stdout.readline().strip() == "nothing"
        finally:
            rogue.kill()
            rogue.wait()


def test_a_port_another_devbox_forwards_is_not_taken_over():
    # A second devbox on this host: its port has no listener (the kernel
    # forwards it), so only its forwarding chain says it is taken
    # (tests/host/test_vagrantfile.py: vagrant up stops on it too).
    port = spare_port()
    assert forward("add", "dbx-other", "127.0.0.1", port, "10.0.3.250", 5000).returncode == 0
    try:
        assert forward("holder", port).stdout.strip() == "dbx-other"
        refused = forward("add", "dbx-mine", "127.0.0.1", port, "10.0.3.251", 5000)
        assert refused.returncode != 0
        assert f"host port {port} is forwarded to another guest (dbx-other)" in refused.stderr
    finally:
        forward("remove", "dbx-other")
    assert forward("holder", port).stdout == ""


def test_clear_keeps_the_ports_of_guests_still_running(container, settings):
    """./setup.sh down's sweep: every port of a guest that is gone, none of
    one that runs (another devbox's on this host; here the devbox's own)."""
    port = spare_port()
    assert forward("add", container, "127.0.0.1", port, "10.0.3.250", 5000).returncode == 0
    assert forward("holder", settings["host_port"]).stdout.strip() == settings["name"]
    assert forward("clear").returncode == 0
    assert forward("holder", port).stdout == ""
    assert forward("holder", settings["host_port"]).stdout.strip() == settings["name"]
    assert reaches_nginx(settings["host_port"], settings)
