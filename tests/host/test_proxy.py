"""Everything but /static/ goes through nginx to gunicorn, and every URL the
browser is sent back to names the host port."""

import json
import socket
import subprocess

import pytest


def test_healthz_answers_through_the_forwarded_port(http, settings):
    response = http.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["async_mode"] == settings["async_mode"]
    assert body["version"] and body["boot_id"]


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


@pytest.mark.parametrize("host_header", ["localhost:{host_port}", "localhost:{guest_port}", "127.0.0.1:{app_port}"])
def test_absolute_redirects_point_at_the_host_port(http, settings, host_header):
    # Werkzeug makes the missing-slash redirect absolute, from the Host header.
    # Whatever port that names, the browser must be sent to the host port.
    host = host_header.format(**settings)
    response = http.get("/api/notifications", headers={"Host": host})
    assert response.status_code in (301, 308)
    hostname = host.split(":")[0]
    assert response.headers["Location"].startswith(f"http://{hostname}:{settings['host_port']}/")


def test_nginx_own_redirects_do_not_leak_the_guest_port(http, settings):
    response = http.get("/static/vendor")
    assert response.status_code == 301
    assert response.headers["Location"] == "/static/vendor/"
    assert str(settings["guest_port"]) not in response.headers["Location"]


def test_empty_and_oversized_text_get_a_clear_400(http):
    empty = http.post("/notifications", data={"text": "   "})
    assert empty.status_code == 400
    assert "empty" in empty.text
    long = http.post("/notifications", data={"text": "x" * 281})
    assert long.status_code == 400
    assert "the limit is 280" in long.text


def test_a_body_over_the_size_limit_is_refused_by_nginx(http, settings):
    response = http.post("/notifications", data={"text": "x" * (settings["max_body_bytes"] + 1)})
    assert response.status_code == 413


def test_malformed_requests_get_4xx_not_5xx(http, settings):
    assert http.get("/api/notifications/?after=banana").status_code == 400
    assert http.post("/notifications", data=b"\xff\xfe\x00", headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code < 500
    assert http.post("/notifications", data="{", headers={"Content-Type": "application/json"}).status_code < 500
    assert http.delete("/").status_code == 405
    with socket.create_connection((settings["host_ip"], settings["host_port"]), timeout=5) as raw:
        raw.sendall(b"GARBAGE / NOT-HTTP\r\n\r\n")
        assert raw.recv(64).startswith(b"HTTP/1.1 400")


def test_app_port_is_not_reachable_from_the_host(guest, settings):
    listening = guest.run("ss -Hltn", hide=True).stdout
    app_sockets = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(f":{settings['app_port']}")]
    assert app_sockets == [f"127.0.0.1:{settings['app_port']}"]
    address = guest.run("hostname -I", hide=True).stdout.split()[0]
    with pytest.raises(OSError):
        socket.create_connection((address, settings["app_port"]), timeout=3)


def test_the_forwarded_port_answers_on_loopback_only(settings):
    socket.create_connection((settings["host_ip"], settings["host_port"]), timeout=3).close()
    others = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    addresses = [line.split()[3].split("/")[0] for line in others.splitlines()]
    addresses = [a for a in addresses if not a.startswith("127.")]
    assert addresses, others  # at least the lxc bridge
    for address in addresses:
        with pytest.raises(OSError):
            socket.create_connection((address, settings["host_port"]), timeout=3)


def test_debugger_is_never_on(http):
    response = http.get("/api/notifications/?after=-1")
    assert response.status_code == 400
    assert "Werkzeug Debugger" not in response.text
    assert json.dumps(response.json())  # a JSON error, not a traceback page
