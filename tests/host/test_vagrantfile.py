"""The Vagrantfile's own checks, run by the real `vagrant` against a copy of it
in a scratch folder: each one stops `vagrant up` before anything is created,
with one line that names the problem and the fix."""

import shutil
import socket
import subprocess

import pytest
import yaml

from devbox.settings import ROOT


@pytest.fixture
def scratch(tmp_path):
    """Factory: a folder holding the Vagrantfile and a devbox.yaml changed by ``changes``."""

    def make(**changes):
        shutil.copy(ROOT / "Vagrantfile", tmp_path)
        shutil.copytree(ROOT / "provision" / "vagrant", tmp_path / "provision" / "vagrant", dirs_exist_ok=True)
        raw = yaml.safe_load((ROOT / "devbox.yaml").read_text())
        for dotted, value in changes.items():
            *parents, last = dotted.split("__")
            target = raw
            for part in parents:
                target = target[part]
            target[last] = value
        (tmp_path / "devbox.yaml").write_text(yaml.safe_dump(raw))
        return tmp_path

    return make


def vagrant(folder, *args):
    return subprocess.run(["vagrant", *args], cwd=folder, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("key, value, expected", [
    ("host_port", 70000, "devbox.yaml: host_port: 70000 is not a port"),
    ("memory", "lots", 'devbox.yaml: memory: "lots" is too small or not a number'),
    ("host_ip", "nowhere", 'devbox.yaml: host_ip: "nowhere" is not an IP address'),
])
def test_a_bad_setting_stops_vagrant(scratch, key, value, expected):
    result = vagrant(scratch(**{key: value}), "validate")
    assert result.returncode != 0
    assert expected in result.stderr


def test_a_missing_lxc_box_is_named_with_the_fix(scratch):
    result = vagrant(scratch(boxes__lxc="devbox/no-such-box"), "up", "--provider=lxc")
    assert result.returncode != 0
    assert "devbox: box devbox/no-such-box is missing; build it with ./setup.sh" in result.stderr
    assert "Importing base box" not in result.stdout


def test_a_taken_host_port_stops_vagrant_up(scratch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = vagrant(scratch(host_port=port), "up", "--provider=lxc")
    assert result.returncode != 0
    assert f"devbox: host port 127.0.0.1:{port} is already in use" in result.stderr
    assert "change host_port in devbox.yaml" in result.stderr
    assert "Importing base box" not in result.stdout
