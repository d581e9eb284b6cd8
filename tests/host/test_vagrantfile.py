"""The Vagrantfile's checks, run by the real `vagrant` against a copy of it in a
scratch folder: each one stops `vagrant up` before anything is created, with
one line that names the problem and the fix. Settings are checked by the same
Python loader as everywhere else, so Vagrant says exactly what fab would."""

import glob
import os
import shutil
import socket
import subprocess

import pytest
import yaml

from devbox.settings import ROOT

# Where devboxes on this host claim their blocks of fixed addresses (provision/vagrant/settings.rb).
ADDRESS_BLOCKS = "/var/lib/devbox/address-blocks"


@pytest.fixture
def scratch(tmp_path):
    """Factory: a folder holding the Vagrantfile, what it loads, and a devbox.yaml
    changed by ``changes``. The block of fixed addresses its vagrant up claimed
    is given back after."""

    def make(**changes):
        raw = yaml.safe_load((ROOT / "devbox.yaml").read_text())
        shutil.copy(ROOT / "Vagrantfile", tmp_path)
        for folder in ("provision/vagrant", "provision/host", "devbox", raw["app"]["folder"]):
            shutil.copytree(ROOT / folder, tmp_path / folder, dirs_exist_ok=True)
        for dotted, value in changes.items():
            *parents, last = dotted.split("__")
            target = raw
            for part in parents:
                target = target[part]
            target[last] = value
        (tmp_path / "devbox.yaml").write_text(yaml.safe_dump(raw))
        return tmp_path

    yield make
    for entry in glob.glob(f"{ADDRESS_BLOCKS}/*"):
        if open(entry).read() == str(tmp_path / ".vagrant"):
            os.remove(entry)


