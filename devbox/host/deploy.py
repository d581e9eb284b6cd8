"""`fab deploy` and `fab rollback`: devbox's stack on a server, from the host.

A deploy uploads a release (devbox's provisioning, the app, devbox.yaml and
deploy.yaml) to ``/srv/NAME/releases/ID`` on the server and runs the same
provisioning scripts as a guest's there, in the production profile
(``DEVBOX_PROFILE=production``: devbox.settings.production): packages, the
firewall, Redis, the app's venv, then the switch of the ``current`` link and a
graceful reload, nginx, the certificate, the check. The server needs nothing
of devbox beforehand: SSH, and root or a user with passwordless sudo.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import tarfile
import time
from pathlib import Path

import yaml

from devbox import settings as devbox_settings
from devbox.settings import ROOT

# What a release holds besides the app's folder: what the server runs of devbox.
RELEASE_PARTS = ("devbox", "provision", "requirements", "static")
# Where a release holds acme.ca_bundle.
CA_BUNDLE = "acme-ca.pem"
# Never uploaded: what Python and editors leave behind.
LEFT_OUT = ("__pycache__", ".pytest_cache", ".mypy_cache")


class DeployError(Exception):
    """The deploy cannot go on; the message says why and what to do."""


def settings(deploy_file: str | os.PathLike | None = None) -> tuple[dict, dict, dict]:
    """(devbox.yaml as the server gets it, deploy.yaml checked, the server's settings as the host sees them)."""
    raw = devbox_settings.read_yaml(Path(os.environ.get("DEVBOX_SETTINGS") or devbox_settings.DEFAULT_FILE))
    if isinstance(raw, dict):
        # The app and worker a developer picked for the devbox go along; the
        # devbox's own overrides (ports, instances, app guests) do not.
        for variable in ("DEVBOX_APP", "DEVBOX_WORKER"):
            if os.environ.get(variable):
                devbox_settings.OVERRIDES[variable](raw, os.environ[variable])
    deploy = devbox_settings.load_deploy(deploy_file)  # its messages name deploy.yaml
    try:
        return raw, deploy, devbox_settings.production(raw, deploy)
    except devbox_settings.SettingsError as exc:
        raise devbox_settings.SettingsError(f"devbox.yaml: {exc}") from None


def release_id() -> str:
    """A sortable name for a new release: its UTC time and the commit, when there is one."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return f"{stamp}-{commit}" if commit else stamp


def archive(raw: dict, deploy: dict, s: dict, deploy_file: Path) -> bytes:
    """The release as a gzipped tar, every file root's and world-readable, no
    file the app writes (app.writable: the server's own, in shared/)."""
    skipped = {ROOT / folder for folder in s["app"]["writable"]}

    def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        path = ROOT / info.name
        if path.name in LEFT_OUT or path.suffix == ".pyc" or path in skipped:
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if not info.issym():
            info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for part in (*RELEASE_PARTS, s["app"]["folder"]):
            tar.add(ROOT / part, arcname=part, filter=normalize)
        server_deploy = yaml.safe_load(deploy_file.read_text())
        if deploy["acme"]["ca_bundle"]:  # the host's file, in the release under a name of its own
            tar.add(deploy["acme"]["ca_bundle_file"], arcname=CA_BUNDLE, filter=normalize)
            server_deploy["acme"]["ca_bundle"] = CA_BUNDLE
        for name, settings_raw in (("devbox.yaml", raw), ("deploy.yaml", server_deploy)):
            data = yaml.safe_dump(settings_raw, sort_keys=False).encode()
            info = normalize(tarfile.TarInfo(name))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Server:
    """An SSH connection to the server, with root's commands through sudo for another user."""

    def __init__(self, deploy: dict):
        import paramiko
        from fabric import Connection  # late: fab -l works without a server

        ssh = deploy["ssh"]
        self.name = deploy["server"]
        kwargs = {"key_filename": os.path.expanduser(deploy["ssh_key"])} if deploy["ssh_key"] else {}
        self.conn = Connection(host=ssh["host"], user=ssh["user"], port=ssh["port"], connect_timeout=10,
                               connect_kwargs=kwargs)
        # The server must be the one ssh knows: its key in known_hosts, never taken on trust.
        known_hosts = os.path.expanduser(deploy["known_hosts"] or "~/.ssh/known_hosts")
        self.conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            self.conn.client.load_host_keys(known_hosts)
        except OSError:
            pass  # none yet: the connection below says what to do
        self.sudo = [] if ssh["user"] == "root" else ["sudo", "-n"]
        try:
            self.conn.run("true", hide=True, in_stream=False)
        except (OSError, EOFError) as exc:
            raise DeployError(f"cannot reach {self.name} over SSH ({exc or type(exc).__name__}); check server "
                              "(and ssh_key) in deploy.yaml, and that the server is up") from None
        except paramiko.BadHostKeyException:
            raise DeployError(f"{ssh['host']} answered with another host key than {known_hosts} has for it: "
                              "not the server, or it was made again; check, then ssh-keygen -R it") from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" not in str(exc):
                raise DeployError(f"SSH to {self.name} failed ({exc}); check server and ssh_key in deploy.yaml, "
                                  "and that the key is authorized there") from None
            raise DeployError(f"{ssh['host']}'s host key is not in {known_hosts}; check it, then run ssh -p "
                              f"{ssh['port']} {ssh['user']}@{ssh['host']} once to accept it") from None
        except Exception as exc:  # paramiko's: authentication
            raise DeployError(f"SSH to {self.name} failed ({type(exc).__name__}: {exc}); check server and ssh_key "
                              "in deploy.yaml, and that the key is authorized there") from None
        if self.sudo and self.run("true", hide=True).failed:
            raise DeployError(f"{ssh['user']} on {ssh['host']} may not use sudo without a password; deploy as root, "
                              f"or give {ssh['user']} passwordless sudo")

    def run(self, command: str, hide: bool = True, env: dict | None = None):
        """``command`` (a shell line) as root on the server; the result, failed or not."""
        prefix = [*self.sudo, "env", *(f"{k}={v}" for k, v in (env or {}).items())] if self.sudo or env else []
        line = shlex.join(prefix) + " " if prefix else ""
        return self.conn.run(f"{line}bash -c {shlex.quote(command)}", hide=hide, warn=True, in_stream=False)

    def put(self, data: bytes, name: str) -> str:
        """``data`` in a new folder of the SSH user's own; its path there."""
        folder = self.conn.run("mktemp -d", hide=True, in_stream=False).stdout.strip()
        self.conn.put(io.BytesIO(data), f"{folder}/{name}")
        return f"{folder}/{name}"


# One deploy, rollback or check at a time on a server: flock's exit when another holds it.
LOCK, BUSY = "/run/lock/devbox-deploy.lock", 75
# In a release that went live once: only those are rolled back to.
LIVED = ".deployed"


def _provision(server: Server, s: dict, release: str, steps: tuple[str, ...] = ()) -> bool:
    """The provisioner of ``release`` on the server, in the production profile; its output streamed."""
    root = f"{s['releases']}/{release}"
    env = {"DEVBOX_PROFILE": "production", "DEVBOX_ROOT": root}
    if s["package_cache"]["apt"]:  # needed before the server can read the settings
        env["DEVBOX_PACKAGE_CACHE_APT"] = s["package_cache"]["apt"]
    command = shlex.join(["flock", "--nonblock", "--conflict-exit-code", str(BUSY), LOCK,
                          "bash", f"{root}/provision/guest/provision.sh", *steps])
    result = server.run(command, hide=False, env=env)
    if result.exited == BUSY:
        raise DeployError(f"another deploy or rollback is running on {server.name}; wait for it, then run this again")
    return result.ok


def _releases(server: Server, s: dict) -> tuple[list[str], str]:
    """The releases on the server that went live once, oldest first, and the live one ("" for none)."""
    releases = shlex.quote(s["releases"])
    listing = server.run(f"cd {releases} 2>/dev/null && for r in *; do [ ! -e \"$r/{LIVED}\" ] || echo \"$r\"; done; "
                         f"echo \"current=$(readlink {shlex.quote(s['paths']['synced'])})\"").stdout.split()
    current = next(line for line in listing if line.startswith("current="))[len("current="):]
    return sorted(line for line in listing if not line.startswith("current=")), current.rpartition("/")[2]


def _upload(deploy_file: str | os.PathLike | None) -> tuple[dict, Server, str]:
    """The server's settings, a connection to it, and the release as an archive
    uploaded there (its path, in a folder of the SSH user's own)."""
    path = Path(deploy_file or os.environ.get("DEVBOX_DEPLOY") or devbox_settings.DEPLOY_FILE)
    raw, deploy_settings, s = settings(path)
    server = Server(deploy_settings)
    return s, server, server.put(archive(raw, deploy_settings, s, path), "release.tar.gz")


def deploy(deploy_file: str | os.PathLike | None = None) -> tuple[str, str]:
    """A new release live on the server; returns its id and the site's URL."""
    s, server, upload = _upload(deploy_file)
    release = release_id()
    root = f"{s['releases']}/{release}"
    unpacked = server.run(f"install -d -m 755 {shlex.quote(s['releases'])} && mkdir {shlex.quote(root)} && "
                          f"tar -xzf {shlex.quote(upload)} --no-same-owner -C {shlex.quote(root)}; "
                          f"status=$?; rm -rf {shlex.quote(os.path.dirname(upload))}; exit $status")
    if unpacked.failed:
        server.run(f"rm -rf {shlex.quote(root)}")
        raise DeployError(f"the release could not be unpacked on the server: {unpacked.stderr.strip()[-300:]}")
    _, live = _releases(server, s)
    if not _provision(server, s, release):
        _, current = _releases(server, s)
        # The live release's own again: its app, if the new one went live and
        # failed after (its check); its firewall and site, which the new one's
        # steps before the switch may have changed.
        steps = ("firewall", "nginx") + (("app", "check") if current == release else ())
        if live and not _provision(server, s, live, steps):
            raise DeployError(f"release {release} failed (above), and so did going back to {live}; "
                              "fix it and run fab deploy again")
        if not live and current == release:
            raise DeployError(f"release {release} is live but failed after it went live (above); fix it and "
                              "run fab deploy again")
        server.run(f"rm -rf {shlex.quote(root)}")
        raise DeployError(f"release {release} failed (above) and is gone; the live release is "
                          f"{live or 'none'}, as before; fix it and run fab deploy again")
    server.run(f"touch {shlex.quote(root)}/{LIVED}")
    _prune(server, s)
    return release, f"https://{s['domains'][0]}/"


def _prune(server: Server, s: dict) -> None:
    """Only the last keep_releases releases stay, the live one always among them, and
    nothing of a deploy that never went live (one cut short)."""
    releases, current = _releases(server, s)
    old = [r for r in releases[:-s["keep_releases"]] if r != current]
    keep = " ".join(shlex.quote(r) for r in releases if r not in old)
    server.run(f"cd {shlex.quote(s['releases'])} && for r in *; do case \" {keep} \" in *\" $r \"*) ;; "
               "*) rm -rf -- \"$r\" ;; esac; done")


def check(deploy_file: str | os.PathLike | None = None) -> str:
    """What a deploy would change on the server (devbox/guest/plan.py), changing nothing there."""
    _, server, upload = _upload(deploy_file)
    # Root's, beside nothing of the live release's, and gone after.
    plan = server.run(f"folder=$(mktemp -d) && tar -xzf {shlex.quote(upload)} --no-same-owner -C \"$folder\" && "
                      f"rm -rf {shlex.quote(os.path.dirname(upload))} && cd \"$folder\" && "
                      "DEVBOX_PROFILE=production python3 -m devbox.guest.plan; status=$?; rm -rf \"$folder\"; "
                      "exit $status")
    if plan.failed:
        raise DeployError(f"the check failed on the server: {(plan.stdout + plan.stderr).strip()[-500:]}")
    return plan.stdout


def rollback(deploy_file: str | os.PathLike | None = None) -> tuple[str, str]:
    """The release before the live one live again; returns (from, to)."""
    _, deploy_settings, s = settings(deploy_file)
    server = Server(deploy_settings)
    releases, current = _releases(server, s)
    if current not in releases or releases.index(current) == 0:
        raise DeployError(f"no release before {current or 'none'} on {deploy_settings['server']} to roll back to "
                          f"(releases: {', '.join(releases) or 'none'})")
    previous = releases[releases.index(current) - 1]
    if not _provision(server, s, previous, ("app", "nginx", "check")):
        raise DeployError(f"rolling back to {previous} failed (above)")
    return current, previous
