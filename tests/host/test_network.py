"""The host's side of the lxc network (provision/host/network.sh), on a bridge of
the test's own: the guard that keeps guests off the host's loopback holds
whatever rules come before or after it (probed from a network namespace on
the bridge, as guest root would), and only a bridge the script made is
deleted again; one that stays gets its route_localnet back."""

import os
import socket
import subprocess
import time
import uuid

import pytest

from devbox.host.guest import wait_for
from devbox.settings import ROOT

NETWORK = ROOT / "provision" / "host" / "network.sh"
CACHES = ROOT / "provision" / "host" / "package-cache.sh"


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


def netns(bridge_name, address, gateway):
    """A network namespace on a bridge at ``address``, everything else routed to ``gateway``
    (the host); (command prefix, its interface, clean-up)."""
    ns, veth = f"dbxn{uuid.uuid4().hex[:6]}", f"dbxv{uuid.uuid4().hex[:6]}"
    inside = ["ip", "netns", "exec", ns]
    for step in (["ip", "netns", "add", ns], ["ip", "link", "add", veth, "type", "veth", "peer", "name", f"{veth}g"],
                 ["ip", "link", "set", veth, "master", bridge_name, "up"], ["ip", "link", "set", f"{veth}g", "netns", ns],
                 [*inside, "ip", "addr", "add", f"{address}/24", "dev", f"{veth}g"],
                 [*inside, "ip", "link", "set", f"{veth}g", "up"],
                 [*inside, "ip", "route", "add", "default", "via", gateway]):
        done = sh(*step)
        assert done.returncode == 0, (step, done.stderr)
    return inside, f"{veth}g", lambda: (sh("ip", "netns", "delete", ns), sh("ip", "link", "delete", veth))


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
    inside, interface, gone = netns(name, "10.213.77.50", "10.213.77.1")
    try:
        # Its own loopback stays down: 127.0.0.0/8 goes to the host instead.
        for step in ([*inside, "sysctl", "-qw", f"net.ipv4.conf.{interface}.route_localnet=1"],
                     [*inside, "ip", "route", "add", "127.0.0.0/8", "via", "10.213.77.1", "dev", interface]):
            done = sh(*step)
            assert done.returncode == 0, (step, done.stderr)
        yield inside
    finally:
        gone()


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


def test_stop_leaves_a_bridge_other_guests_still_use_whole(bridge):
    """Two devboxes on one host: ./setup.sh down in one (its guests gone) must
    not take the network from the other's guests."""
    name, env = bridge
    assert run(**env).returncode == 0
    _, _, remove = netns(name, "10.213.77.50", "10.213.77.1")  # the other devbox's guest
    try:
        kept = run("stop", **env)
        assert kept.returncode == 0 and f"{name} stays up: other guests still use it" in kept.stderr
        assert subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0
        assert f"devbox-guard-{name}" in sh("nft", "list", "tables").stdout  # its guard too
        assert sh("pgrep", "-f", f"dnsmasq.*--interface={name}( |$)").returncode == 0
    finally:
        remove()
    assert run("stop", **env).returncode == 0
    assert subprocess.run(["ip", "link", "show", name], capture_output=True).returncode != 0
    assert f"devbox-guard-{name}" not in sh("nft", "list", "tables").stdout


def test_libvirt_stop_leaves_a_network_other_vms_still_use_whole():
    libvirt_sh = NETWORK.with_name("libvirt.sh")
    name = f"dbx{uuid.uuid4().hex[:6]}"
    bridge = f"virbr-{name}"  # as libvirt.sh names it
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", "10.213.79.1/24", "dev", bridge], check=True)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        _, _, remove = netns(bridge, "10.213.79.50", "10.213.79.1")  # another devbox's VM
        try:
            kept = subprocess.run(["bash", str(libvirt_sh), "stop", name], capture_output=True, text=True, timeout=60)
            assert kept.returncode == 0, kept.stderr
            assert f"the libvirt network {name} stays up: other VMs still use it" in kept.stderr
            assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode == 0
        finally:
            remove()
    finally:
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True)


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


