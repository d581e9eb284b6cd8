"""`fab deploy` and `fab rollback` against a server devbox never touched
(tests/deploy/conftest.py): HTTPS from an ACME CA, the firewall, releases."""

from __future__ import annotations

import http.client
import queue
import socket
import ssl
import subprocess
import threading
import time

import pytest
import requests

from devbox.host.browser import CHROMIUM, CHROMIUM_ARGS
from tests.deploy.conftest import DOMAIN, fab

URL = f"https://{DOMAIN}/"


def ssh(server: dict, command: str, address: str = "") -> subprocess.CompletedProcess:
    """``command`` as root on the server (or another at ``address``), over the SSH a deploy uses."""
    return subprocess.run(["ssh", "-i", server["SERVER_KEY"], "-o", f"UserKnownHostsFile={server['SERVER_KNOWN_HOSTS']}",
                           "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
                           f"{server['SERVER_USER']}@{address or server['SERVER_ADDRESS']}", f"sudo -n bash -c {command!r}"],
                          capture_output=True, text=True, timeout=60)


def https(pebble_root, path="/", domain=DOMAIN, **kwargs) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.get(f"https://{domain}{path}", verify=str(pebble_root), timeout=10, **kwargs)


def test_check_on_a_fresh_server_lists_everything_and_changes_nothing(project, server):
    result = fab(project, "deploy", "--check", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    packages = next(line for line in result.stdout.splitlines() if line.startswith("packages: "))
    assert {"nginx", "redis-server", "certbot", "ufw"} <= set(packages.split(": ", 2)[2].split())
    assert "files: all new" in result.stdout
    assert ssh(server, "test -e /srv/devbox || test -e /etc/nginx").returncode == 1


def test_a_first_deploy_takes_a_fresh_server_to_https(deployed, pebble_root):
    assert f"is live at {URL}" in deployed.stdout
    print(deployed.stdout.strip().splitlines()[-1])  # its time, for the record
    answer = https(pebble_root)
    assert answer.status_code == 200 and "<h1>Chat</h1>" in answer.text
    # Production's answers: HSTS (static files too), no version of nginx.
    assert answer.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert answer.headers["Server"] == "nginx"
    static = https(pebble_root, "/static/style.css")
    assert static.status_code == 200 and static.headers["Strict-Transport-Security"] == "max-age=63072000"
    # No development mode: no refresh script in the page.
    assert "/_devbox/refresh.js" not in answer.text


def test_plain_http_redirects_to_https(deployed, server):
    connection = http.client.HTTPConnection(server["SERVER_ADDRESS"], 80, timeout=10)
    connection.request("GET", "/say?x=1", headers={"Host": DOMAIN})
    answer = connection.getresponse()
    assert (answer.status, answer.getheader("Location")) == (301, f"https://{DOMAIN}/say?x=1")


def test_a_name_that_is_not_the_sites_is_refused(deployed, server):
    connection = http.client.HTTPConnection(server["SERVER_ADDRESS"], 80, timeout=10)
    connection.request("GET", "/", headers={"Host": "elsewhere.example"})
    assert connection.getresponse().status == 421


def test_devbox_health_answers_the_server_only(deployed, pebble_root, server):
    assert https(pebble_root, "/_devbox/health").status_code == 403
    on_server = ssh(server, f"curl -sk --resolve {DOMAIN}:443:127.0.0.1 https://{DOMAIN}/_devbox/health")
    assert '"status": "ok"' in on_server.stdout, on_server.stdout + on_server.stderr


def test_chromium_trusting_the_acme_root_opens_the_site_over_http2(deployed, pebble_root, server, tmp_path):
    from playwright.sync_api import sync_playwright

    # Pebble's root in an NSS store of this test's own (Chromium's on Linux): trusted here only.
    nssdb = tmp_path / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "pebble", "-i", str(pebble_root)],
                   check=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, env={"HOME": str(tmp_path)},
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {DOMAIN} {server['SERVER_ADDRESS']}"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda error: errors.append(error))
            response = page.goto(URL)
            assert response.ok and page.evaluate("window.isSecureContext")
            assert page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
            # The stylesheet, which nginx serves from the release itself.
            color = page.evaluate("getComputedStyle(document.body).fontFamily")
            assert color, "the stylesheet did not apply"
            page.fill("input[name=text]", "hello production")
            page.click("button")
            page.wait_for_selector("#said")
            session = next(c for c in page.context.cookies() if c["name"] == "session")
            assert session["secure"] is True
            assert errors == []
        finally:
            browser.close()


def socketio_client(pebble_root, domain=DOMAIN):
    import socketio

    session = requests.Session()
    session.trust_env, session.verify = False, str(pebble_root)
    client = socketio.Client(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1,
                             http_session=session, websocket_extra_options={"origin": f"https://{domain}"})
    client.connect(f"https://{domain}/", transports=["websocket"], wait_timeout=10)
    return client


