"""`fab reload`, for any app: the edited code answers through the forwarded
port, no request fails meanwhile, connected clients stay served, and code that
fails to load is reported in one line while the friendly page shows it."""

import os
import re
import resource
import shlex
import subprocess
import sys
import time


from bench import fanout
from devbox.host.guest import wait_for
from devbox.host.reload import expected_version
from devbox.settings import ROOT
from tests.helpers import Load, fab, reloading, worker_pids, workers_command
from tests.stack.conftest import round_trip

PLAIN = "tests/apps/plain"  # the second app; the stack suite runs against it too


def test_edited_code_answers_after_fab_reload(http, add_probe, settings):
    before = http.get("/_devbox/health").json()
    add_probe()
    expected = expected_version(settings)
    assert expected != before["version"]
    result = fab("reload")
    assert result.returncode == 0, result.stderr
    assert f"new code answering at http://localhost:{settings['host_port']} after" in result.stdout
    after = http.get("/_devbox/health").json()
    assert (after["version"], after["boot_id"] != before["boot_id"]) == (expected, True), result.stdout


def test_code_that_fails_to_load_is_one_line_the_friendly_page_and_fab_logs_show_it(http, add_probe, app_module,
                                                                                     settings):
    # The probe raises at import: only a worker that read the new file can fail like this.
    marker = add_probe('print("devbox probe {marker} printed"); raise RuntimeError("devbox probe {marker}")')
    line = len((ROOT / app_module).read_text().splitlines())
    result = fab("reload")
    assert result.returncode == 1
    error = f"RuntimeError: devbox probe {marker} ({app_module.removeprefix(settings['app']['folder'] + '/')}, line {line})"
    assert result.stderr.strip() == f"devbox: the new code failed to load: {error}; fix it and save again " \
                                    "(fab logs shows the traceback)"
    health = http.get("/_devbox/health")
    assert (health.status_code, health.json()["status"], health.json()["error"]) == (503, "error", error)
    page = http.get("/")
    assert page.status_code == 503
    assert 'id="devbox-unavailable"' in page.text and page.headers["Retry-After"] == "1"
    # What the app printed, and the traceback, each line tagged with its instance.
    logs = fab("logs", "--lines", "200")  # each instance's traceback, and under uWSGI each new vassal's start
    assert logs.returncode == 0, logs.stderr
    journal = logs.stdout.split("==> journal: the app's stdout and stderr <==", 1)[1]
    assert re.search(rf"-app-1\[\d+\]: RuntimeError: devbox probe {marker}$", journal, re.M), journal
    assert re.search(rf'File ".*/{re.escape(app_module)}", line {line}', journal), journal
    assert f"devbox probe {marker} printed" in journal


def test_an_apps_error_reaches_the_terminal_without_its_control_characters(http, add_probe):
    # An escape sequence in the app's words would clear (or retitle, or rewrite) the developer's terminal.
    marker = add_probe('raise RuntimeError("devbox probe {marker}\\x1b[2J\\x1b]0;owned\\x07")')
    result = fab("reload")
    assert result.returncode == 1
    assert "\x1b[2J" in http.get("/_devbox/health").json()["error"]  # the app's words hold them
    assert f"RuntimeError: devbox probe {marker}\\x1b[2J\\x1b]0;owned\\x07 (" in result.stderr, result.stderr
    assert "\x1b" not in result.stderr + result.stdout and "\x07" not in result.stderr


def test_no_request_fails_during_a_reload(base_url, http, add_probe):
    add_probe()
    # Whatever the app answers at / (a page, a redirect), it must answer the same throughout.
    expected = {"/": http.get("/").status_code, "/_devbox/health": 200}
    with Load(base_url, list(expected)) as load:
        result = fab("reload")
    assert result.returncode == 0, result.stderr
    assert len(load.answers) >= 30  # the load really ran across the reload
    assert [a for a in load.answers if a[1] != expected[a[0]]] == []


