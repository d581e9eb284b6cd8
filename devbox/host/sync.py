"""The synced folder of a guest that holds a copy of it (rsync: libvirt) rather
than the host's folder itself (a bind mount: lxc; a shared folder: VirtualBox).

Vagrant copies the tree at `vagrant up` only. devbox copies again before the
guest reads it: each file `fab watch` acts on, over the SSH connection already
open, and the whole tree before `fab reload` and `fab provision` (rsync, as
Vagrant does, with the same exclusions: settings ``rsync_exclude``).
"""

from __future__ import annotations

import os
import shlex
import subprocess

from devbox.settings import ROOT


class SyncError(Exception):
    """The copy in the guest could not be brought up to date; the message says why."""


def stale_writable(settings: dict, conn) -> list[str]:
    """The app's writable folders (app.writable) that the guest does not see
    read-write as they are on the host now: not mounted (newly listed), or
    mounted on a folder the host has since replaced (a team putting its app in
    place removes and copies app/). Only a restart of the guest mounts them
    again. Only an lxc guest mounts each of them on its own: for others, none."""
    folders = settings["app"]["writable"]
    if not folders:
        return []
    synced = settings["paths"]["synced"]
    paths = " ".join(shlex.quote(f"{synced}/{folder}") for folder in folders)
    # Other providers share the folder as one mount (vboxsf and the like), or copy it.
    out = conn.run(f"[ \"$(systemd-detect-virt --container)\" = lxc ] || exit 0; "
                   f"cut -d' ' -f5 /proc/self/mountinfo; echo --; stat -c '%i %n' {paths}", hide=True, warn=True).stdout
    if not out:
        return []
    mounts, _, stats = out.partition("--\n")
    mounted = set(mounts.split())
    inodes = dict(reversed(line.split(" ", 1)) for line in stats.splitlines())

    def host_inode(folder):
        try:
            return str((ROOT / folder).stat().st_ino)
        except FileNotFoundError:
            return None

    return [folder for folder in folders
            if f"{synced}/{folder}" not in mounted or inodes.get(f"{synced}/{folder}") != host_inode(folder)]


def copy_files(settings: dict, conn, paths: list[str]) -> None:
    """Bring these paths (relative to the repository) into the guest's copy as
    rsync --archive would: a file whole at once (nginx never serves half a
    file, even of the same size), a symlink as a symlink, a folder as a folder;
    a path gone from the host goes from the guest. Modification times to the
    nanosecond, as the app's version (devbox.appcode) counts them."""
    sftp = conn.sftp()
    steps = []
    for relative in paths:
        source, target = ROOT / relative, f"{settings['paths']['synced']}/{relative}"
        quoted = shlex.quote(target)
        if source.is_dir() and not source.is_symlink():
            steps.append(f"mkdir -p {quoted}")
        elif not source.is_symlink() and not source.exists():
            steps.append(f"rm -rf {quoted}")
        else:
            draft = f"{target}.devbox-sync"
            try:
                _put(sftp, source, draft)
            except FileNotFoundError:  # in a new folder
                conn.run(f"mkdir -p {shlex.quote(target.rpartition('/')[0])}", hide=True)
                _put(sftp, source, draft)
            stat = source.lstat()
            mode = "" if source.is_symlink() else f"chmod {stat.st_mode & 0o7777:o} {shlex.quote(draft)} && "
            seconds, nanoseconds = divmod(stat.st_mtime_ns, 10**9)
            steps.append(f"{mode}touch -h -m -d @{seconds}.{nanoseconds:09d} {shlex.quote(draft)} "
                         f"&& mv -fT {shlex.quote(draft)} {quoted}")
    if steps:  # one round trip for them all (SFTP sets whole seconds only)
        conn.run(" && ".join(steps), hide=True)


def _put(sftp, source, draft: str) -> None:
    if source.is_symlink():
        try:
            sftp.remove(draft)  # left by a copy that was cut
        except FileNotFoundError:
            pass
        sftp.symlink(os.readlink(source), draft)
    else:
        sftp.put(str(source), draft)


def copy_tree(settings: dict, ssh_config: dict) -> None:
    """The whole tree into the guest's copy (rsync over SSH, what changed only)."""
    ssh = ["ssh", "-p", ssh_config["Port"], "-i", ssh_config["IdentityFile"], "-o", "IdentitiesOnly=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    # --modify-window=-1: times compared to the nanosecond, not the second.
    command = ["rsync", "--archive", "--delete", "--modify-window=-1", *(f"--exclude={p}" for p in settings["rsync_exclude"]),
               "-e", shlex.join(ssh), f"{ROOT}/",
               f"{ssh_config['User']}@{ssh_config['HostName']}:{settings['paths']['synced']}/"]
    result = subprocess.run(command, capture_output=True, text=True)
    # 24: a file went away while rsync ran (an editor's swap file, say); the
    # rest is copied, and the next copy takes it away from the guest too.
    if result.returncode not in (0, 24):
        # rsync's summary line ("some files were not transferred") comes last;
        # the first line names the file and the cause.
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        raise SyncError(f"rsync could not update the guest's copy of the repository: {lines[0]}; "
                        "is the devbox up? (fab status)")