def test_socketio_over_wss_reaches_every_client(deployed, pebble_root):
    sender, listener = socketio_client(pebble_root), socketio_client(pebble_root)
    try:
        heard = queue.Queue()
        listener.on("message", heard.put)
        sender.emit("say", "hello over wss")
        assert heard.get(timeout=10) == "hello over wss"
    finally:
        sender.disconnect()
        listener.disconnect()


def test_the_firewall_lets_in_ssh_http_and_https_only(deployed, server):
    def connects(port):
        try:
            socket.create_connection((server["SERVER_ADDRESS"], port), timeout=2).close()
            return True
        except OSError:
            return False

    assert [connects(port) for port in (22, 80, 443)] == [True, True, True]
    # Whatever else listens on every address stays out of reach.
    started = ssh(server, "systemd-run --quiet --unit devbox-test-listener python3 -m http.server --bind 0.0.0.0 8080"
                          " && sleep 1 && ss -Hltn 'sport = :8080'")
    try:
        assert "0.0.0.0:8080" in started.stdout, started.stdout + started.stderr
        assert not connects(8080)
    finally:
        ssh(server, "systemctl stop devbox-test-listener")
    # Redis listens on the server's loopback only, behind the firewall too.
    assert "127.0.0.1:6379" in ssh(server, "ss -Hltn 'sport = :6379'").stdout
    assert not connects(6379)
    status = ssh(server, "ufw status").stdout
    assert "Status: active" in status and "# devbox" in status


def test_the_app_runs_hardened(deployed, server):
    result = ssh(server, "systemd-analyze security --no-pager devbox@1.service | tail -1")
    print(result.stdout)  # the score, for the record
    score = float(result.stdout.split("exposure level for devbox@1.service:")[1].split()[0])
    assert score < 5, result.stdout


def _load(stop: threading.Event, failures: list, count: list, pebble_root, domain=DOMAIN):
    context = ssl.create_default_context(cafile=str(pebble_root))
    while not stop.is_set():
        try:
            connection = http.client.HTTPSConnection(domain, 443, timeout=10, context=context)
            connection.request("GET", "/")
            answer = connection.getresponse()
            answer.read()
            connection.close()
            if answer.status != 200:
                failures.append(answer.status)
            count[0] += 1
        except OSError as exc:
            failures.append(repr(exc))


def under_load(pebble_root, action, domain=DOMAIN):
    """``action()`` while four clients keep asking the site for its page: its
    result, its time, how many requests were made and those that failed."""
    stop, failures, count = threading.Event(), [], [0]
    loaders = [threading.Thread(target=_load, args=(stop, failures, count, pebble_root, domain)) for _ in range(4)]
    try:
        for thread in loaders:
            thread.start()
        started = time.monotonic()
        result = action()
        seconds = time.monotonic() - started
    finally:
        stop.set()
        for thread in loaders:
            thread.join()
    return result, seconds, count[0], failures


def test_a_redeploy_under_load_fails_no_request_then_rollback_brings_back_the_last(deployed, project, pebble_root, server):
    template = project / "app" / "templates" / "index.html"
    original = template.read_text()
    template.write_text(original.replace("<h1>Chat</h1>", "<h1>Chat, release two</h1>"))
    listener = socketio_client(pebble_root)
    heard = queue.Queue()
    listener.on("message", heard.put)
    try:
        redeploy, redeploy_seconds, count, failures = under_load(pebble_root, lambda: fab(project, "deploy"))
    finally:
        template.write_text(original)
    assert redeploy.returncode == 0, redeploy.stdout[-3000:] + redeploy.stderr[-3000:]
    assert count > 20 and failures == [], f"{len(failures)} of {count} requests failed: {failures[:5]}"
    assert "<h1>Chat, release two</h1>" in https(pebble_root).text
    # The listener is back on the new release (reconnected by itself) and hears what is said there.
    deadline = time.monotonic() + 15
    sender = socketio_client(pebble_root)
    try:
        while time.monotonic() < deadline:
            sender.emit("say", "after the redeploy")
            try:
                if heard.get(timeout=1) == "after the redeploy":
                    break
            except queue.Empty:
                continue
        else:
            pytest.fail("a client connected before the redeploy heard nothing after it")
    finally:
        sender.disconnect()
        listener.disconnect()
    started = time.monotonic()
    back = fab(project, "rollback")
    rollback_seconds = time.monotonic() - started
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    assert "<h1>Chat</h1>" in https(pebble_root).text
    print(f"redeploy {redeploy_seconds:.1f}s, rollback {rollback_seconds:.1f}s, {count} requests, 0 failed")


