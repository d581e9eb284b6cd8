"""Everything but the static folder goes through nginx to gunicorn; devbox's
own URLs (/_devbox/) never reach the app; nothing but nginx is reachable."""

import json
import shlex
import socket
import subprocess
import uuid

import pytest

from devbox.host.reload import expected_version
from tests.helpers import count_in_app_logs, main_pid

pytestmark = pytest.mark.both_schemes


def test_devbox_health_names_the_app_and_the_code_it_runs(http, settings):
    response = http.get("/_devbox/health")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    health = response.json()
    assert health["status"] == "ok"
    assert health["app"] == settings["app"]["wsgi"]
    assert health["worker"] == settings["worker"]
    assert health["version"] == expected_version(settings)  # the host's files, hashed as the guest does


def test_the_app_sees_the_scheme_and_host_the_browser_used(http, base_url):
    # gunicorn takes X-Forwarded-Proto from nginx alone: over HTTPS the app's
    # request is secure (Secure cookies, https external URLs), over HTTP not.
    seen = http.get("/_devbox/health").json()["request"]
    assert seen == {"scheme": base_url.split("://")[0], "host": base_url.split("://")[1]}
    # What a client sends is not what the app sees.
    forged = http.get("/_devbox/health", headers={"X-Forwarded-Proto": "https" if "http:" in base_url else "http"})
    assert forged.json()["request"] == seen


def test_the_app_answers_through_nginx(http, guests, settings):
    marker = uuid.uuid4().hex
    response = http.get(f"/?probe={marker}")
    assert response.status_code == 200
    assert response.headers["Server"] == "nginx"
    assert "text/html" in response.headers["Content-Type"]
    assert count_in_app_logs(guests, settings, marker) == 1


@pytest.mark.parametrize("path", ["/_devbox/", "/_devbox/anything", "/_devbox/unavailable.html", "/_devbox"])
def test_devbox_urls_never_reach_the_app(http, guests, settings, path):
    marker = uuid.uuid4().hex
    response = http.get(f"{path}?probe={marker}")
    assert response.status_code == 404
    assert count_in_app_logs(guests, settings, marker) == 0
    assert "devbox-unavailable" not in response.text  # the friendly page is served on errors only


def test_devbox_health_takes_only_get(http):
    response = http.post("/_devbox/health")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"


def test_a_body_over_the_size_limit_is_refused_by_nginx(http, settings):
    response = http.post("/", data=b"x" * (settings["max_body_bytes"] + 1),
                         headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 413


def test_garbage_instead_of_http_gets_400_from_nginx(settings):
    with socket.create_connection((settings["host_ip"], settings["host_port"]), timeout=5) as raw:
        raw.sendall(b"GARBAGE / NOT-HTTP\r\n\r\n")
        assert raw.recv(64).startswith(b"HTTP/1.1 400")


def _app_sockets(guests, settings, instances):
    """The TCP sockets the masters of these app instances (all on one guest) listen on."""
    listening = guests.of_instance(instances[0]).run("sudo ss -Hltnp", hide=True).stdout
    masters = [main_pid(guests, settings, i) for i in instances]
    return [line.split()[3] for line in listening.splitlines() if any(f"pid={pid}," in line for pid in masters)]


def test_the_app_takes_requests_from_nginx_alone(guest, guests, settings):
    if settings["nodes"]:
        # Each app guest listens on its fixed address on the private network
        # alone, never on the address DHCP gave it. (Until the guest has a
        # firewall, the bridge's other members could reach that address too.)
        for instance, bind in enumerate(settings["app_binds"], 1):
            assert _app_sockets(guests, settings, [instance]) == [bind]
            addresses = guests.of_instance(instance).run("hostname -I", hide=True).stdout.split()
            for address in set(addresses) - {bind.split(":")[0]}:
                with pytest.raises(OSError):
                    socket.create_connection((address, settings["app_port"]), timeout=3)
        return
    app_sockets = _app_sockets(guests, settings, list(range(1, settings["instances"] + 1)))
    if settings["app_bind"] == "tcp":
        assert app_sockets == [f"127.0.0.1:{settings['app_port']}"]
        address = guest.run("hostname -I", hide=True).stdout.split()[0]
        with pytest.raises(OSError):
            socket.create_connection((address, settings["app_port"]), timeout=3)
        return
    assert app_sockets == []  # no TCP port at all: unix sockets that only nginx's group may reach
    for bind in settings["app_binds"]:
        # nginx's user asks the socket, in the protocol of the server behind it.
        probe = (f"cd {settings['paths']['synced']} && sudo -u www-data python3 -m devbox.guest.ask_app "
                 f"{settings['server']} {bind} /_devbox/health")
        answer = guest.run(probe, hide=True, warn=True)
        assert answer.ok and json.loads(answer.stdout)["status"] == "ok", answer
        connect = f"import socket; socket.socket(socket.AF_UNIX).connect({bind.removeprefix('unix:')!r})"
        refused = guest.run(f"sudo -u vagrant python3 -c {shlex.quote(connect)}", hide=True, warn=True)
        assert refused.failed and "PermissionError" in refused.stderr, refused


def test_the_forwarded_port_answers_on_loopback_only(devbox, settings):
    socket.create_connection((settings["host_ip"], settings["host_port"]), timeout=3).close()
    others = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    addresses = [line.split()[3].split("/")[0] for line in others.splitlines()]
    addresses = [a for a in addresses if not a.startswith("127.")]
    assert addresses, others  # at least the lxc bridge
    for address in addresses:
        with pytest.raises(OSError):
            socket.create_connection((address, settings["host_port"]), timeout=3)
