"""A real browser (Debian's Chromium driven by Playwright) through the
forwarded port: what one page sends, another shows live, without a reload."""

import os

from playwright.sync_api import expect

from devbox.settings import ROOT


def test_a_notification_sent_in_one_page_appears_live_in_another(demo_page, unique_text):
    sender, watcher = demo_page(), demo_page()
    sender.fill("#text", unique_text)
    sender.click("#notify-form button[type=submit]")
    expect(watcher.locator("#notifications li .text").first).to_have_text(unique_text, timeout=10_000)
    expect(sender.locator("#notifications li .text").first).to_have_text(unique_text)
    expect(sender.locator("#text")).to_have_value("")
    # Exactly once on each page, although both the broadcast and the catch-up may carry it.
    for page in (sender, watcher):
        assert page.locator("#notifications li .text", has_text=unique_text).count() == 1
        assert page.errors == []


def test_over_https_a_notification_appears_live_in_another_page(demo_page, https_url, unique_text):
    # Pages over HTTP/2, Socket.IO over wss, the broadcast through the message queue.
    sender, watcher = demo_page(base_url=https_url), demo_page(base_url=https_url)
    assert watcher.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
    sender.fill("#text", unique_text)
    sender.click("#notify-form button[type=submit]")
    expect(watcher.locator("#notifications li .text").first).to_have_text(unique_text, timeout=10_000)
    assert sender.errors == [] and watcher.errors == []


def test_an_empty_notification_shows_the_error_in_the_page(demo_page):
    page = demo_page()
    page.locator("#text").evaluate("el => el.removeAttribute('required')")
    page.fill("#text", "   ")
    page.click("#notify-form button[type=submit]")
    expect(page.locator("#form-error")).to_contain_text("empty")


def test_a_screenshot_of_the_demo(demo_page, tmp_path):
    """The README's picture of the demo, taken here so that it shows what runs.
    DEVBOX_SCREENSHOT=1 writes it to docs/demo.png; otherwise to a scratch file."""
    page = demo_page()
    page.set_viewport_size({"width": 900, "height": 560})
    for text in ("Deploy finished: version 42 is live", "Build #311 passed", "Welcome to the team channel"):
        page.fill("#text", text)
        page.click("#notify-form button[type=submit]")
        expect(page.locator("#notifications li .text").first).to_have_text(text, timeout=10_000)
        # The broadcast may come before the form's own answer, which empties the
        # field: the next text is typed once it has.
        expect(page.locator("#text")).to_have_value("")
    target = ROOT / "docs" / "demo.png" if os.environ.get("DEVBOX_SCREENSHOT") == "1" else tmp_path / "demo.png"
    page.screenshot(path=target)
    assert target.read_bytes().startswith(b"\x89PNG") and page.errors == []
