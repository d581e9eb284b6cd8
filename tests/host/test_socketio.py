"""Socket.IO over WebSocket through nginx on the forwarded port: broadcasts
arrive, the browser's Origin is accepted and foreign ones refused, and a
malformed packet hurts neither the connection nor the worker."""

import json
import queue

import pytest
import socketio
import websocket


def received(client, event):
    """A queue that collects every ``event`` the client receives."""
    inbox = queue.Queue()
    client.on(event, inbox.put)
    return inbox


def test_connection_is_a_websocket_through_nginx(connect_client):
    client = connect_client()
    assert client.transport() == "websocket"
    assert client.call("echo", {"n": 1}, timeout=5) == {"n": 1}


def test_a_form_post_is_broadcast_to_connected_clients(connect_client, http, unique_text):
    inboxes = [received(connect_client(), "notification") for _ in range(3)]
    assert http.post("/notifications", data={"text": unique_text}).status_code == 303
    for inbox in inboxes:
        item = inbox.get(timeout=5)
        assert item["text"] == unique_text
        assert isinstance(item["id"], int)


def test_notify_event_is_stored_and_broadcast(connect_client, http, unique_text):
    sender, listener = connect_client(), connect_client()
    inbox = received(listener, "notification")
    ack = sender.call("notify", {"text": unique_text}, timeout=5)
    assert ack["ok"] is True
    item = inbox.get(timeout=5)
    assert (item["id"], item["text"]) == (ack["id"], unique_text)
    after = http.get(f"/api/notifications/?after={ack['id'] - 1}").json()
    assert [n["text"] for n in after if n["id"] == ack["id"]] == [unique_text]


@pytest.mark.parametrize("payload", [None, "text", 5, {}, {"text": 5}, {"text": ""}, {"text": "x" * 281}])
def test_bad_notify_payloads_are_refused_and_the_connection_stays(connect_client, payload, unique_text):
    client = connect_client()
    ack = client.call("notify", payload, timeout=5)
    assert ack["ok"] is False and ack["error"]
    assert client.call("notify", {"text": unique_text}, timeout=5)["ok"] is True


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_the_browser_origin_is_accepted_on_either_host_name(connect_client, settings, host):
    client = connect_client(url=f"http://{host}:{settings['host_port']}")
    assert client.connected


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:{guest_port}", "null"])
def test_foreign_origins_are_refused(base_url, settings, origin):
    client = socketio.Client(reconnection=False, websocket_extra_options={"origin": origin.format(**settings)})
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(base_url, transports=["websocket"], wait_timeout=5)
    assert not client.connected


def engineio_socket(base_url):
    """A raw WebSocket speaking Engine.IO v4 / Socket.IO v5 by hand, already joined to '/'."""
    ws = websocket.create_connection(
        base_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket",
        origin=base_url, timeout=5)
    assert ws.recv().startswith("0{")          # Engine.IO open
    ws.send("40")                              # Socket.IO connect to "/"
    assert ws.recv().startswith("40{")
    return ws


def ack_for(ws, packet_id):
    """Read frames (answering pings) until the ack with ``packet_id`` comes."""
    while True:
        frame = ws.recv()
        if frame == "2":
            ws.send("3")
        elif frame.startswith(f"43{packet_id}["):
            return json.loads(frame[len(f"43{packet_id}"):])


@pytest.mark.parametrize("garbage", ['42["echo"', '42{"not": "a list"}', "4ZZ", "42[]", '42[5,"x"]', "4", "9"])
def test_malformed_packets_keep_the_connection_and_the_worker(base_url, http, garbage):
    boot_id = http.get("/healthz").json()["boot_id"]
    ws = engineio_socket(base_url)
    try:
        ws.send(garbage)
        ws.send('421["echo","still here"]')
        assert ack_for(ws, 1) == ["still here"]
    finally:
        ws.close()
    assert http.get("/healthz").json()["boot_id"] == boot_id


def test_a_frame_that_is_not_engineio_closes_only_that_connection(base_url, http, connect_client):
    # Not even an Engine.IO packet: python-engineio drops that one connection.
    # Everybody else, and the worker, carry on.
    bystander = connect_client()
    boot_id = http.get("/healthz").json()["boot_id"]
    ws = engineio_socket(base_url)
    ws.send("\x00\x01")
    with pytest.raises((websocket.WebSocketException, OSError)):
        ack_for(ws, 1)
    ws.close()
    assert bystander.call("echo", "still here", timeout=5) == "still here"
    assert http.get("/healthz").json()["boot_id"] == boot_id
