"""Edit-loop latency with `fab watch` running, measured through the forwarded port, for any app.

    .venv/bin/python -m bench.edit_loop [--runs 10] [--template templates/base.html] [--quiet 0.05]

- save a .py file (the app's WSGI module, a unique comment appended) ->
  devbox's health reports the new code's version;
- save a stylesheet (one in the app's static folder, linked into the open
  page) -> the open page has swapped it;
- save a template (the first one with </body>, a marker comment added) -> the
  open page has reloaded and shows the marker.

Each run writes a unique change, the clock starts at the write. Medians and
spreads over the runs; every file is restored (or removed) at the end.

--compare-preload measures the .py save twice, side by side: with the gunicorn
master preloading the app's libraries (devbox/appserver/gunicorn_conf.py) and
without (a systemd drop-in under /run turns it off), alternating in batches.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from playwright.sync_api import sync_playwright

from devbox import settings as devbox_settings
from devbox.host import browser as devbox_browser
from devbox.host import guest as devbox_guest
from devbox.host.reload import expected_version
from devbox.settings import ROOT

STYLESHEET = "document.getElementById('devbox-bench').href"
LISTENING = "window.devboxRefresh && window.devboxRefresh.connected"


def summary(samples):
    ordered = sorted(samples)
    return {"runs": len(ordered), "median_s": round(statistics.median(ordered), 3),
            "min_s": round(ordered[0], 3), "max_s": round(ordered[-1], 3)}


def wsgi_module(settings) -> Path:
    module = settings["app"]["wsgi"].split(":", 1)[0].replace(".", "/")
    folder = ROOT / settings["app"]["folder"]
    return next(p for p in (folder / f"{module}.py", folder / module / "__init__.py") if p.exists())


def first_template(settings) -> Path:
    templates = sorted((ROOT / settings["app"]["folder"]).rglob("templates/**/*.html"))
    for path in templates:
        if "</body>" in path.read_text():
            return path
    raise SystemExit("bench: no template with </body> in the app; name one with --template")


def save_py(settings, path: Path, text: str) -> float:
    """Write app code and return the seconds until devbox's health reports its version."""
    url = devbox_settings.base_url(settings)
    path.write_text(text)
    expected, started = expected_version(settings), time.monotonic()
    while (devbox_guest.health_or_none(url) or {}).get("version") != expected:
        if time.monotonic() - started > 30:
            raise SystemExit("bench: new code did not answer within 30 s; is fab watch reloading?")
        time.sleep(0.005)
    return time.monotonic() - started


def measure_py(settings, runs):
    path = wsgi_module(settings)
    original = path.read_text()
    samples = []
    try:
        for _ in range(runs):
            samples.append(save_py(settings, path, original + f"\n# edit-loop probe {uuid.uuid4().hex}\n"))
            time.sleep(1)  # a developer's pause between saves
    finally:
        save_py(settings, path, original)
        time.sleep(1)  # the page refresh that follows the reload is not part of the next measure
    return samples


def measure_page(settings, runs, path: Path, change, ready, setup=None):
    """Save ``change(original, marker)`` to ``path``; time until the JS ``ready({marker, before})``
    holds in an open page (``before``: the probe stylesheet's URL before the save)."""
    existed = path.exists()
    original = path.read_text() if existed else ""
    samples = []
    with sync_playwright() as playwright:
        browser = devbox_browser.launch(playwright)
        page = browser.new_page()
        try:
            page.goto(devbox_settings.base_url(settings) + "/")
            page.wait_for_function(LISTENING)
            if setup:
                setup(page)
            for _ in range(runs):
                marker = uuid.uuid4().hex[:12]
                before = page.evaluate(STYLESHEET) if setup else None
                started = time.monotonic()
                path.write_text(change(original, marker))
                page.wait_for_function(ready, arg={"marker": marker, "before": before}, timeout=30_000)
                samples.append(time.monotonic() - started)
                page.wait_for_function(LISTENING)
                time.sleep(0.5)
        finally:
            if existed:
                path.write_text(original)
            else:
                path.unlink(missing_ok=True)
            browser.close()
    return samples


