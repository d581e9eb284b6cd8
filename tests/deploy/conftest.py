"""A server devbox never touched, and a project to deploy to it.

``server``: tests/deploy/server.sh makes a Debian 12 machine the way a hosting
provider hands one out (an lxc container from a stock root file system, sshd
and a sudo user's key, nothing else) on a bridge of its own, whose only ways
out are the host's package caches and Pebble, Let's Encrypt's ACME test
server, run on the host; Pebble's DNS sends every name to the server. Made
fresh for each run. In CI a server that does not come up is a failure.

``cluster``: three more such servers on the same network, a front and two app
servers, also fresh; CLUSTER_DOMAIN resolves to the front.

``project``: a repository of the tests' own (devbox's files, the plain test
app, settings at devbox's defaults), so that nothing here depends on the
team's app or devbox.yaml; `fab deploy` runs in it as a team would.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from devbox import settings as devbox_settings
from devbox.settings import ROOT

SERVER_SH = Path(__file__).with_name("server.sh")
DOMAIN = "app.devbox.test"
CLUSTER_DOMAIN = "cluster.devbox.test"
# Where the site's names resolve, in this test process and in Pebble's DNS.
NAMES: dict[str, str] = {}
PLAIN_APP = ROOT / "tests" / "apps" / "plain"


def server_sh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SERVER_SH), *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def server() -> dict:
    """The server, fresh for this run: its address, SSH user and key, the ACME
    directory and the CA its HTTPS is checked against, Pebble's root, the package caches."""
    for command in ("up", "fresh"):
        result = server_sh(command)
        assert result.returncode == 0, f"server.sh {command} failed:\n{result.stdout}{result.stderr}"
    facts = server_facts()
    NAMES[DOMAIN] = facts["SERVER_ADDRESS"]
    return facts


def server_facts() -> dict:
    facts = dict(line.split("=", 1) for line in server_sh("env").stdout.splitlines() if "=" in line)
    assert facts.get("SERVER_ADDRESS"), "server.sh env printed no SERVER_ADDRESS"
    return facts


@pytest.fixture(scope="session")
def cluster(server) -> dict:
    """Servers 2 to 4, fresh for this run, on the server's network: FRONT's
    address and the two APPS'; CLUSTER_DOMAIN resolves to the front."""
    result = server_sh("fresh", "2", "3", "4")
    assert result.returncode == 0, f"server.sh fresh 2 3 4 failed:\n{result.stdout}{result.stderr}"
    facts = server_facts()
    front, *apps = facts["SERVER_ADDRESSES"].split()[1:4]
    # Pebble's DNS (every other name is the first server's).
    request = urllib.request.Request("http://127.0.0.1:8055/add-a", method="POST", data=json.dumps(
        {"host": f"{CLUSTER_DOMAIN}.", "addresses": [front]}).encode())
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10).close()
    NAMES[CLUSTER_DOMAIN] = front
    return {**facts, "FRONT": front, "APPS": apps}


@pytest.fixture(scope="session")
def pebble_root(server, tmp_path_factory) -> Path:
    """Pebble's issuing root, new at each start of Pebble: what the tests' clients trust, and nothing else does."""
    # Pebble's management port has a certificate of Pebble's own test CA: the root is checked by its use below.
    unverified = ssl._create_unverified_context()
    path = tmp_path_factory.mktemp("pebble") / "root.pem"
    with urllib.request.urlopen(server["ACME_ROOTS"], context=unverified, timeout=10) as answer:
        path.write_bytes(answer.read())
    return path


@pytest.fixture(scope="session", autouse=True)
def resolve_domain(server):
    """DOMAIN resolves to the server in this test process (clients such as
    requests and websocket-client ask getaddrinfo), as public DNS would; and
    CLUSTER_DOMAIN to its front once there is one."""
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return original(NAMES.get(host, host), *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    yield
    socket.getaddrinfo = original


def _defaults() -> dict:
    """devbox.yaml at devbox's shipped defaults (every key, nested)."""
    raw: dict = {}
    for key, setting in devbox_settings.SETTINGS.items():
        *parents, name = key.split(".")
        mapping = raw
        for parent in parents:
            mapping = mapping.setdefault(parent, {})
        mapping[name] = setting.default
    return raw


def write_project(root: Path, facts: dict, app: Path, raw: dict, **deploy_settings) -> Path:
    """A repository in ``root``: devbox's files, ``app`` copied to app/, ``raw``
    as devbox.yaml, and deploy.yaml naming the server (of ``facts``: the
    ``server`` fixture's), its key, Pebble and the host's caches
    (``deploy_settings`` added, and taking precedence)."""
    server = facts
    for part in ("devbox", "provision", "requirements", "static", "fabfile.py"):
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy2
        copy(ROOT / part, root / part, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                          if (ROOT / part).is_dir() else {}))
    shutil.copytree(app, root / "app", ignore=shutil.ignore_patterns("__pycache__", "tests", "instance"))
    (root / "devbox.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    deploy = {
        "server": f"{server['SERVER_USER']}@{server['SERVER_ADDRESS']}",
        "ssh_key": server["SERVER_KEY"],
        "known_hosts": server["SERVER_KNOWN_HOSTS"],  # server.sh's ssh accepted the new server's key
        "domains": [DOMAIN],
        "acme": {"directory": server["ACME_DIRECTORY"], "email": "ops@example.com", "ca_bundle": server["ACME_CA"]},
        "package_cache": {"apt": server["APT_PROXY"], "pip": server["PIP_INDEX"]},
        **deploy_settings,
    }
    (root / "deploy.yaml").write_text(yaml.safe_dump(deploy, sort_keys=False))
    return root


@pytest.fixture(scope="session")
def project(server, tmp_path_factory) -> Path:
    """A repository of the tests' own: the plain app in app/, devbox.yaml at devbox's defaults."""
    raw = _defaults()
    raw["app"] = {"folder": "app", "wsgi": "app:app"}
    # The plain app keeps its messages in its process, with no message queue
    # between instances: one instance, as it would be deployed. Few releases
    # kept, so that the tests deploy past them.
    return write_project(tmp_path_factory.mktemp("project"), server, PLAIN_APP, raw, instances=1, keep_releases=2)


def fab(project: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`fab ARGS` in the project, as a team runs it."""
    return subprocess.run([str(ROOT / ".venv" / "bin" / "fab"), *args], cwd=project, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def first_deploy(project) -> subprocess.CompletedProcess:
    """`fab deploy` to the fresh server: everything from nothing."""
    return fab(project, "deploy")


@pytest.fixture(scope="session")
def deployed(first_deploy):
    """The project is live on the server (the first deploy succeeded)."""
    assert first_deploy.returncode == 0, first_deploy.stdout[-3000:] + first_deploy.stderr[-3000:]
    return first_deploy
