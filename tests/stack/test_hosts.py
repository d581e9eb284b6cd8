"""A web page on another site must not reach the app: only the devbox's own
names reach it (DNS rebinding), and forwarding headers are nginx's, never a
client's (engine.io builds the origin it accepts from them)."""

import pytest
import requests
import websocket

from devbox.host.tls import client_ca
from tests.helpers import count_in_app_logs
from tests.stack.conftest import engineio_socket

pytestmark = pytest.mark.both_schemes

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


@pytest.fixture
def ports(settings, base_url):
    """The settings' ports, with host_port the one this test's scheme uses."""
    return {**settings, "host_port": int(base_url.rsplit(":", 1)[1])}


def get(base_url, path, **kwargs):
    return requests.get(base_url + path, timeout=5, verify=client_ca(base_url), **kwargs)


@pytest.mark.parametrize("host", ["evil.example:{host_port}", "localhost.evil.example:{host_port}",
                                  "127.0.0.1.nip.io:{host_port}", "localhost:{app_port}", "localhost",
                                  "LOCALHOST:{host_port}x"])
def test_a_foreign_host_is_refused_before_the_app(http, guests, settings, ports, host):
    marker = f"/?probe-{abs(hash(host))}"
    response = http.get(marker, headers={"Host": host.format(**ports)})
    assert response.status_code == 421
    assert 'id="devbox-misdirected"' in response.text and "allowed_hosts" in response.text
    assert count_in_app_logs(guests, settings, marker) == 0


@pytest.mark.parametrize("host", ["localhost:{host_port}", "127.0.0.1:{host_port}", "[::1]:{host_port}",
                                  "LocalHost:{host_port}", "localhost:{guest_port}"])
def test_the_devbox_names_are_served(http, ports, host):
    assert http.get("/_devbox/health", headers={"Host": host.format(**ports)}).status_code == 200


def test_dns_rebinding_gets_no_socketio_session(base_url, ports):
    # A page at evil.example:8001 whose name now resolves to 127.0.0.1: Host and
    # Origin agree, so only the Host check stands between it and a session.
    evil = f"evil.example:{ports['host_port']}"
    scheme = base_url.split("://")[0]
    response = get(base_url, HANDSHAKE, headers={"Host": evil, "Origin": f"{scheme}://{evil}"})
    assert response.status_code == 421
    assert '"sid"' not in response.text


@pytest.mark.parametrize("header", ["X-Forwarded-Host", "Forwarded"])
def test_client_forwarding_headers_do_not_move_the_accepted_origin(base_url, header):
    value = "evil.example" if header == "X-Forwarded-Host" else "host=evil.example;proto=http"
    response = get(base_url, HANDSHAKE, headers={header: value, "Origin": "http://evil.example"})
    assert response.status_code == 400
    assert "Not an accepted origin" in response.text
    with pytest.raises(websocket.WebSocketBadStatusException):
        engineio_socket(base_url, origin="http://evil.example", header={header: value})


def test_a_spoofed_forwarded_proto_does_not_move_it_either(base_url, ports):
    # Over HTTP a client claims HTTPS (over HTTPS, HTTP): the origin of the other scheme stays foreign.
    other = "http" if base_url.startswith("https") else "https"
    response = get(base_url, HANDSHAKE, headers={"X-Forwarded-Proto": other,
                                                 "Origin": f"{other}://localhost:{ports['host_port']}"})
    assert response.status_code == 400
