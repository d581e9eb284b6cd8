"""The host's side of the lxc network (provision/host/network.sh), on a bridge of
the test's own: the guard that keeps guests off the host's loopback comes
first whatever is already in INPUT, and only a bridge the script made is
deleted again; one that stays gets its route_localnet back."""

import subprocess
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


def test_the_loopback_guard_comes_before_an_accept_already_there(bridge):
    name, env = bridge
    accept = ["INPUT", "-i", name, "-j", "ACCEPT", "-m", "comment", "--comment", "trusted-by-someone"]
    iptables("-I", *accept)
    try:
        for _ in range(2):  # and stays first, once, when run again
            assert run(**env).returncode == 0
            rules = [r for r in iptables("-S", "INPUT").stdout.splitlines() if f"-i {name} " in r]
            assert len(rules) == 2, rules
            assert "-d 127.0.0.0/8" in rules[0] and rules[0].endswith("-j DROP"), rules
    finally:
        iptables("-D", *accept)


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
    assert f"-i {name} " not in iptables("-S", "INPUT").stdout  # its rules go all the same


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
