"""A real browser (Debian's Chromium driven by Playwright) through the
forwarded port: what one page sends, another shows live, without a reload."""

import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless, and quiet: without these flags Chromium keeps dialling Google's
# services, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for the whole module."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, base_url):
    """Factory: a fresh page (own cookies) on the devbox, with its console errors collected."""
    contexts = []

    def open_page():
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(base_url + "/")
        expect(page.locator("#status")).to_have_text("live", timeout=10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def test_a_notification_sent_in_one_page_appears_live_in_another(open_page, unique_text):
    sender, watcher = open_page(), open_page()
    sender.fill("#text", unique_text)
    sender.click("#notify-form button[type=submit]")
    expect(watcher.locator("#notifications li .text").first).to_have_text(unique_text, timeout=10_000)
    expect(sender.locator("#notifications li .text").first).to_have_text(unique_text)
    expect(sender.locator("#text")).to_have_value("")
    # Exactly once on each page, although both the broadcast and the catch-up may carry it.
    for page in (sender, watcher):
        assert page.locator("#notifications li .text", has_text=unique_text).count() == 1
        assert page.errors == []


def test_an_empty_notification_shows_the_error_in_the_page(open_page):
    page = open_page()
    page.locator("#text").evaluate("el => el.removeAttribute('required')")
    page.fill("#text", "   ")
    page.click("#notify-form button[type=submit]")
    expect(page.locator("#form-error")).to_contain_text("empty")
