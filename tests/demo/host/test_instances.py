"""The demo on several app instances: its broadcasts cross between them through
devbox's Redis (REDIS_URL), in Socket.IO clients and in Chromium alike, and
the pages of an instance that dies catch up on another."""

import time

import pytest
from playwright.sync_api import expect

from devbox.host import guest as devbox_guest
from tests.demo.host.test_notifications import received
from tests.helpers import main_pid, session_on, wait_for_app

pytestmark = pytest.mark.instances  # run again with 3 instances and with app guests


def test_a_client_on_one_instance_receives_a_broadcast_emitted_on_another(scaled, base_url, socketio_client,
                                                                         unique_text):
    listeners = {i: socketio_client(http_session=session_on(base_url, i)) for i in range(1, scaled["instances"] + 1)}
    inboxes = {i: received(client, "notification") for i, client in listeners.items()}
    sender = socketio_client(http_session=session_on(base_url, 1))
    # A new worker subscribes to the queue in the background once its first
    # client has connected (python-socketio starts its listener then), so a
    # broadcast sent at once may come before that subscription: the first ones
    # go until every instance has had one. Then every broadcast reaches all.
    pending = set(inboxes)
    for attempt in range(20):
        assert sender.call("notify", {"text": f"{unique_text} warm-up {attempt}"}, timeout=5)["ok"] is True
        time.sleep(0.25)
        pending = {i for i in pending if inboxes[i].empty()}
        if not pending:
            break
    assert not pending, f"instances {sorted(pending)} never received a broadcast"
    for n in range(3):
        text = f"{unique_text} {n}"
        ack = sender.call("notify", {"text": text}, timeout=5)
        assert ack["ok"] is True
        for instance, inbox in inboxes.items():
            item = inbox.get(timeout=5)
            while "warm-up" in item["text"]:  # one still on its way
                item = inbox.get(timeout=5)
            assert (item["id"], item["text"]) == (ack["id"], text), instance


def pages_on_instances(demo_page, base_url, count, tries=30):
    """Demo pages in Chromium (each its own cookies), one on each of ``count`` instances: {instance: page}."""
    pages = {}
    for _ in range(tries):
        page = demo_page()
        instance = page.request.get(base_url + "/_devbox/health").json()["instance"]
        pages.setdefault(instance, page)
        if len(pages) == count:
            return pages
    raise AssertionError(f"new pages landed on instances {sorted(pages)} only, in {tries} tries")


def test_chromium_pages_on_different_instances_see_each_others_posts(scaled, base_url, demo_page, unique_text):
    pages = pages_on_instances(demo_page, base_url, 2)
    first, second = sorted(pages)
    for sender, watcher in ((first, second), (second, first)):
        text = f"{unique_text} from instance {sender}"
        sender, watcher = pages[sender], pages[watcher]
        sender.fill("#text", text)
        sender.click("#notify-form button[type=submit]")
        expect(watcher.locator("#notifications li .text").first).to_have_text(text, timeout=10_000)
    assert all(page.errors == [] for page in pages.values())


def test_pages_of_a_killed_instance_move_to_another_and_catch_up(scaled, base_url, guests, demo_page, unique_text):
    pages = pages_on_instances(demo_page, base_url, 2)
    (dying, victim), (_, sender) = sorted(pages.items())
    before = devbox_guest.health(base_url, path=devbox_guest.instance_path(dying))["boot_id"]
    guests.of_instance(dying).run(f"sudo kill -9 {main_pid(guests, scaled, dying)}", hide=True)
    # Posted while the victim's instance is gone: its page must show it once it is back on another.
    sender.fill("#text", unique_text)
    sender.click("#notify-form button[type=submit]")
    expect(victim.locator("#notifications li .text", has_text=unique_text)).to_have_count(1, timeout=15_000)
    expect(victim.locator("#status")).to_have_text("live", timeout=10_000)
    wait_for_app(scaled)
    assert devbox_guest.health(base_url, path=devbox_guest.instance_path(dying))["boot_id"] != before
    assert victim.errors == []
