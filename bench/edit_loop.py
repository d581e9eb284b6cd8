"""Edit-loop latency with `fab watch` running, measured through the forwarded port.

    .venv/bin/python -m bench.edit_loop [--runs 10]

- save a .py file -> /healthz reports the new code's version;
- save app/static/app.css -> an open page has swapped its stylesheet;
- save a template -> an open page has reloaded and shows the change.

Each run writes a unique change, the clock starts at the write. Medians and
spreads over the runs; every file is restored at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid

from playwright.sync_api import sync_playwright

from app import source_version
from devbox import browser as devbox_browser
from devbox import guest as devbox_guest
from devbox import settings as devbox_settings
from devbox.settings import ROOT

PY, CSS, TEMPLATE = ROOT / "app/health.py", ROOT / "app/static/app.css", ROOT / "app/templates/index.html"
STYLESHEET = "document.querySelector('link[rel=stylesheet]').href"


def summary(samples):
    ordered = sorted(samples)
    return {"runs": len(ordered), "median_s": round(statistics.median(ordered), 3),
            "min_s": round(ordered[0], 3), "max_s": round(ordered[-1], 3)}


def save_py(base_url, text):
    """Write app code and return the seconds until /healthz reports its version."""
    PY.write_text(text)
    expected, started = source_version(), time.monotonic()
    while True:
        if (devbox_guest.health_or_none(base_url) or {}).get("version") == expected:
            return time.monotonic() - started
        if time.monotonic() - started > 30:
            raise SystemExit("bench: new code did not answer within 30 s; is fab watch reloading?")
        time.sleep(0.01)


def measure_py(base_url, runs):
    original = PY.read_text()
    samples = []
    try:
        for _ in range(runs):
            samples.append(save_py(base_url, original + f"\n# edit-loop probe {uuid.uuid4().hex}\n"))
            time.sleep(1)  # a developer's pause between saves
    finally:
        save_py(base_url, original)
        time.sleep(1)  # the page refresh that follows the reload is not part of the next measure
    return samples


def measure_page(base_url, runs, path, change, ready):
    """Save ``change(original, marker)`` to ``path``; time until the JS ``ready({marker, before})``
    holds in an open page (``before``: the stylesheet URL before the save)."""
    original = path.read_text()
    samples = []
    with sync_playwright() as playwright:
        browser = devbox_browser.launch(playwright)
        page = browser.new_page()
        page.goto(base_url + "/")
        page.wait_for_function("document.getElementById('status').dataset.state === 'live'")
        try:
            for _ in range(runs):
                marker = uuid.uuid4().hex[:12]
                before = page.evaluate(STYLESHEET)
                started = time.monotonic()
                path.write_text(change(original, marker))
                page.wait_for_function(ready, arg={"marker": marker, "before": before}, timeout=30_000)
                samples.append(time.monotonic() - started)
                page.wait_for_function("document.getElementById('status').dataset.state === 'live'")
        finally:
            path.write_text(original)
            browser.close()
    return samples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    base_url = devbox_settings.base_url(devbox_settings.load())
    watcher = subprocess.Popen([sys.executable, "-m", "fabric", "watch"], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if not watcher.stdout.readline().startswith("watching "):
            raise SystemExit("bench: fab watch did not start; is the devbox up?")
        results = {
            "py_save_to_new_code": summary(measure_py(base_url, args.runs)),
            "css_save_to_swapped": summary(measure_page(
                base_url, args.runs, CSS,
                lambda text, marker: text + f"\n/* {marker} */\n",
                f"a => {STYLESHEET} !== a.before")),
            "template_save_to_reloaded": summary(measure_page(
                base_url, args.runs, TEMPLATE,
                lambda text, marker: text.replace("<h1>Notifications</h1>", f"<h1>Notifications {marker}</h1>"),
                "a => document.querySelector('h1') && document.querySelector('h1').textContent.includes(a.marker)")),
        }
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
    print("| measure | runs | median | min | max |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['runs']} | {r['median_s']:.3f} s | {r['min_s']:.3f} s | {r['max_s']:.3f} s |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
