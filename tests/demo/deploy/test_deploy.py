"""The demo deployed with `fab deploy` to the deploy tests' server (a Debian
machine devbox never touched: tests/deploy/conftest.py), with its devbox.yaml
as it is and two instances, and to a front with two app servers: a
notification reaches every client, whichever instance (and machine) it is on,
through Redis, over HTTPS. Run by ./setup.sh test's deploy stage
(`@pytest.mark.deploy`)."""

import queue
import time

import pytest
import requests
import yaml

from devbox.settings import ROOT
from tests.deploy.conftest import (CLUSTER_DOMAIN, DOMAIN, cluster, fab, pebble_root, resolve_domain,  # noqa: F401
                                   server, write_project)
from tests.deploy.test_deploy import socketio_client, ssh


@pytest.mark.deploy
def test_the_demo_deploys_and_broadcasts_across_its_instances(server, pebble_root, tmp_path):
    raw = yaml.safe_load((ROOT / "devbox.yaml").read_text())
    project = write_project(tmp_path, server, ROOT / "app", raw, instances=2)
    deployed = fab(project, "deploy")
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    assert ssh(server, "systemctl is-active devbox@1 devbox@2").stdout.split() == ["active", "active"]
    broadcast_reaches_every_client(pebble_root, DOMAIN)


@pytest.mark.deploy
def test_the_demo_on_a_front_and_two_app_servers_broadcasts_across_them(cluster, pebble_root, tmp_path):
    raw = yaml.safe_load((ROOT / "devbox.yaml").read_text())
    user = cluster["SERVER_USER"]
    project = write_project(tmp_path, cluster, ROOT / "app", raw, server=f"{user}@{cluster['FRONT']}",
                            app_servers=[f"{user}@{address}" for address in cluster["APPS"]], domains=[CLUSTER_DOMAIN])
    deployed = fab(project, "deploy")
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    broadcast_reaches_every_client(pebble_root, CLUSTER_DOMAIN)


def broadcast_reaches_every_client(pebble_root, domain):
    # New clients land on either instance (nginx's sticky cookie, drawn at random).
    clients = [socketio_client(pebble_root, domain) for _ in range(10)]
    try:
        inboxes = [queue.Queue() for _ in clients]
        for client, inbox in zip(clients, inboxes):
            client.on("notification", inbox.put)
        # Each instance subscribes to Redis once its first client is there:
        # broadcasts until every client has had one (tests/demo/host/test_instances.py).
        for attempt in range(40):
            assert clients[0].call("notify", {"text": f"warm-up {attempt}"}, timeout=5)["ok"] is True
            time.sleep(0.25)
            if all(not inbox.empty() for inbox in inboxes):
                break
        for inbox in inboxes:
            while not inbox.empty():
                inbox.get()
        session = requests.Session()
        session.trust_env = False
        posted = session.post(f"https://{domain}/notifications", data={"text": "hello from production"},
                              verify=str(pebble_root), timeout=10)
        assert posted.status_code == 200 and "hello from production" in posted.text
        for inbox in inboxes:
            assert inbox.get(timeout=10)["text"] == "hello from production"
    finally:
        for client in clients:
            client.disconnect()