@contextlib.contextmanager
def preloading(settings, on: bool):
    """The app restarted with the master's preloading on or off, for the block."""
    conn = devbox_guest.connection()
    name = settings["name"]
    dropin = f"/run/systemd/system/{name}@.service.d/bench-no-preload.conf"

    def restart():
        conn.run(f"sudo systemctl daemon-reload && sudo systemctl restart {' '.join(settings['app_units'])}",
                 hide=True)
        url = devbox_settings.base_url(settings)
        if not devbox_guest.wait_for(lambda: (devbox_guest.health_or_none(url) or {}).get("status") == "ok", 30):
            raise SystemExit("bench: the app did not come back after a restart")
        time.sleep(1)

    if not on:
        conn.run(f"sudo mkdir -p {dropin.rsplit('/', 1)[0]} && printf '[Service]\\nEnvironment=DEVBOX_PRELOAD_RECORD=\\n'"
                 f" | sudo tee {dropin} >/dev/null", hide=True)
        restart()
    try:
        yield
    finally:
        if not on:
            conn.run(f"sudo rm -f {dropin}", hide=True)
            restart()
        conn.close()


def compare_preload(settings, runs, batch=5):
    samples = {"with_preload": [], "without_preload": []}
    for _ in range(max(1, runs // batch)):
        for key, on in (("with_preload", True), ("without_preload", False)):
            with preloading(settings, on):
                samples[key] += measure_py(settings, batch)
    return {f"py_save_to_new_code_{key}": summary(values) for key, values in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--template", help="template to edit, relative to the app folder (default: the first "
                                           "with </body>)")
    parser.add_argument("--quiet", type=float, help="fab watch's quiet spell, in seconds (default: its own)")
    parser.add_argument("--compare-preload", action="store_true",
                        help="only the .py save, with and without the master preloading, side by side")
    args = parser.parse_args(argv)
    settings = devbox_settings.load()
    template = ROOT / settings["app"]["folder"] / args.template if args.template else first_template(settings)
    static = ROOT / settings["app"]["static"]["folder"]
    static.mkdir(exist_ok=True)
    css = static / "_devbox-bench.css"
    css_url = settings["app"]["static"]["url"] + css.name

    def link_stylesheet(page):
        page.evaluate("url => { const l = document.createElement('link'); l.rel = 'stylesheet';"
                      " l.id = 'devbox-bench'; l.href = url; document.head.append(l); }", css_url)

    css.write_text("/* devbox edit-loop probe */\n")
    quiet = ["--quiet", str(args.quiet)] if args.quiet is not None else []
    watcher = subprocess.Popen([sys.executable, "-m", "fabric", "watch", *quiet], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if not watcher.stdout.readline().startswith("watching "):
            raise SystemExit("bench: fab watch did not start; is the devbox up?")
        results = compare_preload(settings, args.runs) if args.compare_preload else {
            "py_save_to_new_code": summary(measure_py(settings, args.runs)),
            "css_save_to_swapped": summary(measure_page(
                settings, args.runs, css, lambda text, marker: f"/* {marker} */\n",
                f"a => {STYLESHEET} !== a.before", setup=link_stylesheet)),
            "template_save_to_reloaded": summary(measure_page(
                settings, args.runs, template,
                lambda text, marker: text.replace("</body>", f"<!-- {marker} --></body>", 1),
                "a => document.documentElement.outerHTML.includes(a.marker)")),
        }
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        css.unlink(missing_ok=True)
    print(f"app {settings['app']['wsgi']} in {settings['app']['folder']}/, {settings['worker']} worker; "
          f"template {template.relative_to(ROOT)}")
    print("| measure | runs | median | min | max |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['runs']} | {r['median_s']:.3f} s | {r['min_s']:.3f} s | {r['max_s']:.3f} s |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
