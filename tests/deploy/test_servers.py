"""`fab deploy` to a front and two app servers (deploy.yaml's app_servers), on
machines devbox never touched (tests/deploy/conftest.py's cluster): the roles
of the devbox's app guests, each machine's firewall letting in only what its
role needs, the secrets made on the front and shared, and releases switched
on every machine."""

from __future__ import annotations

import os
import socket

import pytest

from devbox import settings as devbox_settings
from tests.deploy.conftest import CLUSTER_DOMAIN, PLAIN_APP, _defaults, fab, write_project
from tests.deploy.test_deploy import https, ssh, under_load

APP_PORT = devbox_settings.SETTINGS["app_port"].default
# The project's devbox.yaml is devbox's defaults; DEVBOX_SERVER goes along to the servers.
SERVER = os.environ.get("DEVBOX_SERVER") or devbox_settings.SETTINGS["server"].default


@pytest.fixture(scope="session")
def cluster_project(cluster, tmp_path_factory):
    """The plain app, to be deployed to the front (server 2) and its two app servers."""
    raw = _defaults()
    raw["app"] = {"folder": "app", "wsgi": "app:app"}
    user = cluster["SERVER_USER"]
    return write_project(tmp_path_factory.mktemp("cluster"), cluster, PLAIN_APP, raw, server=f"{user}@{cluster['FRONT']}",
                         app_servers=[f"{user}@{address}" for address in cluster["APPS"]], domains=[CLUSTER_DOMAIN],
                         keep_releases=2)


