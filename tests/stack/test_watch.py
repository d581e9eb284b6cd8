"""`fab watch` and live refresh, for any app: a saved .py is live without
running anything; open pages reload once the new code answers, swap saved
stylesheets in place, show code that failed to load and come back by
themselves once it is fixed. The refresh channel is devbox's own (nginx adds
its script to HTML pages), and only fab watch can use it."""

import json
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from devbox.host import guest as devbox_guest
from devbox.host.guest import wait_for
from devbox.host.reload import expected_version, refresh_token
from devbox.settings import ROOT


def version(base_url):
    return (devbox_guest.health_or_none(base_url) or {}).get("version")


def mark(page):
    """Mark the page's window: the mark is gone once the page has reloaded."""
    page.evaluate("window.notReloaded = true")


def reloaded(page):
    try:
        return page.evaluate("window.notReloaded") is None
    except PlaywrightError:  # caught in the middle of the navigation: not yet
        return False


@pytest.fixture
def static_file(settings, edit):
    """Factory: (repository path, URL) of a new file in the app's static folder, removed afterwards."""
    def make(suffix, text):
        relative = f"{settings['app']['static']['folder']}/_probe-{uuid.uuid4().hex[:8]}{suffix}"
        edit(relative, text)
        return relative, settings["app"]["static"]["url"] + relative.rsplit("/", 1)[1]

    return make


def test_a_saved_py_file_is_live_without_running_anything(add_probe, watcher, base_url, settings):
    add_probe()
    expected = expected_version(settings)
    assert wait_for(lambda: version(base_url) == expected, timeout=20), watcher.stdout.readline()


def test_open_pages_reload_once_the_new_code_answers(add_probe, watcher, open_page, base_url, settings):
    page = open_page()
    mark(page)
    add_probe()
    expected = expected_version(settings)
    assert wait_for(lambda: reloaded(page), timeout=20)
    assert version(base_url) == expected
    page.wait_for_function("window.devboxRefresh && window.devboxRefresh.connected", timeout=10_000)
    assert page.errors == []


@pytest.mark.parametrize("gap", [0, 0.05], ids=["saved-together", "saved-while-the-page-reloads"])
def test_a_saved_template_shows_in_open_pages_without_reloading_the_app(gap, edit, watcher, open_page, http, settings):
    # The app re-reads its templates by itself in development (a Flask app;
    # devbox's entry point turns Jinja's auto_reload on): a save is a refresh.
    # Saves 50 ms apart are two refreshes, and the second comes while the page
    # reloads for the first: the page reloads again when it connects.
    health = http.get("/_devbox/health").json()
    if not health.get("templates"):
        pytest.skip(f"{settings['app']['wsgi']} names no template folders (not a Flask app, or dev_mode is off)")
    page = open_page()
    mark(page)
    marker = f"devbox-probe-{uuid.uuid4().hex[:8]}"
    folders = [ROOT / settings["app"]["folder"] / folder for folder in health["templates"]]
    for template in [path for folder in folders for path in folder.rglob("*.html")]:
        # At the end of each: a base template's shows, a child's is ignored.
        edit(template, template.read_text() + f"\n<i hidden id={marker}></i>\n")
        time.sleep(gap)
    assert wait_for(lambda: reloaded(page), timeout=10)
    expect(page.locator(f"#{marker}")).to_have_count(1)
    assert http.get("/_devbox/health").json()["boot_id"] == health["boot_id"]  # no reload


def test_a_saved_stylesheet_is_swapped_into_open_pages(static_file, edit, watcher, open_page, http):
    relative, url = static_file(".css", "body { margin: 0; }\n")
    boot_id = http.get("/_devbox/health").json()["boot_id"]
    page = open_page()
    page.evaluate("url => { const l = document.createElement('link'); l.rel = 'stylesheet'; l.id = 'probe';"
                  " l.href = url; document.head.append(l); }", url)
    mark(page)
    edit(relative, f"body {{ outline: 0 solid #{uuid.uuid4().hex[:6]}; }}\n")
    assert wait_for(lambda: "devbox=" in page.eval_on_selector("#probe", "l => l.href"), timeout=10)
    assert not reloaded(page)  # swapped in place
    assert http.get("/_devbox/health").json()["boot_id"] == boot_id  # and the app was not reloaded for it


def test_a_saved_static_file_reloads_open_pages_without_reloading_the_app(static_file, edit, watcher,
                                                                            open_page, http):
    relative, _ = static_file(".js", "// first\n")
    boot_id = http.get("/_devbox/health").json()["boot_id"]
    page = open_page()
    mark(page)
    edit(relative, "// second\n")
    assert wait_for(lambda: reloaded(page), timeout=10)
    assert http.get("/_devbox/health").json()["boot_id"] == boot_id


