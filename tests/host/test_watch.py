"""`fab watch`: a saved .py is live on the forwarded port without running
anything; a saved stylesheet is swapped into open pages, a saved template
reloads them."""

import subprocess
import sys
import uuid

import pytest
from playwright.sync_api import expect

from app import source_version
from devbox import guest as devbox_guest
from devbox.settings import ROOT
from devbox.guest import wait_for


@pytest.fixture
def watcher():
    """`fab watch` running in the background for this test (ask for it after ``edit``,
    so that it stops before the edits are put back)."""
    process = subprocess.Popen([sys.executable, "-m", "fabric", "watch"], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    first = process.stdout.readline()
    assert first.startswith("watching "), first + process.stdout.read()
    yield process
    process.terminate()
    process.wait(timeout=10)


def test_a_saved_py_file_is_live_without_running_anything(edit, watcher, base_url):
    def version():
        return (devbox_guest.health_or_none(base_url) or {}).get("version")

    edit("app/health.py", (ROOT / "app/health.py").read_text() + f"\n# watch probe {uuid.uuid4().hex}\n")
    expected = source_version()
    assert wait_for(lambda: version() == expected, timeout=20), watcher.stdout.readline()


def test_a_saved_stylesheet_is_swapped_into_open_pages(edit, watcher, open_page):
    page = open_page()
    page.evaluate("window.notReloaded = true")
    css = "app/static/app.css"
    edit(css, (ROOT / css).read_text() + f"\nbody {{ outline: 0 solid #{uuid.uuid4().hex[:6]}; }}\n")
    assert wait_for(lambda: "v=" in page.eval_on_selector('link[rel="stylesheet"]', "l => l.href"), timeout=10)
    assert page.evaluate("window.notReloaded") is True  # swapped in place, not a reload


def test_a_saved_template_reloads_open_pages(edit, watcher, open_page):
    page = open_page()
    page.evaluate("window.notReloaded = true")
    template = "app/templates/index.html"
    marker = uuid.uuid4().hex
    edit(template, (ROOT / template).read_text().replace("<h1>Notifications</h1>", f"<h1>Notifications {marker}</h1>"))
    expect(page.locator("h1")).to_contain_text(marker, timeout=10_000)
    assert page.evaluate("window.notReloaded") is None  # a fresh page: the template is served without a restart
