"""Malformed HTTP and Socket.IO input at volume (hypothesis), through the stack:
whatever arrives, the worker that serves it is not lost or restarted, and a
client connected all along is served throughout."""

import string
import urllib.parse

import websocket
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from tests.helpers import boot_ids
from tests.stack.conftest import engineio_socket, round_trip

FUZZ = hypothesis_settings(max_examples=300, deadline=None, derandomize=True,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# What requests itself lets through: no line breaks, no leading white space.
HEADER_VALUE = st.text(alphabet=string.printable.translate({ord(c): None for c in "\r\n\t\x0b\x0c"}),
                       max_size=120).map(str.lstrip)
HEADERS = st.dictionaries(
    st.sampled_from(["Content-Type", "Accept", "Cookie", "Origin", "Referer", "Content-Encoding", "Range",
                     "Transfer-Encoding", "If-None-Match", "Accept-Language", "Sec-Fetch-Site", "X-Requested-With"]),
    HEADER_VALUE, max_size=4)
PATHS = st.one_of(
    st.sampled_from(["/", "/socket.io/", "/static/", "/_devbox/health", "/_devbox/instances/1/health"]),
    st.text(max_size=80).map(lambda s: "/" + urllib.parse.quote(s, safe="/?=&%;:@+")))
# What Engine.IO and Socket.IO packets begin with, then anything.
FRAMES = st.one_of(
    st.text(max_size=200),
    st.builds(str.__add__, st.sampled_from(["0", "1", "2", "3", "4", "40", "41", "42", "43", "44", "45", "46",
                                            "42[", "421[", '42["', "40/", "6", "5"]), st.text(max_size=200)),
    st.binary(max_size=200))


def test_garbage_http_never_takes_the_worker_down(http, connect_socket, settings):
    bystander = connect_socket()
    before = boot_ids(http, settings)

    @FUZZ
    @given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]), path=PATHS,
           headers=HEADERS, body=st.binary(max_size=3000))
    def one(method, path, headers, body):
        response = http.request(method, path, headers=headers, data=body)
        # 502/504: nginx lost the app. Anything else is an answer.
        assert response.status_code not in (502, 504), (method, path, headers, response.status_code)
        assert round_trip(bystander)

    one()
    assert boot_ids(http, settings) == before  # no instance restarted
    assert round_trip(bystander)


def test_garbage_socketio_frames_never_take_the_worker_down(base_url, http, connect_socket, settings):
    bystander = connect_socket()
    before = boot_ids(http, settings)

    @FUZZ
    @given(frames=st.lists(FRAMES, min_size=1, max_size=5))
    def one(frames):
        ws = engineio_socket(base_url)
        try:
            for frame in frames:
                ws.send_binary(frame) if isinstance(frame, bytes) else ws.send(frame)
        except (websocket.WebSocketException, OSError):
            pass  # the server may drop a connection that speaks nonsense: only that one
        finally:
            # Not waiting long for the server's close: under uWSGI, whose WebSocket
            # API returns an empty message as it does none, a close that follows
            # an empty frame is read on the driver's next 3 s round.
            ws.close(timeout=0.2)
        # Served all along, answering the server's pings as a browser does
        # (uWSGI's own drop a client that leaves them unanswered for 45 s).
        assert round_trip(bystander)

    one()
    assert boot_ids(http, settings) == before  # no instance restarted
    assert round_trip(bystander)
