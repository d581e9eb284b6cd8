"""The kernel port forwarding that stands in for vagrant-lxc's redir
(provision/host/forward.sh): a port added reaches the guest's nginx, a port
removed answers nothing, and neither step disturbs the devbox's own port."""

import socket
import subprocess

import pytest

from devbox.host import guest as devbox_guest
from devbox.settings import ROOT

FORWARD = ROOT / "provision" / "host" / "forward.sh"


def forward(*args):
    return subprocess.run([str(FORWARD), *map(str, args)], capture_output=True, text=True, timeout=30)


@pytest.fixture
def spare_port():
    """A loopback port nothing listens on, removed from the forwarding afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port
    forward("remove", port)


def test_an_added_port_reaches_the_guest_and_a_removed_one_nothing(settings, base_url, spare_port):
    guest_ip = devbox_guest.vagrant(quiet=True).conf()["HostName"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", spare_port), timeout=3)

    for _ in range(2):  # adding twice leaves one rule, not two
        assert forward("add", "127.0.0.1", spare_port, guest_ip, settings["guest_port"]).returncode == 0
    rules = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    assert rules.count(f"--dport {spare_port} -j DNAT") == 1
    health = devbox_guest.health(f"http://127.0.0.1:{spare_port}")
    assert health["status"] == "ok"

    assert forward("remove", spare_port).returncode == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", spare_port), timeout=3)
    assert devbox_guest.health(base_url)["boot_id"] == health["boot_id"]  # the devbox's port is untouched


def test_bad_usage_is_one_line_and_a_failure():
    result = forward("add", "127.0.0.1")
    assert result.returncode != 0
    assert result.stderr.strip() == "forward.sh: usage: forward.sh add HOST_IP HOST_PORT GUEST_IP GUEST_PORT"
