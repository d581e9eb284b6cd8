"""What the app's own user, and nginx's, may not do in the guest: steer what
root writes. nginx's master reopens its logs as root on USR1 (which the
minutely logrotate sends), so their folder is root's alone; in one the app's
user could change, a link put in a log's place has root create the file
wherever it points (CVE-2016-1247's pattern)."""

import uuid

import pytest

from devbox.settings import FRONT


@pytest.mark.parametrize("user", ["app", "www-data"])
def test_no_user_but_root_can_put_a_link_where_nginx_writes_its_logs(guests, settings, user):
    front, logs = guests[FRONT], settings["nginx_logs"]
    user = settings["name"] if user == "app" else user
    if front.run(f"id -u {user}", hide=True, warn=True).failed:
        pytest.skip(f"no user {user} on the front (its app runs on app guests)")
    target = f"/etc/devbox-probe-{uuid.uuid4().hex[:8]}"
    for log in ("error.log", "access.log"):
        planted = front.run(f"sudo -u {user} ln -sf {target} {logs}/{log}", hide=True, warn=True)
        assert planted.failed, f"{user} replaced {logs}/{log}"
    assert front.run(f"sudo stat -c '%U %a' {logs}", hide=True).stdout.split() == ["root", "755"]
    front.run("sudo bash -c 'kill -USR1 $(cat /run/nginx.pid)'", hide=True)  # a reopen, as after a rotation
    assert front.run(f"sudo test -e {target}", hide=True, warn=True).failed


def test_only_nginx_reaches_the_refresh_hub_inside_the_guest(guests, settings):
    # Its socket is open to all; the hub answers nginx's user alone, so another
    # user's process cannot take its page slots past nginx's limit per client.
    if not settings["dev_mode"]:
        pytest.skip("dev_mode: false runs no refresh hub")
    front, hub = guests[FRONT], f"/run/{settings['name']}-refresh/refresh.sock"
    for user, status in (("vagrant", "403"), (settings["name"], "403"), ("www-data", "404")):
        answer = front.run(f"sudo -u {user} curl -sS -o /dev/null -w '%{{http_code}}' --max-time 5 "
                           f"--unix-socket {hub} http://hub/elsewhere", hide=True, warn=True).stdout
        assert answer == status, f"{user}: {answer}"
