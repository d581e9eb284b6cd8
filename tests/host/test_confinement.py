"""Root in the guest (a package's install script, say) must not become root on
the host: the lxc guest is an unprivileged container, and the repository, whose
files host root runs (setup.sh, provision/host/, .venv), is read-only in it
except for the app's writable folders (app.writable)."""

import os
import shlex
import subprocess
import uuid
from pathlib import Path

from devbox.settings import ROOT


def host_uid_of_guest_root(settings):
    pid = subprocess.run(["lxc-info", "-n", settings["name"], "-p", "-H"], capture_output=True, text=True,
                         check=True).stdout.strip()
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def subordinate_ranges():
    """The host ids given to host users for their own user namespaces (/etc/subuid, /etc/subgid)."""
    ranges = []
    for name in ("/etc/subuid", "/etc/subgid"):
        if Path(name).exists():
            for line in Path(name).read_text().split():
                _, start, count = line.split(":")
                ranges.append((int(start), int(start) + int(count)))
    return ranges


def test_the_guest_root_is_an_unprivileged_user_on_the_host(guest, settings):
    assert guest.run("sudo id -u", hide=True).stdout.strip() == "0"
    root = host_uid_of_guest_root(settings)
    assert root >= 100000
    # No host user may map the guest's ids in a user namespace of its own.
    assert not [r for r in subordinate_ranges() if r[0] < root + 65536 and root < r[1]]


def test_the_guests_ids_keep_clear_of_host_users_subordinate_ids(tmp_path):
    # adduser gives the first user 100000:65536: the box then maps elsewhere.
    (tmp_path / "subuid").write_text("alice:100000:65536\n")
    (tmp_path / "subgid").write_text("alice:100000:65536\nbob:165536:65536\n")
    for files, base in (("", "100000"), (f"{tmp_path}/subuid", "165536"), (f"{tmp_path}/subuid {tmp_path}/subgid", "231072")):
        found = subprocess.run([str(ROOT / "provision/host/build-box.sh"), "--id-base"], capture_output=True, text=True,
                               env={**os.environ, "DEVBOX_SUBID_FILES": files or "/nonexistent"}, check=True)
        assert found.stdout.strip() == base


def test_guest_root_cannot_write_the_repository_even_remounted(guest, settings):
    synced = settings["paths"]["synced"]
    assert " ro," in guest.run(f"grep ' {synced} ' /proc/mounts", hide=True).stdout
    # Guest root owns its mount namespace and may lift the read-only flag; the
    # files stay host root's, which the guest's root is not.
    guest.run(f"sudo mount -o remount,rw,bind {synced}", hide=True, warn=True)
    target = ROOT / "provision" / "host" / "forward.sh"
    before = target.read_bytes()
    try:
        for command in (f"echo 'id > /tmp/owned' >> {synced}/provision/host/forward.sh",
                        f"touch {synced}/setup.sh.planted",
                        f"chmod 0777 {synced}/provision",
                        f"mv {synced}/.venv {synced}/.venv.moved"):
            result = guest.run(f"sudo bash -c {shlex.quote(command)}", hide=True, warn=True)
            assert result.exited != 0, command
    finally:
        guest.run(f"sudo mount -o remount,ro,bind {synced}", hide=True, warn=True)
    assert target.read_bytes() == before
    assert not (ROOT / "setup.sh.planted").exists() and (ROOT / ".venv").is_dir()


def test_the_app_writes_its_writable_folders_and_nothing_else(guest, settings):
    synced, user = settings["paths"]["synced"], settings["name"]
    assert settings["app"]["writable"], "the demo's devbox.yaml lists a writable folder"
    folder = settings["app"]["writable"][0]
    name = f"probe-{uuid.uuid4().hex[:8]}"
    try:
        guest.run(f"sudo -u {user} sh -c 'echo from-the-guest > {synced}/{folder}/{name}'", hide=True)
        assert (ROOT / folder / name).read_text() == "from-the-guest\n"  # there on the host, as written
    finally:
        (ROOT / folder / name).unlink(missing_ok=True)  # and the host's to remove
    outside = f"{synced}/{settings['app']['folder']}/{name}"
    assert guest.run(f"sudo -u {user} touch {outside}", hide=True, warn=True).exited != 0
    assert not (ROOT / settings["app"]["folder"] / name).exists()