def test_a_client_connected_before_a_reload_is_served_or_told_at_once_to_reconnect(connect_socket, add_probe, guests,
                                                                                   settings):
    ws = connect_socket()
    add_probe()
    graceful = f"sudo journalctl -u {settings['app_units'][0]} -o cat | grep -c 'main gevent watchers stopped' || true"
    retired = int(guests.of_instance(1).run(graceful, hide=True).stdout)
    with reloading(guests, settings):
        # The retired worker serves it while the new one boots (under uWSGI, the old vassal).
        assert round_trip(ws)
    if settings["server"] == "uwsgi":
        # The old vassal retired by uWSGI's graceful path, which lets its requests
        # finish (not its immediate exit, which an early SIGHUP handler of devbox's
        # would leave: devbox/appserver/uwsgi_retire.py).
        assert wait_for(lambda: int(guests.of_instance(1).run(graceful, hide=True).stdout) > retired, timeout=15)


def test_an_invalid_nginx_config_is_refused_and_the_old_one_keeps_serving(http, edit, settings):
    template = "provision/guest/nginx/site.conf.j2"
    broken = (ROOT / template).read_text().replace("client_max_body_size {{ max_body_size }};",
                                                   "client_max_body_size sideways;", 1)
    edit(template, broken, live=False)
    result = fab("reload")
    assert result.returncode != 0
    assert "client_max_body_size" in result.stderr  # nginx's own message is shown
    assert "the nginx config is invalid" in result.stderr
    assert http.get("/_devbox/health").status_code == 200
    assert http.get("/").status_code < 500


def test_back_to_back_reloads_leave_no_worker_on_old_code(connect_socket, http, add_probe, guests, settings):
    # Connected clients keep each retired worker alive for a while; reloads
    # that come faster than that must still end with one worker, on new code.
    sockets = [connect_socket() for _ in range(3)]
    for _ in range(3):
        add_probe()
        assert fab("reload").returncode == 0
    expected = expected_version(settings)
    for ws in sockets:
        ws.close()  # retired workers may now finish at once

    for instance in range(1, settings["instances"] + 1):
        assert wait_for(lambda: len(worker_pids(guests, settings, instance)) == 1, timeout=45), \
            worker_pids(guests, settings, instance)
        assert {http.get(f"/_devbox/instances/{instance}/health").json()["version"] for _ in range(5)} == {expected}


def test_settings_that_name_another_app_than_the_guest_runs_are_one_line(settings):
    # The guest was provisioned with one app; fab here is told of another
    # (a DEVBOX_APP set for one command and not the next, say).
    env = {k: v for k, v in os.environ.items() if k != "DEVBOX_APP"}
    if settings["app"]["folder"] != PLAIN:
        env["DEVBOX_APP"] = PLAIN
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "fabric", "reload"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"devbox: the guest runs {settings['app']['wsgi']} from ")
    assert "run fab provision to apply them" in result.stderr
    assert time.monotonic() - started < 15  # said at once, not after waiting for a version that never comes


# Run in the guest right after the app unit's ExecReload returns: which of the
# instance's workers still hold the listening socket, and which is the newest.
HOLDERS = r"""
inode=$(bash {root}/provision/guest/app/listener.sh {bind})
workers=$({workers})
for pid in $workers; do
  [ -n "$(find /proc/$pid/fd -lname "socket:\[$inode\]" -print -quit 2>/dev/null)" ] && echo "holds $pid"
done
echo "newest $(echo "$workers" | tail -1)"
"""


def test_with_a_thousand_clients_the_reload_returns_only_once_old_code_stopped_accepting(guests, settings):
    # The old worker then holds over a thousand descriptors (the first
    # instance's share of them); the reload must still see that it has not let
    # go of the listening socket yet.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    clients = fanout.open_clients(f"http://{settings['host_ip']}:{settings['host_port']}", 1000)
    unit, guest = settings["app_units"][0], guests.of_instance(1)
    master = f"$(systemctl show -p MainPID --value {unit})"
    check = HOLDERS.format(workers=workers_command(settings, master), root=settings["paths"]["synced"],
                           bind=settings["app_binds"][0])
    try:
        for _ in range(3):
            before = guest.run(f"sudo bash -c {shlex.quote(check)}", hide=True).stdout
            out = guest.run(f"sudo systemctl reload {unit} && sudo bash -c {shlex.quote(check)}",
                            hide=True).stdout.split("\n")
            holders = [line.split()[1] for line in out if line.startswith("holds ")]
            newest = next(line.split()[1] for line in out if line.startswith("newest "))
            assert f"newest {newest}" not in before, (before, out)  # a new worker took over...
            assert holders == [newest], out  # ...and it alone takes requests
    finally:
        for ws in clients:
            ws.close()

