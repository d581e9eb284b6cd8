"""The host's side of the lxc network (provision/host/network.sh), on a bridge of
the test's own: the guard that keeps guests off the host's loopback holds
whatever rules come before or after it (probed from a network namespace on
the bridge, as guest root would), and only a bridge the script made is
deleted again; one that stays gets its route_localnet back."""

import socket
import subprocess
import time
import uuid

import pytest

from devbox.settings import ROOT

NETWORK = ROOT / "provision" / "host" / "network.sh"


def run(*args, **env):
    return subprocess.run(["bash", str(NETWORK), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env})


def iptables(*args):
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)


@pytest.fixture
def bridge():
    """(name, address) of a bridge for this test only; whatever is left of it goes afterwards."""
    name = f"dbxt{uuid.uuid4().hex[:6]}"
    env = {"DEVBOX_BRIDGE": name, "DEVBOX_BRIDGE_ADDRESS": "10.213.77.1"}
    yield name, env
    run("stop", **env)
    subprocess.run(["ip", "link", "delete", name], capture_output=True)


def sh(*command):
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@pytest.fixture
def loopback_service():
    """An HTTP server on the host's 127.0.0.1 (what a guest must never reach); its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(["python3", "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
    for _ in range(50):
        if sh("curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/").returncode == 0:
            break
        time.sleep(0.1)
    yield port
    server.kill()
    server.wait()


@pytest.fixture
def guest_netns(bridge):
    """A network namespace on the test's bridge, as a guest is, whose root sends
    127.0.0.0/8 over the bridge to the host (what guest root can do); a command prefix."""
    name, env = bridge
    assert run(**env).returncode == 0
    ns, veth = f"dbxn{uuid.uuid4().hex[:6]}", f"dbxv{uuid.uuid4().hex[:6]}"
    inside = ["ip", "netns", "exec", ns]
    steps = [["ip", "netns", "add", ns], ["ip", "link", "add", veth, "type", "veth", "peer", "name", f"{veth}g"],
             ["ip", "link", "set", veth, "master", name, "up"], ["ip", "link", "set", f"{veth}g", "netns", ns],
             [*inside, "ip", "addr", "add", "10.213.77.50/24", "dev", f"{veth}g"],
             [*inside, "ip", "link", "set", f"{veth}g", "up"],
             [*inside, "sysctl", "-qw", f"net.ipv4.conf.{veth}g.route_localnet=1"],
             # Its own loopback stays down: 127.0.0.0/8 goes to the host instead.
             [*inside, "ip", "route", "add", "127.0.0.0/8", "via", "10.213.77.1", "dev", f"{veth}g"]]
    try:
        for step in steps:
            done = sh(*step)
            assert done.returncode == 0, (step, done.stderr)
        yield inside
    finally:
        sh("ip", "netns", "delete", ns)
        sh("ip", "link", "delete", veth)


def reaches(inside, port):
    return sh(*inside, "curl", "-s", "-o", "/dev/null", "--max-time", "2", f"http://127.0.0.1:{port}/").returncode == 0


def test_no_guest_reaches_the_hosts_loopback_whatever_rules_come_later(bridge, guest_netns, loopback_service):
    name, env = bridge
    guard = f"devbox-guard-{name}"
    # The probe works: without devbox's guard the guest gets an answer.
    assert sh("nft", "delete", "table", "ip", guard).returncode == 0
    assert reaches(guest_netns, loopback_service)
    assert run(**env).returncode == 0
    assert not reaches(guest_netns, loopback_service)
    # An ACCEPT for the bridge put first in INPUT afterwards (ufw, Docker, an
    # admin), and one in a table of nftables' own: the guard still holds.
    accept = ["INPUT", "-i", name, "-j", "ACCEPT", "-m", "comment", "--comment", "trusted-by-someone"]
    iptables("-I", *accept)
    other = f"someone-{uuid.uuid4().hex[:6]}"
    rules = f'table ip {other} {{\n chain c {{\n type filter hook prerouting priority -400; policy accept;\n' \
            f' iifname "{name}" accept\n }}\n}}\n'
    assert subprocess.run(["nft", "-f", "-"], input=rules, text=True).returncode == 0
    try:
        assert not reaches(guest_netns, loopback_service)
        assert run(**env).returncode == 0  # run again: still one table, still holding
        assert sh("nft", "list", "table", "ip", guard).stdout.count("drop") == 1
        assert not reaches(guest_netns, loopback_service)
    finally:
        iptables("-D", *accept)
        sh("nft", "delete", "table", "ip", other)


def test_only_a_bridge_made_here_is_deleted(bridge):
    name, env = bridge
    assert run(**env).returncode == 0
    assert subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0
    assert run("stop", **env).returncode == 0
    assert subprocess.run(["ip", "link", "show", name], capture_output=True).returncode != 0

    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)  # somebody else's
    assert run(**env).returncode == 0
    assert run("stop", **env).returncode == 0
    assert subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0
    assert f"devbox-guard-{name}" not in sh("nft", "list", "tables").stdout  # its rules go all the same


def test_a_bridge_that_stays_gets_its_route_localnet_back(bridge):
    # On with the rules (the kernel forwards the host's loopback port over it);
    # left on after stop, every other guest on someone else's bridge would reach
    # the host's loopback services.
    name, env = bridge
    setting = f"/proc/sys/net/ipv4/conf/{name}/route_localnet"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)  # somebody else's
    assert open(setting).read().strip() == "0"
    assert run(**env).returncode == 0
    assert open(setting).read().strip() == "1"
    assert run(**env).returncode == 0  # a second start keeps the value from before the first
    assert run("stop", **env).returncode == 0
    assert open(setting).read().strip() == "0"
