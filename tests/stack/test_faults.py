"""Faults injected into the real stack, each bounded in time: what the browser
gets meanwhile, and that everything comes back by itself. (Code that fails to
load and an invalid nginx template have their tests with the reloads; the
guest halted under fab, with the host's tests.)"""

import shlex
import time
import uuid

from devbox.host import guest as devbox_guest
from devbox.host.guest import wait_for
from devbox.settings import FRONT, ROOT
from tests.helpers import Load, fab, on_app_guests, wait_for_app
from tests.stack.conftest import round_trip


def test_a_killed_master_is_the_friendly_page_or_another_instance_meanwhile_and_back_by_itself(
        base_url, http, guests, settings):
    normal = http.get("/").status_code
    before = http.get("/_devbox/health").json()  # the instance this client keeps to
    instance = devbox_guest.instance_path(before["instance"])
    host = guests.of_instance(before["instance"])
    # The worker's master: gunicorn's, or under uWSGI its vassal's, which the emperor starts again at once.
    master = host.run(f"ps -o ppid= -p {before['pid']}", hide=True).stdout.strip()
    workers = host.run(f"pgrep -P {master}", hide=True).stdout.split()
    # The kill, and back once its workers are gone too (systemd ends them with
    # the unit; a uWSGI worker ends itself once its master is gone): until then
    # they take requests, and may be cut while answering.
    gone = (f"for _ in $(seq 2000); do alive=; for p in {' '.join(workers)}; do "
            "[ -e /proc/$p ] && ! grep -qs '^State:.*Z' /proc/$p/status && alive=1; done; "
            '[ -z "$alive" ] && break; sleep 0.01; done')
    with Load(base_url, ["/"], cookies=http.cookies) as load:
        time.sleep(0.2)
        host.run(f"sudo kill -9 {master}; {gone}", hide=True)
        killed = time.monotonic()
        back = wait_for(lambda: (devbox_guest.health_or_none(base_url, instance) or {}).get("boot_id")
                        not in (None, before["boot_id"]), timeout=30)
        time.sleep(0.2)
    assert back
    # From then on, never a raw 502 or a dropped connection: the app's answer,
    # or devbox's page that retries.
    after = [a for a, began in zip(load.answers, load.started) if began > killed]
    odd = [a for a in after if a[1] != normal and not (a[1] == 503 and a[2])]
    assert odd == [], odd[:5]
    assert len(after) > 10
    # Alone, the instance was the friendly page meanwhile; with others, they took its clients. Under
    # uWSGI its socket is the emperor's, which outlives the vassal: its requests waited for the next.
    assert any(a[2] for a in after) == (settings["instances"] == 1 and settings["server"] != "uwsgi")


def test_redis_stopped_and_started_again(http, guest, settings):
    try:
        guest.run("sudo systemctl stop redis-server", hide=True)
        assert http.get("/").status_code < 500  # pages go on
        status = fab("status").stdout
        assert "redis     inactive, does NOT answer" in status, status
    finally:
        guest.run("sudo systemctl start redis-server", hide=True)
    assert "redis     active, answers" in fab("status").stdout


def test_a_restart_with_clients_connected_ends_in_time_without_sigkill(connect_socket, guests, settings):
    sockets = [connect_socket() for _ in range(20)]
    assert round_trip(sockets[0])
    since = guests.front.run("date '+%Y-%m-%d %H:%M:%S'", hide=True).stdout.strip()
    for name, conn in guests.app_guests():
        started = time.monotonic()
        conn.run(f"sudo systemctl restart {guests.units(name)}", hide=True)
        # systemd's stop timeout: gunicorn's own graceful timeout ended it first
        assert time.monotonic() - started < 15, name
    wait_for_app(settings)
    journals = on_app_guests(guests, f"sudo journalctl -u '{settings['name']}@*' --since {shlex.quote(since)} --no-pager")
    for journal in (result.stdout for result in journals):
        assert "SIGKILL" not in journal and "timed out" not in journal, journal[-2000:]


def test_logs_are_rotated_by_size_and_logging_goes_on(http, guests, settings):
    name = settings["name"]
    nginx, app = f"{settings['nginx_logs']}/access.log", f"{settings['paths']['logs']}/app-access.log"
    instance = http.get("/_devbox/health").json()["instance"]  # this client's, from now on
    # nginx's log on the front, the app's on each guest that runs it (with nodes: 0, one guest).
    big = {FRONT: [nginx]}
    for guest, _ in guests.app_guests():
        big.setdefault(guest, []).append(app)
    try:
        for guest, files in big.items():
            guests[guest].run(" && ".join(f"sudo truncate -s 60M {log}" for log in files), hide=True)
            guests[guest].run(f"sudo systemctl start {name}-logrotate.service", hide=True)
            # In root's shell: the folders are not the SSH user's to list.
            sizes = guests[guest].run(f"sudo bash -c \"stat -c '%n %s' {' '.join(f'{log} {log}.1' for log in files)}\"",
                                      hide=True, warn=True).stdout
            for log in files:
                assert f"{log}.1 62914560" in sizes, sizes  # the old one moved aside

        # nginx and gunicorn both write to the new files: they reopen them on USR1
        # (nginx's workers a moment after its master).
        def logged_in_new_files():
            marker = uuid.uuid4().hex
            http.get(f"/?probe={marker}")
            found = [guests[guest].run(f"sudo grep -l {marker} {log}", hide=True, warn=True).stdout.strip()
                     for guest, log in ((FRONT, nginx), (settings["instance_guests"][instance - 1], app))]
            return found == [nginx, app]

        assert wait_for(logged_in_new_files, timeout=10, interval=0.2)
    finally:
        for guest, files in big.items():
            guests[guest].run(f"sudo rm -f {' '.join(f'{log}.1' for log in files)}", hide=True)


def test_a_first_nginx_site_that_fails_leaves_nothing_behind(http, guest, settings, sync):
    name = settings["name"]
    site, enabled = f"/etc/nginx/sites-available/{name}.conf", f"/etc/nginx/sites-enabled/{name}.conf"
    template = ROOT / "provision/guest/nginx/site.conf.j2"
    original = template.read_text()
    step = devbox_guest.provision_command(settings, "nginx")
    guest.run(f"sudo mv {site} /root/devbox-site.saved && sudo rm -f {enabled}", hide=True)
    try:
        template.write_text(original.replace("client_max_body_size {{ max_body_size }};",
                                             "client_max_body_size sideways;", 1))
        sync(template)
        result = guest.run(step, hide=True, warn=True)
        assert result.failed and "the rendered nginx config is invalid" in result.stderr
        leftovers = guest.run(f"ls {site} {enabled}", hide=True, warn=True)
        assert leftovers.stdout.strip() == ""  # no dangling link for every later nginx -t to trip over
        assert guest.run("sudo nginx -t", hide=True, warn=True).ok
        assert http.get("/_devbox/health").status_code == 200  # the running config kept serving
    finally:
        template.write_text(original)
        sync(template)
        guest.run(step, hide=True)
        guest.run("sudo rm -f /root/devbox-site.saved", hide=True)
    assert guest.run(f"test -L {enabled}", hide=True, warn=True).ok
