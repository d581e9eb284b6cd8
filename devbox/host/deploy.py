"""`fab deploy` and `fab rollback`: devbox's stack on a server, from the host.

A deploy uploads a release (devbox's provisioning, the app, devbox.yaml and
deploy.yaml) to ``/srv/NAME/releases/ID`` on the server and runs the same
provisioning scripts as a guest's there, in the production profile
(``DEVBOX_PROFILE=production``: devbox.settings.production): packages, the
firewall, Redis, the app's venv, then the switch of the ``current`` link and a
graceful reload, nginx, the certificate, the check. The server needs nothing
of devbox beforehand: SSH, and root or a user with passwordless sudo.

With app servers (deploy.yaml's app_servers), the server is their front: its
firewall, Redis, nginx and certificate first, then each app server's app,
then the front's switch to the release (its static files) and the check.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from devbox import settings as devbox_settings
from devbox.settings import FRONT, ROOT

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
        # The app, server and worker a developer picked for the devbox go along;
        # the devbox's own overrides (ports, instances, app guests) do not.
        for variable in ("DEVBOX_APP", "DEVBOX_WORKER", "DEVBOX_SERVER"):
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

    def __init__(self, deploy: dict, guest: str = FRONT):
        import paramiko
        from fabric import Connection  # late: fab -l works without a server

        ssh = deploy["ssh"][guest]
        # guest: its name in the settings' guests (default: the server; appK: app server K).
        self.guest, self.name = guest, ssh["name"]
        key = "server" if guest == FRONT else "app_servers"
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
            raise DeployError(f"cannot reach {self.name} over SSH ({exc or type(exc).__name__}); check {key} "
                              "(and ssh_key) in deploy.yaml, and that the server is up") from None
        except paramiko.BadHostKeyException:
            raise DeployError(f"{ssh['host']} answered with another host key than {known_hosts} has for it: "
                              "not the server, or it was made again; check, then ssh-keygen -R it") from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" not in str(exc):
                raise DeployError(f"SSH to {self.name} failed ({exc}); check {key} and ssh_key in deploy.yaml, "
                                  "and that the key is authorized there") from None
            raise DeployError(f"{ssh['host']}'s host key is not in {known_hosts}; check it, then run ssh -p "
                              f"{ssh['port']} {ssh['user']}@{ssh['host']} once to accept it") from None
        except Exception as exc:  # paramiko's: authentication
            raise DeployError(f"SSH to {self.name} failed ({type(exc).__name__}: {exc}); check {key} and ssh_key "
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
# Each role's provisioning steps on a server (provision/guest/provision.sh's), in
# order. With app servers, the front's and theirs run side by side, then each
# app server's app goes live (APP_LIVE), one after another, then the front's
# last ones: the site's static files switch once the app runs the release.
STEPS = {
    "all": ("packages", "firewall", "release", "redis", "nginx", "acme", "app", "logs", "check"),
    "front": ("packages", "firewall", "role", "release", "redis", "nginx", "acme"),
    "app": ("packages", "firewall", "role", "release"),
}
APP_LIVE = ("app", "logs", "check")
FRONT_LAST = ("switch", "logs", "check")
# What puts a server back on its live release after a failed deploy: the
# firewall and the site, which the new release's first steps change; and if
# the new release went live there, its app (a front: its static files).
RESTORE = {"all": ("firewall", "nginx"), "front": ("firewall", "nginx"), "app": ("firewall",)}
RESTORE_LIVE = {"all": ("app", "check"), "front": ("switch",), "app": ("app", "check")}
# What makes an older release live again (fab rollback).
ROLLBACK = {"all": ("app", "nginx", "check"), "front": ("nginx", "switch", "check"), "app": ("app", "check")}
# What a front shares with its app servers (the app's SECRET_KEY, Redis's
# password): made on the front once, kept there (root's alone), and handed to
# each provisioner in a file, as the Vagrantfile does for app guests.
SECRETS = "secrets.json"
MAKE_SECRETS = ("import json, secrets; print(json.dumps({k: secrets.token_hex(32) "
                "for k in ('DEVBOX_SECRET_KEY', 'DEVBOX_REDIS_PASSWORD')}))")


def _provision(server: Server, s: dict, release: str, steps: tuple[str, ...], secrets: bytes = b"",
               stream: bool = True) -> bool:
    """The provisioner of ``release`` on the server, in the production profile;
    its output streamed, or printed whole when it ends (``stream`` False: one
    of several running side by side), under the machine's name."""
    root = f"{s['releases']}/{release}"
    env = {"DEVBOX_PROFILE": "production", "DEVBOX_ROOT": root, "DEVBOX_GUEST": server.guest}
    if s["package_cache"]["apt"]:  # needed before the server can read the settings
        env["DEVBOX_PACKAGE_CACHE_APT"] = s["package_cache"]["apt"]
    if secrets:
        env["DEVBOX_SECRETS_UPLOAD"] = server.put(secrets, SECRETS)
    command = shlex.join(["flock", "--nonblock", "--conflict-exit-code", str(BUSY), LOCK,
                          "bash", f"{root}/provision/guest/provision.sh", *steps])
    header = f"== {server.name} ({_role(s, server)}: {' '.join(steps)})\n" if s["nodes"] else ""
    print(header if stream else "", end="", flush=True)
    try:
        result = server.run(command, hide=not stream, env=env)
    finally:
        if secrets:
            server.run(f"rm -rf {shlex.quote(os.path.dirname(env['DEVBOX_SECRETS_UPLOAD']))}")
    if not stream:
        print(f"{header}{result.stdout}", end="", flush=True)
        print(result.stderr, end="", file=sys.stderr, flush=True)
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


