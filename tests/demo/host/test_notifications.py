"""The demo's notifications through the stack: stored, broadcast to every
connected client, refused when bad, and every redirect on the host port."""

import json
import queue
import shlex

import pytest

from tests.helpers import reloading, scratch_folder


def received(client, event):
    """A queue that collects every ``event`` the client receives."""
    inbox = queue.Queue()
    client.on(event, inbox.put)
    return inbox


def test_index_lists_notifications_and_links_static_assets(http):
    page = http.get("/").text
    for asset in ("/static/app.css", "/static/app.js", "/static/vendor/socket.io.min.js"):
        assert asset in page


def test_form_post_redirects_back_to_the_page_on_the_host_port(http, unique_text, base_url):
    response = http.post("/notifications", data={"text": unique_text})
    assert response.status_code == 303
    # Relative or absolute, the browser resolves it against the host port.
    assert response.headers["Location"] in ("/", f"{base_url}/")
    assert unique_text in http.get("/").text


@pytest.mark.parametrize("host_header", ["localhost:{host_port}", "localhost:{guest_port}", "127.0.0.1:{guest_port}"])
def test_absolute_redirects_point_at_the_host_port(http, settings, host_header):
    # Werkzeug makes the missing-slash redirect absolute, from the Host header.
    # Whatever port that names, the browser must be sent to the host port.
    host = host_header.format(**settings)
    response = http.get("/api/notifications", headers={"Host": host})
    assert response.status_code in (301, 308)
    hostname = host.split(":")[0]
    assert response.headers["Location"].startswith(f"http://{hostname}:{settings['host_port']}/")


def test_empty_and_oversized_text_get_a_clear_400(http):
    empty = http.post("/notifications", data={"text": "   "})
    assert empty.status_code == 400
    assert "empty" in empty.text
    long = http.post("/notifications", data={"text": "x" * 281})
    assert long.status_code == 400
    assert "the limit is 280" in long.text


def test_malformed_requests_get_4xx_not_5xx(http):
    assert http.get("/api/notifications/?after=banana").status_code == 400
    assert http.post("/notifications", data=b"\xff\xfe\x00",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code < 500
    assert http.post("/notifications", data="{", headers={"Content-Type": "application/json"}).status_code < 500
    assert http.delete("/").status_code == 405


def test_debugger_is_never_on(http):
    response = http.get("/api/notifications/?after=-1")
    assert response.status_code == 400
    assert "Werkzeug Debugger" not in response.text
    assert json.dumps(response.json())  # a JSON error, not a traceback page


def test_a_form_post_is_broadcast_to_connected_clients(socketio_client, http, unique_text):
    inboxes = [received(socketio_client(), "notification") for _ in range(3)]
    assert http.post("/notifications", data={"text": unique_text}).status_code == 303
    for inbox in inboxes:
        item = inbox.get(timeout=5)
        assert item["text"] == unique_text
        assert isinstance(item["id"], int)


def test_notify_event_is_stored_and_broadcast(socketio_client, http, unique_text):
    sender, listener = socketio_client(), socketio_client()
    inbox = received(listener, "notification")
    ack = sender.call("notify", {"text": unique_text}, timeout=5)
    assert ack["ok"] is True
    item = inbox.get(timeout=5)
    assert (item["id"], item["text"]) == (ack["id"], unique_text)
    after = http.get(f"/api/notifications/?after={ack['id'] - 1}").json()
    assert [n["text"] for n in after if n["id"] == ack["id"]] == [unique_text]


@pytest.mark.parametrize("payload", [None, "text", 5, {}, {"text": 5}, {"text": ""}, {"text": "x" * 281}])
def test_bad_notify_payloads_are_refused_and_the_connection_stays(socketio_client, payload, unique_text):
    client = socketio_client()
    ack = client.call("notify", payload, timeout=5)
    assert ack["ok"] is False and ack["error"]
    assert client.call("notify", {"text": unique_text}, timeout=5)["ok"] is True


def test_a_client_connected_before_a_reload_gets_what_is_posted_meanwhile(socketio_client, http, unique_text,
                                                                         guests, settings):
    # The message queue (REDIS_URL) carries the broadcast from the new worker
    # to this client, still attached to the retired one.
    client = socketio_client()
    seen = received(client, "notification")
    with reloading(guests, settings):
        assert http.post("/notifications", data={"text": unique_text}).status_code == 303
        assert seen.get(timeout=10)["text"] == unique_text
        assert client.call("echo", "during the reload", timeout=5) == "during the reload"


def test_posts_land_in_scratch_data_not_the_developers(http, guest, settings, unique_text):
    assert http.post("/notifications", data={"text": unique_text}).status_code == 303
    data, text = settings["paths"]["data"], shlex.quote(unique_text)

    def holds(folder):
        return guest.run(f"sudo grep -qF {text} {folder}/notifications.sqlite", hide=True, warn=True).ok

    assert (holds(scratch_folder(settings)), holds(data)) == (True, False)


def test_a_form_posted_from_another_sites_page_is_refused_and_not_stored(http, unique_text):
    response = http.post("/notifications", data={"text": unique_text},
                         headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert "came from a page on another site" in response.text
    assert unique_text not in http.get("/").text