def vagrant(folder, *args, **extra):
    """The real vagrant in ``folder``, seeing only that folder's settings (no DEVBOX_* stand-ins)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DEVBOX_")}, **extra}
    return subprocess.run(["vagrant", *args], cwd=folder, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("key, value, expected", [
    ("host_port", 70000, "devbox.yaml: host_port: 70000 is not a port; set it to a number from 1 to 65535"),
    ("memory", "lots", "devbox.yaml: memory: 'lots' is too small or not a number; set it to 256 or more"),
    ("host_ip", "nowhere", "devbox.yaml: host_ip: 'nowhere' is not an IP address; use 127.0.0.1"),
    ("worker", "tornado", "devbox.yaml: worker: 'tornado' is not supported; use one of eventlet, gevent, gthread"),
    ("workr", "gevent", "devbox.yaml: workr: unknown setting; did you mean worker?"),
])
def test_a_bad_setting_stops_vagrant_in_one_line(scratch, key, value, expected):
    result = vagrant(scratch(**{key: value}), "validate")
    assert result.returncode != 0
    assert result.stderr.strip() == expected


def test_a_missing_lxc_box_is_named_with_the_fix(scratch):
    result = vagrant(scratch(boxes__lxc="devbox/no-such-box"), "up", "--provider=lxc")
    assert result.returncode != 0
    assert "devbox: box devbox/no-such-box is missing; build it with ./setup.sh" in result.stderr
    assert "Importing base box" not in result.stdout


@pytest.mark.parametrize("key", ["host_port", "https_host_port"])
def test_a_taken_host_port_stops_vagrant_up(scratch, key):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = vagrant(scratch(**{key: port}), "up", "--provider=lxc")
    assert result.returncode != 0
    assert f"devbox: host port 127.0.0.1:{port} is already in use" in result.stderr
    assert f"change {key} in devbox.yaml" in result.stderr
    assert "Importing base box" not in result.stdout


def test_a_port_another_devbox_forwards_stops_vagrant_up(scratch):
    # Forwarded by the kernel to another devbox's guest: no listener for a bind to find.
    forward = str(ROOT / "provision" / "host" / "forward.sh")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([forward, "add", "dbx-other", "127.0.0.1", str(port), "10.0.3.250", "5000"], check=True)
    try:
        result = vagrant(scratch(host_port=port), "up", "--provider=lxc")
    finally:
        subprocess.run([forward, "remove", "dbx-other"], check=True)
    assert result.returncode != 0
    assert f"host port 127.0.0.1:{port} is forwarded to another devbox's guest (dbx-other)" in result.stderr
    assert "change host_port in devbox.yaml" in result.stderr
    assert "Importing base box" not in result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_second_devbox_on_the_host_gets_fixed_addresses_of_its_own(scratch):
    """Two devboxes' guests never share an address or a MAC: each Vagrant
    folder claims a block of its own at its first Vagrant command, and keeps it."""
    from devbox.settings import ADDRESS_BLOCKS as MAX_BLOCKS, BLOCK_FILE, address_block

    folder = scratch()
    # Its vagrant up goes as far as the missing network (the claim comes first), twice.
    for _ in range(2):
        assert vagrant(folder, "up", "--provider=lxc", DEVBOX_BRIDGE="dbxgone0").returncode != 0
        block = int((folder / ".vagrant" / BLOCK_FILE).read_text())  # the same every time
        assert open(f"{ADDRESS_BLOCKS}/{block}").read() == str(folder / ".vagrant")
    assert block != address_block(ROOT) and 0 <= block < MAX_BLOCKS
    python = str(ROOT / ".venv" / "bin" / "python")
    fronts = {subprocess.run([python, "-m", "devbox.settings", "front_address"], cwd=where, capture_output=True,
                             text=True, check=True).stdout.strip() for where in (folder, ROOT)}
    assert len(fronts) == 2


def test_a_container_of_the_same_name_stops_vagrant_up(scratch):
    # Another devbox's guest (the same name in its devbox.yaml), or one left over.
    name = f"dbxtest{os.getpid()}"
    lxcpath = subprocess.run(["lxc-config", "lxc.lxcpath"], capture_output=True, text=True).stdout.strip()
    other = os.path.join(lxcpath or "/var/lib/lxc", name)
    os.makedirs(other)
    try:
        with open(os.path.join(other, "config"), "w") as config:
            config.write(f"lxc.uts.name = {name}\n")
        result = vagrant(scratch(name=name, host_port=free_port(), https_host_port=free_port()), "up", "--provider=lxc")
    finally:
        shutil.rmtree(other)
    assert result.returncode != 0
    assert (f"devbox: an lxc container named {name} exists and is not this folder's guest (another devbox's, or one "
            f"left over); give this devbox another name in devbox.yaml, or lxc-destroy -n {name}") in result.stderr
    assert "Importing base box" not in result.stdout


def test_a_network_that_is_down_stops_vagrant_up_with_the_fix(scratch):
    # After a host reboot the bridge and its DHCP server are gone.
    result = vagrant(scratch(), "up", "--provider=lxc", DEVBOX_BRIDGE="dbxgone0")
    assert result.returncode != 0
    assert ("devbox: the lxc network (bridge dbxgone0 and its DHCP server) is down, after a reboot perhaps; "
            "run ./setup.sh, which restores it") in result.stderr
    assert "Importing base box" not in result.stdout


def test_a_libvirt_network_that_is_down_stops_vagrant_up_with_the_fix(scratch):
    result = vagrant(scratch(), "up", "--provider=libvirt", DEVBOX_BRIDGE="dbxgone0")
    assert result.returncode != 0
    assert ("devbox: the libvirt network devbox (bridge dbxgone0) is down, or was never made; "
            "run ./setup.sh --provider libvirt, which makes it") in result.stderr
    assert "Creating image" not in result.stdout


def test_a_repository_folder_anyone_may_write_stops_vagrant_up(scratch):
    # The guest's root can write there too, and host root runs what is in it.
    folder = scratch()
    (folder / "provision").chmod(0o777)
    result = vagrant(folder, "up", "--provider=lxc")
    assert result.returncode != 0
    assert f"devbox: {folder / 'provision'} is writable by anyone, the guest included; chmod o-w it" in result.stderr
    assert "Importing base box" not in result.stdout


def test_what_the_guest_makes_in_a_writable_folder_locks_no_one_out(scratch):
    # A file anyone may write, made by the app in its writable folder (its
    # instance folder, say): the guest's own, so the check above passes over it
    # (the next check, of a network that is not there, is what stops this up).
    folder = scratch()
    raw = yaml.safe_load((folder / "devbox.yaml").read_text())
    writable = folder / raw["app"]["folder"] / raw["app"]["writable"][0]
    writable.mkdir(parents=True, exist_ok=True)
    (writable / "made-by-the-app.db").write_text("")
    (writable / "made-by-the-app.db").chmod(0o666)
    result = vagrant(folder, "up", "--provider=lxc", DEVBOX_BRIDGE="dbxgone0")
    assert result.returncode != 0
    assert "is writable by anyone" not in result.stderr
    assert "the lxc network (bridge dbxgone0 and its DHCP server) is down" in result.stderr


def test_vagrant_reads_the_libvirt_driver_where_libvirt_sh_wrote_it(tmp_path):
    # $DEVBOX_CACHE moves devbox's cache folder for the scripts and for Vagrant alike.
    (tmp_path / "libvirt-driver").write_text("qemu\n")
    read = subprocess.run(["ruby", "-e", f'require "{ROOT}/provision/vagrant/settings"; print DevboxSettings.libvirt_driver'],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "DEVBOX_CACHE": str(tmp_path)})
    assert read.stdout == "qemu", read.stderr