def test_a_server_with_another_host_key_is_refused(deployed, project, tmp_path, server):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"{server['SERVER_ADDRESS']} {(tmp_path / 'other.pub').read_text()}")
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text((project / "deploy.yaml").read_text().replace(server["SERVER_KNOWN_HOSTS"], str(known)))
    result = fab(project, "deploy", "--file", str(deploy), timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"devbox: {server['SERVER_ADDRESS']} answered with another host key than {known} has for it: not the server, "
        "or it was made again; check, then ssh-keygen -R it"], result.stderr
    known.write_text("")
    result = fab(project, "deploy", "--file", str(deploy), timeout=60)
    assert result.returncode == 1 and "host key is not in" in result.stderr


def test_an_unreachable_server_is_one_line(project, tmp_path):
    deploy = (project / "deploy.yaml").read_text()
    unreachable = tmp_path / "deploy.yaml"
    unreachable.write_text(deploy.replace(deploy.split("server: ")[1].split("\n")[0], "admin@10.0.5.250"))
    result = fab(project, "deploy", "--file", str(unreachable), timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("devbox: cannot reach admin@10.0.5.250 over SSH"), result.stderr


def live_release(server) -> str:
    return ssh(server, "readlink /srv/devbox/current").stdout.strip()


def test_a_release_whose_app_fails_to_load_goes_and_the_live_one_stays(deployed, project, pebble_root, server):
    """Tried before it goes live: no request meanwhile sees anything of it."""
    module = project / "app" / "app.py"
    original = module.read_text()
    before = live_release(server)
    module.write_text(original + "\nthis line is no Python\n")
    try:
        result, _, count, failures = under_load(pebble_root, lambda: fab(project, "deploy"))
    finally:
        module.write_text(original)
    assert result.returncode == 1
    assert "failed to load: SyntaxError" in result.stderr
    assert count > 20 and failures == [], f"{len(failures)} of {count} requests failed: {failures[:5]}"
    last = result.stderr.strip().splitlines()[-1]
    assert "failed (above) and is gone; the live release is " + before.rsplit("/", 1)[1] in last, result.stderr
    assert live_release(server) == before
    assert "<h1>Chat</h1>" in https(pebble_root).text


def test_a_port_taken_on_the_server_is_one_line_and_changes_nothing(deployed, project, pebble_root, server):
    before = live_release(server)
    taken = ssh(server, "systemctl stop nginx && systemd-run --quiet --unit devbox-test-squatter "
                        "python3 -m http.server --bind 0.0.0.0 443")
    assert taken.returncode == 0, taken.stderr
    try:
        result = fab(project, "deploy")
    finally:
        ssh(server, "systemctl stop devbox-test-squatter; systemctl start nginx")
    assert result.returncode == 1
    assert "devbox: port 443 on this server is taken by python3; stop it" in result.stderr
    assert live_release(server) == before
    assert "<h1>Chat</h1>" in https(pebble_root).text


def test_check_shows_what_a_deploy_would_change_and_changes_nothing(deployed, project, server):
    settings_file, template = project / "devbox.yaml", project / "app" / "templates" / "index.html"
    originals = {path: path.read_text() for path in (settings_file, template)}
    settings_file.write_text(originals[settings_file].replace("max_body_size: 1m", "max_body_size: 2m"))
    template.write_text(originals[template].replace("<h1>Chat</h1>", "<h1>Chat, checked</h1>"))
    before = (live_release(server), ssh(server, "ls /srv/devbox/releases").stdout)
    try:
        result = fab(project, "deploy", "--check", timeout=120)
    finally:
        for path, text in originals.items():
            path.write_text(text)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "packages: all there" in out and "firewall: on: 22, 80 and 443 in, nothing else" in out
    assert "release: the app's code changes" in out and "requirements: unchanged" in out
    assert "certificate: kept (for app.devbox.test)" in out
    assert "-    client_max_body_size 1m;\n+    client_max_body_size 2m;" in out
    assert "+++ /etc/systemd/system/devbox@.service" not in out  # the unit stays as it is
    assert (live_release(server), ssh(server, "ls /srv/devbox/releases").stdout) == before


def test_deploys_past_keep_releases_reload_the_same_masters(deployed, project, pebble_root, server):
    """More deploys than releases are kept: the oldest go, and each deploy is
    still a graceful reload of the gunicorns that were running."""
    master = ssh(server, "systemctl show -p MainPID --value devbox@1.service").stdout.strip()
    for _ in range(3):
        result = fab(project, "deploy")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    releases = ssh(server, "ls /srv/devbox/releases").stdout.split()
    assert len(releases) == 2 and live_release(server).endswith(releases[-1])  # keep_releases: 2
    assert ssh(server, "systemctl show -p MainPID --value devbox@1.service").stdout.strip() == master
    assert "<h1>Chat</h1>" in https(pebble_root).text
