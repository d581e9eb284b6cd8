"""Debian's Chromium under Playwright, as the tests and benchmarks drive it.
No browser is downloaded: Playwright is pointed at /usr/bin/chromium."""

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless, and quiet: without these flags Chromium keeps dialling Google's
# services, which a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def launch(playwright):
    """A headless Chromium browser from a started ``sync_playwright()``."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
