"""devbox's refresh hub as a real process on a unix socket, as nginx reaches it:
pages listening on the event stream get what the token holder sends, nobody
else can send, and nothing a client sends brings it down."""

import getpass
import json
import socket
import subprocess
import sys
import time

import pytest

from devbox.settings import ROOT

HUB = ROOT / "devbox" / "guest" / "refresh.py"
TOKEN = "t" * 43


def start_hub(tmp_path, user):
    """The hub on tmp_path/hub.sock, for connections of ``user`` alone; (socket path, process)."""
    path = tmp_path / "hub.sock"
    (tmp_path / "token").write_text(TOKEN + "\n")
    process = subprocess.Popen([sys.executable, str(HUB), str(path), str(tmp_path / "token"), user],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout.readline().startswith("devbox refresh hub listening on")
    return path, process


@pytest.fixture
def hub(tmp_path):
    """The hub running on tmp_path/hub.sock, for this test's user (as for nginx's in
    the guest); returns the socket path."""
    path, process = start_hub(tmp_path, getpass.getuser())
    yield path
    process.terminate()
    process.wait(timeout=5)


def test_only_its_user_may_connect(tmp_path):
    # In the guest, nginx's: another user's process (the app's) gets nothing.
    path, process = start_hub(tmp_path, "nobody")
    try:
        answer = send(path, b"GET /_devbox/events HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403 ") and b"only nginx may connect" in answer
        assert b"event-stream" not in answer
    finally:
        process.terminate()
        process.wait(timeout=5)


def send(path, raw: bytes) -> bytes:
    """One request as raw bytes; the whole answer once the hub closes the connection."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(raw)
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def post(path, body, token=TOKEN, target="/_devbox/refresh"):
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    answer = send(path, f"POST {target} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {len(data)}\r\n\r\n".encode() + data)
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def listen(path):
    """A page's event stream: (a connected socket that has read the stream's
    head, the hub's position in its hello event)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(str(path))
    s.sendall(b"GET /_devbox/events HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b""
    while not head.endswith(b"}\n\n"):
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Type: text/event-stream" in head
    assert b"\r\n\r\nretry: 500\n\nevent: hello\ndata: " in head
    return s, json.loads(head.rsplit(b"data: ", 1)[1])


def events(page, count):
    """The next ``count`` events of a page's stream: [(name, data)]."""
    text = b""
    while text.count(b"\n\n") < count:
        text += page.recv(4096)
    return [(block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1].removeprefix("data: ")))
            for block in text.decode().split("\n\n")[:count]]


def test_pages_get_what_the_token_holder_sends(hub):
    pages = [listen(hub)[0] for _ in range(3)]
    time.sleep(0.1)  # the hub has registered them
    assert post(hub, {"action": "css"}) == (200, {"ok": True, "pages": 3})
    for page in pages:
        [(name, data)] = events(page, 1)
        assert (name, data["action"], data["refreshes"]) == ("refresh", "css", 1)
        page.close()


def test_a_page_that_connects_later_learns_how_many_refreshes_it_missed(hub):
    # A page loading while fab watch refreshes misses the event: from the count
    # in its hello, refresh.js sees that it did (and reloads once more).
    first, hello = listen(hub)
    assert hello["refreshes"] == 0 and len(hello["hub"]) == 8
    time.sleep(0.1)
    post(hub, {"action": "page"})
    post(hub, {"action": "css"})
    assert events(first, 2) == [("refresh", {"action": "page", **hello, "refreshes": 1}),
                                ("refresh", {"action": "css", **hello, "refreshes": 2})]
    assert listen(hub)[1] == {**hello, "refreshes": 2}


def test_each_run_of_the_hub_has_its_own_name(tmp_path):
    # A page compares counts only within one run: a restarted hub counts from 0.
    names = set()
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        path, process = start_hub(tmp_path / run, getpass.getuser())
        try:
            names.add(listen(path)[1]["hub"])
        finally:
            process.terminate()
            process.wait(timeout=5)
    assert len(names) == 2


def test_a_page_that_went_away_is_forgotten(hub):
    listen(hub)[0].close()
    kept = listen(hub)[0]
    time.sleep(0.1)
    assert post(hub, {"action": "page"})[1]["pages"] == 1
    assert b'"action": "page"' in kept.recv(4096)


@pytest.mark.parametrize("token", [None, "guess", TOKEN + "x", TOKEN[:-1]])
def test_nobody_else_can_refresh_pages(hub, token):
    page = listen(hub)[0]
    assert post(hub, {"action": "page"}, token=token) == (403, {"error": "only fab watch may refresh pages"})
    page.settimeout(0.3)
    with pytest.raises(socket.timeout):
        page.recv(4096)


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /_devbox/refresh HTTP/1.1\r\n\r\n", 405),
    (b"POST /_devbox/events HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
    (b"GET /elsewhere HTTP/1.1\r\n\r\n", 404),
    (b"GARBAGE\r\n\r\n", 400),
    (b"POST /_devbox/refresh HTTP/1.1\r\nContent-Length: banana\r\n\r\n", 400),
    (b"POST /_devbox/refresh HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", 400),
    (b"\xff\xfe\x00 / HTTP/1.1\r\n\r\n", 400),
])
def test_bad_requests_get_4xx_and_the_hub_carries_on(hub, request_bytes, status):
    assert int(send(hub, request_bytes).split()[1]) == status
    assert post(hub, {"action": "page"})[0] == 200


@pytest.mark.parametrize("body", [{"action": "reboot"}, {}, [], b"{not json"])
def test_only_page_and_css_are_actions(hub, body):
    assert post(hub, body)[0] == 400


def test_a_short_token_is_refused_at_start(tmp_path):
    (tmp_path / "token").write_text("short")
    result = subprocess.run([sys.executable, str(HUB), str(tmp_path / "s"), str(tmp_path / "token")],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 2
    assert "is too short" in result.stderr