def _connect(deploy_settings: dict) -> dict[str, Server]:
    """A connection to each machine deploy.yaml names, by its guest name: the server first."""
    return {guest: Server(deploy_settings, guest) for guest in deploy_settings["ssh"]}


def _upload(deploy_file: str | os.PathLike | None) -> tuple[dict, dict[str, Server], dict[str, str]]:
    """The server's settings, a connection to each machine, and the release as
    an archive uploaded to each (its path there, in a folder of the SSH user's own)."""
    path = Path(deploy_file or os.environ.get("DEVBOX_DEPLOY") or devbox_settings.DEPLOY_FILE)
    raw, deploy_settings, s = settings(path)
    servers = _connect(deploy_settings)
    data = archive(raw, deploy_settings, s, path)
    return s, servers, {guest: server.put(data, "release.tar.gz") for guest, server in servers.items()}


def _role(s: dict, server: Server) -> str:
    return s["guests"][server.guest]["role"]


def deploy(deploy_file: str | os.PathLike | None = None) -> tuple[str, str]:
    """A new release live on the server (and its app servers); returns its id and the site's URL."""
    s, servers, uploads = _upload(deploy_file)
    release = release_id()
    root = f"{s['releases']}/{release}"
    for guest, server in servers.items():
        upload = uploads[guest]
        unpacked = server.run(f"install -d -m 755 {shlex.quote(s['releases'])} && mkdir {shlex.quote(root)} && "
                              f"tar -xzf {shlex.quote(upload)} --no-same-owner -C {shlex.quote(root)}; "
                              f"status=$?; rm -rf {shlex.quote(os.path.dirname(upload))}; exit $status")
        if unpacked.failed:
            for other in servers.values():
                other.run(f"rm -rf {shlex.quote(root)}")
            raise DeployError(f"the release could not be unpacked on {server.name}: {unpacked.stderr.strip()[-300:]}")
    live = {guest: _releases(server, s)[1] for guest, server in servers.items()}
    front = servers[FRONT]
    secrets = b""
    if len(servers) > 1:
        path = shlex.quote(f"{s['server_root']}/{SECRETS}")
        made = front.run(f"[ -s {path} ] || (umask 077 && python3 -c {shlex.quote(MAKE_SECRETS)} > {path}.new && "
                         f"mv {path}.new {path}) && cat {path}")
        if made.failed:
            raise DeployError(f"the secrets could not be made on {front.name}: {made.stderr.strip()[-300:]}")
        secrets = made.stdout.encode()
    # Each machine's first steps side by side (with one server: all of them).
    # Then each app server's app goes live, one after another: a restart (new
    # requirements) leaves the others serving. A failure puts every machine
    # back on the live release (_restore raises). The secrets go where they
    # are used: the front's Redis, the app servers' app.
    everyone = list(servers.values())
    with ThreadPoolExecutor(len(everyone)) as pool:
        done = list(pool.map(lambda server: _provision(server, s, release, STEPS[_role(s, server)],
                                                       secrets if server is front else b"",
                                                       stream=len(everyone) == 1), everyone))
    apps = [server for server in everyone if server is not front]
    if not (all(done) and all(_provision(app, s, release, APP_LIVE, secrets) for app in apps)
            and (not apps or _provision(front, s, release, FRONT_LAST))):
        _restore(s, servers, everyone, release, live)
    for server in servers.values():
        server.run(f"touch {shlex.quote(root)}/{LIVED}")
        _prune(server, s)
    return release, f"https://{s['domains'][0]}/"


