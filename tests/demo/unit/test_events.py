import pytest

import notifications.events
from notifications.extensions import socketio

GOOD = {"text": "hi there"}


def notifications_in(received):
    return [e["args"][0] for e in received if e["name"] == "notification"]


def test_notify_acks_and_broadcasts(socket_client, other_socket_client, stored):
    other_socket_client.get_received()
    ack = socket_client.emit("notify", GOOD, callback=True)
    assert ack == {"ok": True, "id": 1}
    assert stored() == ["hi there"]
    [item] = notifications_in(other_socket_client.get_received())
    assert (item["id"], item["text"]) == (1, "hi there")
    # The sender gets the broadcast too; the page de-duplicates by id.
    assert [n["id"] for n in notifications_in(socket_client.get_received())] == [1]


def test_notify_without_ack_still_broadcasts(socket_client, other_socket_client, stored):
    socket_client.emit("notify", GOOD)
    assert stored() == ["hi there"]
    assert len(notifications_in(other_socket_client.get_received())) == 1


@pytest.mark.parametrize(
    "payload, error",
    [
        (None, 'Send an object like {"text": "your notification"}.'),
        ("str", 'Send an object like {"text": "your notification"}.'),
        (5, 'Send an object like {"text": "your notification"}.'),
        ([GOOD], 'Send an object like {"text": "your notification"}.'),
        ({}, 'Send an object like {"text": "your notification"}.'),
        ({"text": 5}, "Notification text must be a string."),
        ({"text": None}, "Notification text must be a string."),
        ({"text": ""}, "Notification text is empty; type something to send."),
        ({"text": "   "}, "Notification text is empty; type something to send."),
        ({"text": "x" * 281}, "Notification text is 281 characters; the limit is 280."),
    ],
)
def test_bad_notify_acks_error_and_connection_lives(socket_client, other_socket_client, stored, payload, error):
    other_socket_client.get_received()
    assert socket_client.emit("notify", payload, callback=True) == {"ok": False, "error": error}
    assert stored() == []
    assert notifications_in(other_socket_client.get_received()) == []
    assert socket_client.is_connected()
    assert socket_client.emit("notify", GOOD, callback=True) == {"ok": True, "id": 1}


def test_notify_with_no_payload(socket_client):
    assert socket_client.emit("notify", callback=True)["ok"] is False
    assert socket_client.emit("notify", GOOD, callback=True)["ok"] is True


def test_handler_crash_is_acked_and_logged(monkeypatch, socket_client, caplog):
    def boom(text):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(notifications.events, "create_notification", boom)
    ack = socket_client.emit("notify", GOOD, callback=True)
    assert ack == {"ok": False, "error": "The server could not handle this event; the details are in the app log."}
    assert "disk on fire" in caplog.text
    assert socket_client.is_connected()
    monkeypatch.undo()
    assert socket_client.emit("notify", GOOD, callback=True)["ok"] is True


@pytest.mark.parametrize("payload", [{"a": [1, 2, {"b": None}]}, [1, "two"], "text", 42, True, "ünï ✓"])
def test_echo_round_trips(socket_client, payload):
    assert socket_client.emit("echo", payload, callback=True) == payload


def test_echo_many_args(socket_client):
    assert socket_client.emit("echo", 1, 2, callback=True) == [1, 2]


HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


def test_same_origin_handshake_is_accepted(client):
    response = client.get(HANDSHAKE, headers={"Origin": "http://localhost"})
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("0{")


def test_same_origin_through_proxy_keeps_host_port(client):
    # nginx passes Host unchanged (port included) and says the scheme.
    headers = {"Host": "localhost:8001", "Origin": "https://localhost:8001", "X-Forwarded-Proto": "https"}
    assert client.get(HANDSHAKE, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "origin, host",
    [
        ("http://evil.example", "localhost"),
        ("http://localhost:9999", "localhost:8001"),
        ("https://localhost:8001", "localhost:8001"),  # https claimed, plain http arrived
        ("null", "localhost"),
    ],
)
def test_foreign_origin_is_refused(client, origin, host):
    response = client.get(HANDSHAKE, headers={"Origin": origin, "Host": host})
    assert response.status_code == 400
    assert "Not an accepted origin" in response.get_data(as_text=True)
