"""HTTPS through its forwarded port, as a browser on this host sees it, for any
app: trusted with no flag (the host's local CA in its stores), HTTP/2 for
pages, a secure context, Socket.IO over wss beside HTTP/2 (nginx upgrades it on
an HTTP/1.1 connection of its own), and live refresh."""

import shlex
import subprocess
import uuid

import requests
from playwright.sync_api import expect

from devbox.host import browser as devbox_browser
from devbox.host import tls
from devbox.host.guest import wait_for

# A WebSocket from the page to the app's Socket.IO: open, join '/', then a
# namespace the app does not have, whose refusal needs nothing of the app.
WSS_ROUND_TRIP = """(marker) => new Promise((resolve, reject) => {
  const ws = new WebSocket(`wss://${location.host}/socket.io/?EIO=4&transport=websocket&probe=${marker}`);
  const frames = [];
  ws.onmessage = (event) => {
    if (event.data === "2") { ws.send("3"); return; }
    frames.push(event.data);
    if (frames.length === 1) ws.send("40");
    if (frames.length === 2) ws.send("40/devbox-probe,");
    if (frames.length === 3) { ws.close(); resolve(frames); }
  };
  ws.onerror = () => reject(new Error("the wss connection failed"));
  setTimeout(() => reject(new Error("no answer over wss in 10 s")), 10000);
})"""


def test_chromium_trusts_the_page_with_no_flag_and_gets_http2(open_page, https_url):
    assert not [arg for arg in devbox_browser.CHROMIUM_ARGS if "certificate" in arg or "insecure" in arg]
    page = open_page("/", base_url=https_url)  # an untrusted certificate fails the navigation
    assert page.evaluate("location.origin") == https_url
    assert page.evaluate("window.isSecureContext") is True
    assert page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
    assert page.errors == []


def test_no_hsts_in_development_so_plain_http_keeps_working(http, https_url):
    response = requests.get(f"{https_url}/_devbox/health", timeout=5, verify=tls.client_ca(https_url))
    assert response.ok and "Strict-Transport-Security" not in response.headers
    assert http.get("/_devbox/health").ok


def test_the_host_trusts_it_too(https_url, settings):
    # curl and Python's ssl read the system store, where ./setup.sh put the CA.
    subprocess.run(["curl", "--noproxy", "*", "-fsS", "-o", "/dev/null", f"{https_url}/_devbox/health"], check=True,
                   timeout=10)
    cert = tls.served(settings)
    assert set(tls.covered(cert)) == set(tls.names(settings))


def test_socketio_goes_over_wss_on_its_own_http11_connection(open_page, https_url, guest, settings):
    page = open_page("/", base_url=https_url)
    marker = uuid.uuid4().hex[:12]
    frames = page.evaluate(WSS_ROUND_TRIP, marker)
    assert frames[0].startswith("0{") and frames[1].startswith("40{")
    assert frames[2].startswith("44/devbox-probe,")
    # nginx has no WebSocket over HTTP/2: the page came over h2, the upgrade on HTTP/1.1.
    log = shlex.quote(f"{settings['nginx_logs']}/access.log")
    line = wait_for(lambda: guest.run(f"sudo grep -F probe={marker} {log}", hide=True, warn=True).stdout, timeout=5)
    assert ' HTTP/1.1" 101 ' in line


def test_live_refresh_works_on_an_https_page(open_page, https_url, watcher, edit, settings, http):
    relative = f"{settings['app']['static']['folder']}/_probe-{uuid.uuid4().hex[:8]}.html"
    url = settings["app"]["static"]["url"] + relative.rsplit("/", 1)[1]
    edit(relative, "<!doctype html><html><head><title>probe</title></head><body><p id=text>first</p></body></html>\n")
    page = open_page(url, base_url=https_url)
    edit(relative, "<!doctype html><html><head><title>probe</title></head><body><p id=text>second</p></body></html>\n")
    expect(page.locator("#text")).to_have_text("second", timeout=10_000)
    assert page.evaluate("location.protocol") == "https:"


def test_the_key_is_roots_alone_in_the_guest(guest, settings):
    # nginx's master reads it as root; neither the app's user nor nginx's
    # workers can, nor can anyone in the guest read the host's copy.
    tls_file, synced = shlex.quote(settings["tls_file"]), settings["paths"]["synced"]
    assert guest.run(f"sudo stat -c '%U:%G %a' {tls_file}", hide=True).stdout.split() == ["root:root", "600"]
    for user in (settings["name"], "www-data"):
        for path in (tls_file, shlex.quote(f"{synced}/.vagrant/devbox-tls/site.pem")):
            assert guest.run(f"sudo -u {user} cat {path}", hide=True, warn=True).failed
    assert guest.run(f"ls /tmp | grep devbox-tls", hide=True, warn=True).stdout == ""  # the upload is gone