@pytest.fixture(scope="session")
def cluster_deployed(cluster_project):
    """The first deploy to all three, from nothing, succeeded."""
    result = fab(cluster_project, "deploy")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def connects(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
        return True
    except OSError:
        return False


def live(cluster, address: str) -> str:
    return ssh(cluster, "readlink /srv/devbox/current", address).stdout.strip()


def test_the_front_serves_the_site_from_both_app_servers(cluster_deployed, cluster, pebble_root):
    print(cluster_deployed.stdout.strip().splitlines()[-1])  # its time, for the record
    answer = https(pebble_root, domain=CLUSTER_DOMAIN)
    assert answer.status_code == 200 and "<h1>Chat</h1>" in answer.text
    assert https(pebble_root, "/static/style.css", domain=CLUSTER_DOMAIN).status_code == 200
    # Each machine runs its role only: nginx and Redis on the front, instance K on app server K.
    front = ssh(cluster, "systemctl is-active nginx redis-server; systemctl list-units --no-legend 'devbox@*'",
                cluster["FRONT"]).stdout.split()
    assert front == ["active", "active"], front
    for k, address in enumerate(cluster["APPS"], 1):
        states = ssh(cluster, f"systemctl is-active devbox@{k} nginx redis-server", address).stdout.split()
        assert states == ["active", "inactive", "inactive"], (address, states)
    # Both instances answer through the front's nginx, each on its own app server.
    for k in (1, 2):
        health = ssh(cluster, f"curl -sk --resolve {CLUSTER_DOMAIN}:443:127.0.0.1 "
                              f"https://{CLUSTER_DOMAIN}/_devbox/instances/{k}/health", cluster["FRONT"]).stdout
        assert '"status": "ok"' in health, health
    # Every machine is on the same release.
    assert len({live(cluster, address) for address in (cluster["FRONT"], *cluster["APPS"])}) == 1


def test_only_the_front_reaches_the_app_servers_and_only_they_reach_its_redis(cluster_deployed, cluster):
    front, apps = cluster["FRONT"], cluster["APPS"]
    # From elsewhere (the host): the site's ports on the front, nothing else anywhere.
    assert [connects(front, port) for port in (80, 443, 6379)] == [True, True, False]
    assert [connects(address, port) for address in apps for port in (80, 443, APP_PORT)] == [False] * 6
    for address in apps:
        # In the app server's protocol (HTTP, or uwsgi's), as the front's nginx asks.
        answer = ssh(cluster, f"cd /srv/devbox/current && python3 -m devbox.guest.ask_app {SERVER} "
                              f"{address}:{APP_PORT} /_devbox/health", front).stdout
        assert '"status": "ok"' in answer, (address, answer)
    # Each app server reaches the front's Redis with the password the front made, and shares its SECRET_KEY.
    secrets = []
    for address in apps:
        env = ssh(cluster, "cat /etc/devbox/secret.env", address).stdout
        secrets.append(env)
        url = next(line.split("=", 1)[1] for line in env.splitlines() if line.startswith("REDIS_URL="))
        password, where = url.removeprefix("redis://:").split("@")
        host, port = where.split("/")[0].split(":")
        assert host == front
        reply = ssh(cluster, f"exec 3<>/dev/tcp/{host}/{port}; printf 'AUTH {password}\\r\\nPING\\r\\nQUIT\\r\\n' >&3; "
                             "timeout 5 cat <&3", address).stdout.split()
        assert reply[:2] == ["+OK", "+PONG"], reply
    assert secrets[0] == secrets[1]
    # Redis without the password says no, from an app server too.
    reply = ssh(cluster, f"exec 3<>/dev/tcp/{front}/6379; printf 'PING\\r\\nQUIT\\r\\n' >&3; timeout 5 cat <&3",
                apps[0]).stdout
    assert reply.startswith("-NOAUTH"), reply


def test_a_redeploy_under_load_fails_no_request_and_rollback_goes_back_everywhere(cluster_deployed, cluster_project,
                                                                                 cluster, pebble_root):
    template = cluster_project / "app" / "templates" / "index.html"
    original = template.read_text()
    template.write_text(original.replace("<h1>Chat</h1>", "<h1>Chat, release two</h1>"))
    try:
        redeploy, seconds, count, failures = under_load(pebble_root, lambda: fab(cluster_project, "deploy"),
                                                        CLUSTER_DOMAIN)
    finally:
        template.write_text(original)
    assert redeploy.returncode == 0, redeploy.stdout[-3000:] + redeploy.stderr[-3000:]
    assert count > 20 and failures == [], f"{len(failures)} of {count} requests failed: {failures[:5]}"
    # Both app servers run the new release (each request lands on either).
    for _ in range(10):
        assert "<h1>Chat, release two</h1>" in https(pebble_root, domain=CLUSTER_DOMAIN).text
    back = fab(cluster_project, "rollback")
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    for _ in range(10):
        assert "<h1>Chat</h1>" in https(pebble_root, domain=CLUSTER_DOMAIN).text
    assert len({live(cluster, address) for address in (cluster["FRONT"], *cluster["APPS"])}) == 1
    print(f"redeploy to 3 servers {seconds:.1f}s, {count} requests, 0 failed")


def test_a_release_that_fails_on_an_app_server_leaves_every_machine_on_the_live_one(cluster_deployed, cluster_project,
                                                                                    cluster, pebble_root):
    machines = (cluster["FRONT"], *cluster["APPS"])
    before = [live(cluster, address) for address in machines]
    module = cluster_project / "app" / "app.py"
    original = module.read_text()
    module.write_text(original + "\nthis line is no Python\n")
    try:
        result, _, count, failures = under_load(pebble_root, lambda: fab(cluster_project, "deploy"), CLUSTER_DOMAIN)
    finally:
        module.write_text(original)
    assert result.returncode == 1 and "failed to load: SyntaxError" in result.stderr
    assert count > 20 and failures == [], f"{len(failures)} of {count} requests failed: {failures[:5]}"
    assert "failed (above) and is gone" in result.stderr.strip().splitlines()[-1], result.stderr
    assert [live(cluster, address) for address in machines] == before
    for _ in range(10):
        assert "<h1>Chat</h1>" in https(pebble_root, domain=CLUSTER_DOMAIN).text


def test_check_shows_each_machine_in_its_role(cluster_deployed, cluster_project, cluster):
    result = fab(cluster_project, "deploy", "--check", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    user, (app1, app2) = cluster["SERVER_USER"], cluster["APPS"]
    parts = result.stdout.split("== ")[1:]
    assert [part.splitlines()[0] for part in parts] == [
        f"{user}@{cluster['FRONT']} (front)", f"{user}@{app1} (app)", f"{user}@{app2} (app)"]
    assert f"Redis (6379) from {app1} {app2}, nothing else" in parts[0] and "certificate: kept" in parts[0]
    for part in parts[1:]:
        assert f"{APP_PORT} from the front ({cluster['FRONT']}), nothing else" in part
        assert "certificate" not in part and "files: unchanged" in part