def test_the_package_caches_answer_their_own_network_alone(tmp_path):
    # The host answers its addresses on every interface: without devbox's guard
    # a guest on another bridge (or the LAN) would route to the VM's caches.
    from devbox.settings import HOST_CACHE_PORTS

    vm, other = f"dbxt{uuid.uuid4().hex[:6]}", f"dbxt{uuid.uuid4().hex[:6]}"
    cache_address, port = "10.213.78.1", HOST_CACHE_PORTS["apt"]
    cleanups = []
    try:
        for name, address in ((vm, cache_address), (other, "10.213.79.1")):
            assert sh("ip", "link", "add", name, "type", "bridge").returncode == 0
            cleanups.append(lambda name=name: sh("ip", "link", "delete", name))
            sh("ip", "addr", "add", f"{address}/24", "dev", name)
            sh("ip", "link", "set", name, "up")
        cache = subprocess.Popen(["python3", "-m", "http.server", "--bind", cache_address, str(port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        cleanups.append(lambda: (cache.kill(), cache.wait()))
        in_vm, _, gone = netns(vm, "10.213.78.50", cache_address)
        cleanups.append(gone)
        elsewhere, _, gone = netns(other, "10.213.79.50", "10.213.79.1")
        cleanups.append(gone)
        url = f"http://{cache_address}:{port}/"

        def answers(inside):
            return sh(*inside, "curl", "-s", "-o", "/dev/null", "--max-time", "2", url).returncode == 0

        assert wait_for(lambda: answers(in_vm), timeout=10)
        assert answers(elsewhere)  # the probe works: without the guard, anyone routes to it
        table = f"devbox-caches-test-{uuid.uuid4().hex[:6]}"  # the running caches' guard stays as it is
        guarded = subprocess.run([str(CACHES), "guard", cache_address], capture_output=True, text=True, timeout=30,
                                 env={**os.environ, "DEVBOX_CACHE_GUARD": table})
        cleanups.append(lambda: sh("nft", "delete", "table", "ip", table))
        assert guarded.returncode == 0, guarded.stderr
        assert answers(in_vm)
        assert not answers(elsewhere)
    finally:
        for clean in reversed(cleanups):
            clean()


ARP_REQUEST = """
import socket, sys
interface, claimed, asked = sys.argv[1:]
mac = bytes.fromhex(open(f"/sys/class/net/{interface}/address").read().strip().replace(":", ""))
ip = lambda text: socket.inet_aton(text)
arp = b"\\x00\\x01\\x08\\x00\\x06\\x04\\x00\\x01" + mac + ip(claimed) + b"\\x00" * 6 + ip(asked)
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
    s.bind((interface, 0))
    s.send(b"\\xff" * 6 + mac + b"\\x08\\x06" + arp)
"""


def test_no_guest_takes_a_fixed_address_on_the_bridge(bridge):
    # The front's fixed address is where the host sends its forwarded port: a
    # guest that claims it (an ARP request "from" it) must not become it.
    name, env = bridge
    assert run(**env).returncode == 0
    inside, interface, gone = netns(name, "10.213.77.60", "10.213.77.1")
    try:
        spoofer = sh(*inside, "cat", f"/sys/class/net/{interface}/address").stdout.strip()
        front = "10.213.77.200"

        def claim():
            sh("ip", "neigh", "flush", "dev", name)
            sent = sh(*inside, "python3", "-c", ARP_REQUEST, interface, front, "10.213.77.1")
            assert sent.returncode == 0, sent.stderr
            time.sleep(0.3)
            return spoofer in sh("ip", "neigh", "show", front, "dev", name).stdout

        guard = f"devbox-guard-{name}"
        table = sh("nft", "list", "table", "bridge", guard).stdout
        assert sh("nft", "delete", "table", "bridge", guard).returncode == 0
        assert claim()  # the probe works: unguarded, the host takes the guest for the front
        assert subprocess.run(["nft", "-f", "-"], input=table, text=True).returncode == 0
        assert not claim()
    finally:
        gone()


def test_the_apt_cache_offers_no_maintenance_page():
    # apt-cacher-ng's report page would let any guest expire or delete the
    # cache, with no password: devbox's runs without one, and still serves.
    from devbox.settings import HOST_CACHE_PORTS

    started = subprocess.run([str(CACHES), "127.0.0.1"], capture_output=True, text=True, timeout=600)
    try:
        assert started.returncode == 0, started.stderr
        port = HOST_CACHE_PORTS["apt"]
        for page in ("acng-report.html", "acng-report.html?doExpire=Start+Scan"):
            status = sh("curl", "--noproxy", "*", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        f"http://127.0.0.1:{port}/{page}").stdout
            assert status == "403", (page, status)
    finally:
        subprocess.run([str(CACHES), "stop"], capture_output=True, timeout=60)
