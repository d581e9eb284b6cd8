"""The synced folder of a guest that holds a copy of it (rsync: libvirt) rather
than the host's folder itself (a bind mount: lxc; a shared folder: VirtualBox).

Vagrant copies the tree at `vagrant up` only. devbox copies again before the
guest reads it: each file `fab watch` acts on, over the SSH connection already
open, and the whole tree before `fab reload` and `fab provision` (rsync, as
Vagrant does, with the same exclusions: settings ``rsync_exclude``).
"""

from __future__ import annotations

import shlex
import subprocess

from devbox.settings import ROOT


class SyncError(Exception):
    """The copy in the guest could not be brought up to date; the message says why."""


def is_copy(settings: dict, conn) -> bool:
    """Whether the guest's synced folder is a copy: nothing is mounted there."""
    return conn.run(f"mountpoint -q {shlex.quote(settings['paths']['synced'])}", hide=True, warn=True).failed


def copy_files(settings: dict, conn, paths: list[str]) -> None:
    """Bring these files (relative to the repository) into the guest's copy,
    each whole at once: nginx never serves half a file, even of the same size."""
    sftp = conn.sftp()
    for relative in paths:
        source, target = ROOT / relative, f"{settings['paths']['synced']}/{relative}"
        if not source.is_file():
            try:
                sftp.remove(target)
            except FileNotFoundError:
                pass
            continue
        draft = f"{target}.devbox-sync"
        try:
            sftp.put(str(source), draft)
        except FileNotFoundError:  # a new folder
            conn.run(f"mkdir -p {shlex.quote(target.rpartition('/')[0])}", hide=True)
            sftp.put(str(source), draft)
        stat = source.stat()
        sftp.chmod(draft, stat.st_mode & 0o7777)
        sftp.utime(draft, (stat.st_atime, stat.st_mtime))  # as rsync leaves it: the next one skips it
        sftp.posix_rename(draft, target)


def copy_tree(settings: dict, ssh_config: dict) -> None:
    """The whole tree into the guest's copy (rsync over SSH, what changed only)."""
    ssh = ["ssh", "-p", ssh_config["Port"], "-i", ssh_config["IdentityFile"], "-o", "IdentitiesOnly=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    command = ["rsync", "--archive", "--delete", *(f"--exclude={p}" for p in settings["rsync_exclude"]),
               "-e", shlex.join(ssh), f"{ROOT}/",
               f"{ssh_config['User']}@{ssh_config['HostName']}:{settings['paths']['synced']}/"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SyncError(f"rsync could not update the guest's copy of the repository: "
                        f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}; "
                        "is the devbox up? (fab status)")