def _restore(s: dict, servers: dict[str, Server], reached: list[Server], release: str, live: dict[str, str]) -> None:
    """After a failed deploy: each machine it reached back on its live release,
    and the new release gone from all; raises the error that says so."""
    failed, stuck = [], []
    for server in reached:
        role, (_, current) = _role(s, server), _releases(server, s)
        steps = RESTORE[role] + (RESTORE_LIVE[role] if current == release else ())
        if live[server.guest]:
            if not _provision(server, s, live[server.guest], steps):
                failed.append(server.name)
        elif current == release:
            stuck.append(server.name)
    if failed:
        raise DeployError(f"release {release} failed (above), and so did going back to the live release on "
                          f"{', '.join(failed)}; fix it and run fab deploy again")
    if stuck:
        raise DeployError(f"release {release} is live on {', '.join(stuck)} but failed after it went live (above); "
                          "fix it and run fab deploy again")
    for server in servers.values():
        server.run(f"rm -rf {shlex.quote(s['releases'])}/{shlex.quote(release)}")
    raise DeployError(f"release {release} failed (above) and is gone; the live release is "
                      f"{live[FRONT] or 'none'}, as before; fix it and run fab deploy again")


def _prune(server: Server, s: dict) -> None:
    """Only the last keep_releases releases stay, the live one always among them, and
    nothing of a deploy that never went live (one cut short)."""
    releases, current = _releases(server, s)
    old = [r for r in releases[:-s["keep_releases"]] if r != current]
    keep = " ".join(shlex.quote(r) for r in releases if r not in old)
    server.run(f"cd {shlex.quote(s['releases'])} && for r in *; do case \" {keep} \" in *\" $r \"*) ;; "
               "*) rm -rf -- \"$r\" ;; esac; done")


def check(deploy_file: str | os.PathLike | None = None) -> str:
    """What a deploy would change on each machine (devbox/guest/plan.py), changing nothing there."""
    s, servers, uploads = _upload(deploy_file)
    out = []
    for guest, server in servers.items():
        upload = uploads[guest]
        # Root's, beside nothing of the live release's, and gone after.
        plan = server.run(f"folder=$(mktemp -d) && tar -xzf {shlex.quote(upload)} --no-same-owner -C \"$folder\" && "
                          f"rm -rf {shlex.quote(os.path.dirname(upload))} && cd \"$folder\" && "
                          f"DEVBOX_PROFILE=production DEVBOX_GUEST={guest} python3 -m devbox.guest.plan; status=$?; "
                          "rm -rf \"$folder\"; exit $status")
        if plan.failed:
            raise DeployError(f"the check failed on {server.name}: {(plan.stdout + plan.stderr).strip()[-500:]}")
        out.append(plan.stdout if len(servers) == 1 else f"== {server.name} ({_role(s, server)})\n{plan.stdout}")
    return "".join(out)


def rollback(deploy_file: str | os.PathLike | None = None) -> tuple[str, str]:
    """The release before the live one live again (app servers first); returns (from, to)."""
    _, deploy_settings, s = settings(deploy_file)
    servers = _connect(deploy_settings)
    front = servers[FRONT]
    releases, current = _releases(front, s)
    if current not in releases or releases.index(current) == 0:
        raise DeployError(f"no release before {current or 'none'} on {front.name} to roll back to "
                          f"(releases: {', '.join(releases) or 'none'})")
    previous = releases[releases.index(current) - 1]
    lacking = [server.name for server in servers.values() if previous not in _releases(server, s)[0]]
    if lacking:
        raise DeployError(f"release {previous} is not on {', '.join(lacking)} (added since); fab deploy instead")
    for server in [*(server for server in servers.values() if server is not front), front]:
        if not _provision(server, s, previous, ROLLBACK[_role(s, server)]):
            raise DeployError(f"rolling back to {previous} failed on {server.name} (above)")
    return current, previous
