import re

import pytest


def ids_on_page(html):
    return [int(i) for i in re.findall(r'data-id="(\d+)"', html)]


def test_index_lists_newest_first(client):
    for text in ("first", "second", "third"):
        client.post("/notifications", data={"text": text})
    html = client.get("/").get_data(as_text=True)
    assert ids_on_page(html) == [3, 2, 1]
    assert html.index("third") < html.index("second") < html.index("first")
    assert 'id="notifications"' in html


def test_index_page_assets_and_form(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Notifications</h1>" in html
    assert 'href="/static/app.css"' in html
    assert 'src="/static/vendor/socket.io.min.js"' in html
    assert 'src="/static/app.js"' in html
    assert 'method="post" action="/notifications"' in html
    assert 'name="text"' in html
    assert 'id="status"' in html
    assert "No notifications yet." in html


@pytest.mark.parametrize("path", ["/static/app.js", "/static/app.css", "/static/vendor/socket.io.min.js"])
def test_static_files_exist(client, path):
    response = client.get(path)
    assert response.status_code == 200
    response.close()


def test_text_is_escaped(client):
    client.post("/notifications", data={"text": "<script>alert(1)</script>"})
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_post_stores_redirects_and_broadcasts(client, socket_client, stored):
    socket_client.get_received()  # drop anything from connecting
    response = client.post("/notifications", data={"text": "  hello  "})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert stored() == ["hello"]
    received = socket_client.get_received()
    assert len(received) == 1
    event = received[0]
    assert event["name"] == "notification"
    item = event["args"][0]
    assert set(item) == {"id", "text", "created_at"}
    assert (item["id"], item["text"]) == (1, "hello")


@pytest.mark.parametrize(
    "data, message",
    [
        ({"text": ""}, "Notification text is empty; type something to send."),
        ({"text": " \n\t "}, "Notification text is empty; type something to send."),
        ({}, "Notification text is empty; type something to send."),
        ({"text": "x" * 281}, "Notification text is 281 characters; the limit is 280."),
        ({"text": "x" * 5000}, "Notification text is 5000 characters; the limit is 280."),
    ],
)
def test_bad_text_is_400_and_not_stored(client, socket_client, stored, data, message):
    socket_client.get_received()
    response = client.post("/notifications", data=data)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert message in response.get_data(as_text=True)
    assert stored() == []
    assert socket_client.get_received() == []


def test_bad_text_json_when_asked(client):
    response = client.post("/notifications", data={"text": ""}, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json() == {"error": "Notification text is empty; type something to send."}


def test_limit_is_inclusive_and_counts_crlf_as_one(client, stored):
    assert client.post("/notifications", data={"text": "x" * 280}).status_code == 303
    # 140 lines as a browser submits them: 279 characters once CRLF is one.
    assert client.post("/notifications", data={"text": "\r\n".join(["x"] * 140)}).status_code == 303
    assert stored() == ["x" * 280, "\n".join(["x"] * 140)]


def test_api_after(client):
    for text in ("a", "b", "c"):
        client.post("/notifications", data={"text": text})
    assert [n["text"] for n in client.get("/api/notifications/").get_json()] == ["a", "b", "c"]
    items = client.get("/api/notifications/?after=1").get_json()
    assert [(n["id"], n["text"]) for n in items] == [(2, "b"), (3, "c")]
    assert set(items[0]) == {"id", "text", "created_at"}
    assert client.get("/api/notifications/?after=3").get_json() == []


def test_api_pages_of_100(app, client):
    with app.app_context():
        from notifications.db import get_db

        db = get_db()
        db.executemany("INSERT INTO notifications (text, created_at) VALUES (?, '')", [(str(i),) for i in range(150)])
        db.commit()
    first = client.get("/api/notifications/?after=0").get_json()
    assert len(first) == 100
    rest = client.get(f"/api/notifications/?after={first[-1]['id']}").get_json()
    assert [n["id"] for n in rest] == list(range(101, 151))


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "", " 1", "١", "1e3", str(2**63), "9" * 400])
def test_api_rejects_junk_after(client, after):
    response = client.get("/api/notifications/", query_string={"after": after})
    assert response.status_code == 400
    assert "'after' must be a notification id" in response.get_json()["error"]


def test_not_found(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert "There is nothing at this address." in response.get_data(as_text=True)
    assert client.get("/api/nope").get_json() == {"error": "There is nothing at this address."}


def test_method_not_allowed(client):
    response = client.put("/notifications")
    assert response.status_code == 405
    assert "This address does not accept PUT requests." in response.get_data(as_text=True)
    assert "POST" in response.headers["Allow"]
    assert response.mimetype == "text/html"


def test_body_too_large(client, stored):
    response = client.post("/notifications", data={"text": "x" * (1024 * 1024 + 1)})
    assert response.status_code == 413
    assert "The request is too large for this server." in response.get_data(as_text=True)
    assert stored() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": b"--x\r\nnot really multipart", "content_type": "multipart/form-data"},
        {"data": b"--x\r\ngarbage", "content_type": "multipart/form-data; boundary=x"},
        {"data": b"text=%ff%fe%00", "content_type": "application/x-www-form-urlencoded"},
        {"data": b"\xff\xfe\x00", "content_type": "application/x-www-form-urlencoded; charset=utf-16"},
        {"data": b'{"text": "json"}', "content_type": "application/json"},
        {"data": b"text=" + b"%" * 100, "content_type": "application/x-www-form-urlencoded"},
    ],
)
def test_malformed_posts_never_500(client, kwargs):
    # Either refused with a 4xx or, where the bytes still decode, stored.
    status = client.post("/notifications", **kwargs).status_code
    assert 400 <= status < 500 or status == 303


def test_get_on_the_form_url_goes_back_to_the_page(client):
    response = client.get("/notifications")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_the_api_collection_url_without_slash_redirects_to_the_canonical_one(client):
    response = client.get("/api/notifications?after=0")
    assert response.status_code == 308
    assert response.headers["Location"] == "http://localhost/api/notifications/?after=0"


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://localhost:9999"},                              # another site on this machine
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.localhost"},
])
def test_a_write_from_another_sites_page_is_refused_and_says_why(client, stored, headers):
    response = client.post("/notifications", data={"text": "forged"}, headers=headers)
    assert response.status_code == 403
    assert "came from a page on another site" in response.get_data(as_text=True)
    assert stored() == []


@pytest.mark.parametrize("headers", [
    {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},   # the app's own page
    {"Sec-Fetch-Site": "none"},                                         # typed by the user
    {},                                                                 # curl, scripts
])
def test_a_write_from_the_apps_own_page_is_accepted(client, stored, headers):
    assert client.post("/notifications", data={"text": "mine"}, headers=headers).status_code == 303
    assert stored() == ["mine"]
