"""A web page on another site must not reach the app: only the devbox's own
names reach it (DNS rebinding), and forwarding headers are nginx's, never a
client's (engine.io builds the origin it accepts from them)."""

import pytest
import requests
import websocket

from tests.helpers import count_in_app_logs
from tests.stack.conftest import engineio_socket

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


@pytest.mark.parametrize("host", ["evil.example:{host_port}", "localhost.evil.example:{host_port}",
                                  "127.0.0.1.nip.io:{host_port}", "localhost:{app_port}", "localhost",
                                  "LOCALHOST:{host_port}x"])
def test_a_foreign_host_is_refused_before_the_app(http, guests, settings, host):
    marker = f"/?probe-{abs(hash(host))}"
    response = http.get(marker, headers={"Host": host.format(**settings)})
    assert response.status_code == 421
    assert 'id="devbox-misdirected"' in response.text and "allowed_hosts" in response.text
    assert count_in_app_logs(guests, settings, marker) == 0


@pytest.mark.parametrize("host", ["localhost:{host_port}", "127.0.0.1:{host_port}", "[::1]:{host_port}",
                                  "LocalHost:{host_port}", "localhost:{guest_port}"])
def test_the_devbox_names_are_served(http, settings, host):
    assert http.get("/_devbox/health", headers={"Host": host.format(**settings)}).status_code == 200


def test_dns_rebinding_gets_no_socketio_session(base_url, settings):
    # A page at evil.example:8001 whose name now resolves to 127.0.0.1: Host and
    # Origin agree, so only the Host check stands between it and a session.
    evil = f"evil.example:{settings['host_port']}"
    response = requests.get(base_url + HANDSHAKE, headers={"Host": evil, "Origin": f"http://{evil}"}, timeout=5)
    assert response.status_code == 421
    assert '"sid"' not in response.text


@pytest.mark.parametrize("header", ["X-Forwarded-Host", "Forwarded"])
def test_client_forwarding_headers_do_not_move_the_accepted_origin(base_url, header):
    value = "evil.example" if header == "X-Forwarded-Host" else "host=evil.example;proto=http"
    response = requests.get(base_url + HANDSHAKE, headers={header: value, "Origin": "http://evil.example"},
                            timeout=5)
    assert response.status_code == 400
    assert "Not an accepted origin" in response.text
    with pytest.raises(websocket.WebSocketBadStatusException):
        engineio_socket(base_url, origin="http://evil.example", header={header: value})


def test_a_spoofed_forwarded_proto_does_not_move_it_either(base_url, settings):
    response = requests.get(base_url + HANDSHAKE, timeout=5,
                            headers={"X-Forwarded-Proto": "https", "Origin": f"https://localhost:{settings['host_port']}"})
    assert response.status_code == 400
