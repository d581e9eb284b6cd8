"""`fab reload`: edited code answers through the forwarded port, no request
fails meanwhile, and connected Socket.IO clients keep getting broadcasts."""

import threading
import uuid

import requests

from app import source_version
from devbox.guest import wait_for
from devbox.settings import ROOT
from tests.host.helpers import fab

PROBE_FILE = "app/health.py"


def add_probe(edit):
    """Change app code on the host (a unique comment); return the version the guest must report."""
    edit(PROBE_FILE, (ROOT / PROBE_FILE).read_text() + f"\n# reload probe {uuid.uuid4().hex}\n")
    return source_version()


def test_edited_code_answers_after_fab_reload(http, edit):
    before = http.get("/healthz").json()
    expected = add_probe(edit)
    assert expected != before["version"]
    result = fab("reload")
    assert result.returncode == 0, result.stderr
    assert "new code answering at http://localhost:" in result.stdout
    after = http.get("/healthz").json()
    assert (after["version"], after["boot_id"] != before["boot_id"]) == (expected, True), result.stdout


class Load(threading.Thread):
    """Requests through the forwarded port in a loop until stopped; keeps every failure."""

    def __init__(self, base_url):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.stop = threading.Event()
        self.done = 0
        self.failures = []

    def run(self):
        with requests.Session() as session:
            while not self.stop.is_set():
                for path in ("/", "/healthz", "/api/notifications/?after=0"):
                    try:
                        response = session.get(self.base_url + path, timeout=10)
                        if response.status_code != 200:
                            self.failures.append((path, response.status_code))
                    except requests.RequestException as exc:
                        self.failures.append((path, repr(exc)))
                    self.done += 1


def test_no_request_fails_during_a_reload(base_url, edit):
    add_probe(edit)
    load = Load(base_url)
    load.start()
    try:
        result = fab("reload")
    finally:
        load.stop.set()
        load.join()
    assert result.returncode == 0, result.stderr
    assert load.done >= 30  # the load really ran across the reload
    assert load.failures == []


def test_a_client_connected_before_a_reload_gets_what_is_posted_after(connect_client, http, edit, unique_text):
    client = connect_client()
    seen = []
    client.on("notification", seen.append)
    add_probe(edit)
    assert fab("reload").returncode == 0
    assert http.post("/notifications", data={"text": unique_text}).status_code == 303
    assert wait_for(lambda: [n for n in seen if n["text"] == unique_text], timeout=10)
    assert client.call("echo", "after reload", timeout=5) == "after reload"


def test_an_invalid_nginx_config_is_refused_and_the_old_one_keeps_serving(http, edit):
    template = "provision/templates/nginx-site.conf.j2"
    edit(template, (ROOT / template).read_text().replace("proxy_buffering off;", "proxy_buffering sideways;"))
    result = fab("reload")
    assert result.returncode != 0
    assert "proxy_buffering" in result.stderr  # nginx's own message is shown
    assert "the nginx config is invalid" in result.stderr
    assert http.get("/healthz").status_code == 200
    assert http.get("/static/app.css").status_code == 200


def test_back_to_back_reloads_leave_no_worker_on_old_code(connect_client, http, edit, guest, settings):
    # Connected clients keep each retired worker alive for a while; reloads
    # that come faster than that must still end with one worker, on new code.
    clients = [connect_client() for _ in range(3)]
    for _ in range(3):
        expected = add_probe(edit)
        assert fab("reload").returncode == 0
    for client in clients:
        client.disconnect()  # retired workers may now finish at once

    def workers():
        master = guest.run(f"systemctl show -p MainPID --value {settings['name']}", hide=True).stdout.strip()
        return guest.run(f"ps -o pid= --ppid {master}", hide=True, warn=True).stdout.split()

    assert wait_for(lambda: len(workers()) == 1, timeout=45), workers()
    assert {http.get("/healthz").json()["version"] for _ in range(10)} == {expected}
