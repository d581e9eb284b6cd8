"""Socket.IO through nginx on the forwarded port, for any Flask-SocketIO app:
WebSocket upgrade and long-polling both work, the browser's Origin is accepted
and foreign ones refused, and malformed packets hurt neither the connection nor
the worker. Spoken as raw Engine.IO frames, with no event of the app's."""

import pytest
import requests
import websocket

from devbox.host.tls import client_ca
from tests.stack.conftest import closed, engineio_socket, round_trip

pytestmark = pytest.mark.both_schemes


def test_a_websocket_upgrade_goes_through_nginx(connect_socket):
    ws = connect_socket()
    assert round_trip(ws).startswith("44/devbox-probe-")


def test_long_polling_goes_through_nginx(base_url):
    with requests.Session() as session:
        session.verify = client_ca(base_url)
        opened = session.get(f"{base_url}/socket.io/?EIO=4&transport=polling", timeout=5)
        assert opened.status_code == 200 and opened.text.startswith("0{")
        sid = opened.text.split('"sid":"', 1)[1].split('"', 1)[0]
        joined = session.post(f"{base_url}/socket.io/?EIO=4&transport=polling&sid={sid}", data="40", timeout=5)
        assert joined.text == "OK"
        assert session.get(f"{base_url}/socket.io/?EIO=4&transport=polling&sid={sid}", timeout=5).text.startswith("40{")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_the_browser_origin_is_accepted_on_either_host_name(base_url, host):
    url = base_url.replace("localhost", host)
    ws = engineio_socket(url, origin=url)
    ws.close()


@pytest.mark.parametrize("origin", ["{scheme}://evil.example", "{scheme}://localhost:{guest_port}", "null",
                                    "{other_scheme}://localhost:{port}"])
def test_foreign_origins_are_refused(base_url, settings, origin):
    scheme, port = base_url.split("://")[0], base_url.rsplit(":", 1)[1]
    other_scheme = "https" if scheme == "http" else "http"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        engineio_socket(base_url, origin=origin.format(scheme=scheme, other_scheme=other_scheme, port=port, **settings))
    assert refused.value.status_code == 400


@pytest.mark.parametrize("garbage", ['42["echo"', '42{"not": "a list"}', "4ZZ", "42[]", '42[5,"x"]', "4", "9"])
def test_malformed_packets_keep_the_connection_and_the_worker(connect_socket, http, garbage):
    boot_id = http.get("/_devbox/health").json()["boot_id"]
    ws = connect_socket()
    ws.send(garbage)
    assert round_trip(ws)
    assert http.get("/_devbox/health").json()["boot_id"] == boot_id


def test_a_frame_that_is_not_engineio_is_dropped_with_only_that_connection_at_stake(connect_socket, http, settings):
    # Not even an Engine.IO packet. Everybody else, and the worker, carry on.
    bystander = connect_socket()
    boot_id = http.get("/_devbox/health").json()["boot_id"]
    ws = connect_socket()
    ws.send("\x00\x01")
    if settings["server"] == "uwsgi":
        # uWSGI does not tell python-engineio a text frame from a binary one, and
        # a frame that begins with a control byte passes for binary data, which
        # Socket.IO drops: the connection carries on.
        assert round_trip(ws)
    else:  # python-engineio drops the connection
        assert closed(ws)
    assert round_trip(bystander)
    assert http.get("/_devbox/health").json()["boot_id"] == boot_id
