"""Several app instances behind nginx, for any app: every browser keeps to one
instance by nginx's cookie, so Socket.IO sessions hold over long-polling and
WebSockets alike; the clients of an instance that dies move to another; `fab
reload` brings every instance onto the new code with no request failing.
(Broadcasts between instances are the app's part, through REDIS_URL: the
demo's tests show them.)"""

import collections
import json
import time
import uuid

import requests
import websocket

from devbox.host import guest as devbox_guest
from devbox.host.reload import expected_version
from devbox.settings import base_url as url_of
from tests.helpers import Load, fab, main_pid, session_on, wait_for_app
from tests.stack.conftest import round_trip

POLLING = "/socket.io/?EIO=4&transport=polling"


class PollingClient:
    """Socket.IO over Engine.IO long-polling only, as a browser without WebSockets
    speaks it: every request carries the session id, so it must reach the
    instance that made the session."""

    def __init__(self, base_url, session=None):
        self.base_url, self.http = base_url, session or requests.Session()
        self.answers = []
        opened = self.get(POLLING)
        assert opened.startswith("0{"), opened
        self.sid = json.loads(opened[1:])["sid"]
        self.post("40")
        assert self.get(self.url).startswith("40{")

    @property
    def url(self):
        return f"{POLLING}&sid={self.sid}"

    def get(self, path):
        response = self.http.get(self.base_url + path, timeout=10)
        self.answers.append(response.status_code)
        assert response.status_code == 200, (response.status_code, response.text[:200])
        return response.text

    def post(self, body):
        response = self.http.post(self.base_url + self.url, data=body, timeout=10)
        self.answers.append(response.status_code)
        assert (response.status_code, response.text.lower()) == (200, "ok"), response.text[:200]

    def round_trip(self):
        """The same probe as the WebSocket tests': a namespace the app lacks is answered with an error."""
        namespace = f"/devbox-probe-{uuid.uuid4().hex[:8]}"
        self.post(f"40{namespace},")
        while True:
            for packet in self.get(self.url).split("\x1e"):
                if packet == "2":
                    self.post("3")
                elif packet.startswith(f"44{namespace},"):
                    return packet

    def instance(self):
        return self.http.get(self.base_url + "/_devbox/health", timeout=10).json()["instance"]


def test_new_browsers_spread_over_every_instance_and_each_keeps_to_its_own(scaled, base_url):
    seen = collections.Counter()
    for _ in range(60):
        with requests.Session() as browser:
            instances = {browser.get(base_url + "/_devbox/health", timeout=10).json()["instance"] for _ in range(4)}
            assert len(instances) == 1, instances  # the cookie keeps it on one
            seen.update(instances)
    print(f"60 new browsers over {scaled['instances']} instances: {dict(sorted(seen.items()))}")
    assert set(seen) == set(range(1, scaled["instances"] + 1)), seen
    assert min(seen.values()) >= 5, seen  # random, but no instance left nearly idle


def test_polling_only_clients_keep_their_sessions_across_instances(scaled, base_url):
    clients = [PollingClient(base_url) for _ in range(40)]
    for _ in range(3):
        for client in clients:
            assert client.round_trip()
    answers = collections.Counter(status for client in clients for status in client.answers)
    assert answers == {200: sum(answers.values())}, answers  # never "Invalid session" (400)
    assert {client.instance() for client in clients} == set(range(1, scaled["instances"] + 1))


def test_websocket_only_clients_work_on_every_instance(scaled, base_url, connect_socket):
    for instance in range(1, scaled["instances"] + 1):
        with session_on(base_url, instance) as browser:
            cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
            ws = connect_socket(header=[f"Cookie: {cookie}"])
            assert round_trip(ws)
    # And with no cookie at all, as a WebSocket-only client opens: wherever it lands.
    assert all(round_trip(connect_socket()) for _ in range(10))


def new_session_elsewhere(base_url, browser):
    """A new polling session for ``browser`` on an instance other than 2; False while a
    request meets instance 2 dying, so the client tries again, as Socket.IO's client
    does: a POST that its listener still took (nginx does not resend a POST), or an
    answer cut off mid-body when the instance dies after nginx passed on its headers
    (nginx cannot retry what it has begun to send)."""
    try:
        return PollingClient(base_url, browser).instance() != 2
    except (AssertionError, requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        return False


def test_killing_an_instance_moves_its_clients_to_another(scaled, base_url, guests):
    browser = session_on(base_url, 2)
    client = PollingClient(base_url, browser)
    assert client.round_trip()
    before = devbox_guest.health(base_url, path=devbox_guest.instance_path(2))
    with Load(base_url, ["/"], cookies=browser.cookies) as load:
        time.sleep(0.2)
        guests.of_instance(2).run(f"sudo kill -9 {main_pid(guests, scaled, 2)}", hide=True)
        killed = time.monotonic()
        # Its session died with it; a new one, through the same cookie, lands on another instance.
        moved = devbox_guest.wait_for(lambda: new_session_elsewhere(base_url, browser), timeout=5)
        time.sleep(0.5)
    assert moved
    after = [answer for answer, began in zip(load.answers, load.started) if began > killed]
    assert len(after) > 5 and [a for a in after if a[1] != 200] == [], after[:5]  # never the friendly page
    wait_for_app(scaled)
    assert devbox_guest.health(base_url, path=devbox_guest.instance_path(2))["boot_id"] != before["boot_id"]


def test_fab_reload_brings_every_instance_onto_the_new_code_with_no_request_failing(scaled, base_url, add_probe):
    browsers = [session_on(base_url, i) for i in range(1, scaled["instances"] + 1)]
    for rolling in (False, True):
        add_probe()
        expected = expected_version(scaled)
        loads = [Load(base_url, ["/", "/_devbox/health"], cookies=b.cookies) for b in browsers]
        for load in loads:
            load.start()
        result = fab("reload", *(["--rolling"] if rolling else []))
        for load in loads:
            load.stop.set()
            load.join()
        assert result.returncode == 0, result.stderr
        assert f", all {scaled['instances']} instances)" in result.stdout
        for i in range(1, scaled["instances"] + 1):  # fab reload returned: each one is on the new code already
            assert devbox_guest.health(url_of(scaled), path=devbox_guest.instance_path(i))["version"] == expected
        assert all(len(load.answers) >= 5 for load in loads)
        assert [a for load in loads for a in load.answers if a[1] != 200] == []