def test_a_page_without_any_app_script_refreshes_too(static_file, edit, watcher, open_page):
    # A plain HTML file from the static folder: no Socket.IO, no app code at all.
    relative, url = static_file(".html", "<!doctype html><html><head><title>probe</title></head>"
                                         "<body><p id=text>first</p></body></html>\n")
    page = open_page(url)
    edit(relative, "<!doctype html><html><head><title>probe</title></head><body><p id=text>second</p></body></html>\n")
    expect(page.locator("#text")).to_have_text("second", timeout=10_000)


def test_code_that_fails_to_load_shows_in_open_pages_until_it_is_fixed(add_probe, edit, app_module, watcher,
                                                                       open_page, base_url, settings):
    original = (ROOT / app_module).read_text()
    page = open_page()
    marker = add_probe('raise RuntimeError("devbox probe {marker}")')
    expect(page.locator("#devbox-error")).to_contain_text(f"RuntimeError: devbox probe {marker}", timeout=20_000)
    edit(app_module, original + "\n# fixed\n")
    expected = expected_version(settings)
    expect(page.locator("#devbox-unavailable")).to_have_count(0, timeout=20_000)  # back to the app by itself
    assert version(base_url) == expected


def refresh(base_url, token, action="page"):
    request = urllib.request.Request(f"{base_url}/_devbox/refresh", data=json.dumps({"action": action}).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_only_fab_watch_can_refresh_pages(open_page, base_url, settings, guest, http):
    page = open_page()
    mark(page)
    for token in (None, "guess", "Bearer x" * 8):
        assert refresh(base_url, token)[0] == 403
    assert http.get("/_devbox/refresh").status_code == 405
    assert refresh(base_url, refresh_token(settings, guest), action="reboot")[0] == 400
    assert not reloaded(page)
    # The token fab watch reads from the guest is what works.
    status, body = refresh(base_url, refresh_token(settings, guest))
    assert status == 200 and body["pages"] >= 1
    assert wait_for(lambda: reloaded(page), timeout=10)


def test_no_client_can_take_every_page_slot_of_the_refresh_hub(settings):
    # 100 open pages per client address (nginx), of the hub's 1000: the 101st
    # is refused, and a slot given back is free again.
    def stream():
        conn = socket.create_connection((settings["host_ip"], settings["host_port"]), timeout=5)
        conn.sendall(f"GET /_devbox/events HTTP/1.1\r\nHost: localhost:{settings['host_port']}\r\n\r\n".encode())
        return conn, conn.recv(64).split(b" ")[1]

    held = []
    try:
        for _ in range(101):
            conn, status = stream()
            held.append(conn)
            if status != b"200":
                break
        assert status == b"429" and len(held) >= 90  # a page of another test may hold a slot
        held.pop().close()
        held.pop().close()
        time.sleep(0.2)
        conn, status = stream()
        held.append(conn)
        assert status == b"200"
    finally:
        for conn in held:
            conn.close()


def test_the_refresh_script_is_added_to_html_pages_only(http, static_file):
    page = http.get("/")
    assert page.text.count('<script src="/_devbox/refresh.js" defer></script>') == 1
    assert http.get("/_devbox/refresh.js").status_code == 200
    # Text that only looks like a page, served as what it is: left alone.
    text = "<html><head></head><body>not a page</body></html>\n"
    _, url = static_file(".txt", text)
    response = http.get(url)
    assert (response.headers["Content-Type"].split(";")[0], response.text) == ("text/plain", text)


def test_pages_listen_again_after_the_hub_restarts(open_page, guest, settings, base_url):
    # While the hub is down nginx answers its URL with a 503 page, on which
    # EventSource gives up for good; devbox's client starts over.
    page = open_page()
    mark(page)
    hub = f"{settings['name']}-refresh"
    guest.run(f"sudo systemctl stop {hub}", hide=True)
    try:
        assert wait_for(lambda: not page.evaluate("window.devboxRefresh.connected"), timeout=10)
        time.sleep(3)  # long enough for EventSource to have given up on the 503
    finally:
        guest.run(f"sudo systemctl start {hub}", hide=True)
    assert wait_for(lambda: page.evaluate("window.devboxRefresh.connected"), timeout=15)
    assert refresh(base_url, refresh_token(settings, guest))[0] == 200
    assert wait_for(lambda: reloaded(page), timeout=10)


def test_a_save_during_a_reload_does_not_stall_the_watcher(add_probe, watcher, base_url, settings):
    # The second save lands while the first reload runs: the new worker may
    # already hold it. Neither may stall: each is done within watch's 20 s limit
    # (a stalled one says it "did not answer"), however long a reload takes here.
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()
    add_probe()
    time.sleep(0.11)  # past the quiet spell (25 ms): the first reload has begun
    add_probe()
    expected = expected_version(settings)
    done, said = [], []  # all watch said, the app log it shows with an error included
    deadline = time.monotonic() + 2 * 20 + 5
    while len(done) < 2 and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        said.append(line)
        assert "did not answer" not in line, "".join(said)
        if ": reload (" in line:
            done.append(line)
    assert len(done) == 2, "".join(said)
    assert wait_for(lambda: version(base_url) == expected, timeout=5)
