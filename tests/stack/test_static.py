"""The app's static folder is nginx's own: straight from the synced folder,
fresh on every edit, never reaching gunicorn and never leaving the folder."""

import shlex
import subprocess
import uuid

import pytest

from devbox.settings import FRONT, ROOT
from tests.helpers import count_in_app_logs

pytestmark = pytest.mark.both_schemes


@pytest.fixture
def static(settings):
    """(folder on the host, URL prefix) of the app's static files."""
    folder = ROOT / settings["app"]["static"]["folder"]
    folder.mkdir(exist_ok=True)
    return folder, settings["app"]["static"]["url"]


@pytest.fixture
def probe(static, sync):
    """Factory: a file written into the static folder on the host (or ``where``),
    as fab watch would bring it into the guest; removed afterwards."""
    made = []

    def write(text, name=None, where=None):
        path = (where or static[0]) / (name or f"_probe-{uuid.uuid4().hex[:8]}.txt")
        path.write_text(text)
        made.append(path)
        sync(path)
        return path

    yield write
    for path in made:
        path.unlink(missing_ok=True)
    sync(*made)


def test_static_is_served_by_nginx_not_gunicorn(http, guest, guests, settings, static, probe):
    path = probe("served by nginx\n")
    marker = uuid.uuid4().hex
    response = http.get(f"{static[1]}{path.name}?probe={marker}")
    assert response.status_code == 200
    assert response.text == "served by nginx\n"
    assert response.headers["Server"] == "nginx"
    assert response.headers["Cache-Control"] == "no-cache"
    nginx_hits = guest.run(f"sudo grep -c {marker} {settings['nginx_logs']}/access.log", hide=True,
                           warn=True).stdout.strip()
    assert (nginx_hits, count_in_app_logs(guests, settings, marker)) == ("1", 0)


def test_a_saved_static_file_is_served_at_once(http, static, probe, sync):
    path = probe("first version\n")
    assert http.get(f"{static[1]}{path.name}").text == "first version\n"
    # Same size, new bytes: what sendfile on a shared folder gets wrong.
    path.write_text("second versi0n\n")
    sync(path)
    assert http.get(f"{static[1]}{path.name}").text == "second versi0n\n"


def test_unchanged_static_file_revalidates_to_304(http, static, probe):
    path = probe("body { color: black; }\n", name=f"_probe-{uuid.uuid4().hex[:8]}.css")
    first = http.get(f"{static[1]}{path.name}")
    again = http.get(f"{static[1]}{path.name}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("template", [
    "{prefix}../{name}",
    "{url}../{name}",
    "{url}%2e%2e/{name}",
    "{url}..%2f{name}",
    "{url}a/../../{name}",
])
def test_nothing_beside_the_static_folder_is_reachable(http, static, probe, template):
    # A file just outside the static folder: what a /static../ slip would expose.
    marker = uuid.uuid4().hex
    outside = probe(marker, where=static[0].parent)
    response = http.get(template.format(prefix=static[1].rstrip("/"), url=static[1], name=outside.name))
    assert marker not in response.text
    assert response.status_code in (400, 404)


def test_a_symlink_out_of_the_static_folder_is_not_followed(http, static, sync, settings):
    link = static[0] / f"_link-{uuid.uuid4().hex[:8]}.yaml"
    link.symlink_to(f"{settings['paths']['synced']}/devbox.yaml")  # where the guest has it
    sync(link)
    try:
        response = http.get(f"{static[1]}{link.name}")
    finally:
        link.unlink()
        sync(link)
    assert response.status_code in (403, 404)
    assert "host_port" not in response.text


def test_vagrants_own_copy_keeps_a_link_a_link(guest, guests, settings, static):
    # A VM's copy (libvirt): `vagrant up` and `vagrant rsync` copy as host root;
    # a link must arrive as a link (which nginx refuses), not as what it points at.
    if FRONT not in guests.copies():
        pytest.skip("the guest mounts the host's folder: there is no copy to make (lxc)")
    secret = ROOT / ".vagrant" / f"_probe-{uuid.uuid4().hex[:8]}"
    secret.write_text("host only\n")
    link = static[0] / f"_link-{uuid.uuid4().hex[:8]}.txt"
    link.symlink_to(secret)
    try:
        vagrant_rsync = subprocess.run(["vagrant", "rsync"], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert vagrant_rsync.returncode == 0, vagrant_rsync.stderr[-1500:]
        copied = f"{settings['paths']['synced']}/{link.relative_to(ROOT)}"
        assert guest.run(f"test -L {shlex.quote(copied)}", hide=True, warn=True).ok
        assert "host only" not in guest.run(f"sudo cat {shlex.quote(copied)}", hide=True, warn=True).stdout
    finally:
        link.unlink()
        secret.unlink()
        subprocess.run(["vagrant", "rsync"], cwd=ROOT, capture_output=True, timeout=600)


def test_dotfiles_in_the_static_folder_are_not_served(http, guests, settings, static, probe):
    hidden = probe("do not serve", name=f".secret-{uuid.uuid4().hex[:8]}")
    response = http.get(f"{static[1]}{hidden.name}")
    assert response.status_code == 403 and "do not serve" not in response.text
    # Refused by nginx itself: not even the app's own static route is asked.
    assert count_in_app_logs(guests, settings, hidden.name) == 0


def test_a_file_not_in_the_static_folder_is_asked_of_the_app(http, guests, settings, static):
    # Extensions serve files under the static prefix from their own packages.
    name = f"_missing-{uuid.uuid4().hex[:8]}.css"
    response = http.get(f"{static[1]}{name}")
    assert response.status_code == 404
    assert response.headers["Server"] == "nginx"  # server_tokens off: no version
    assert count_in_app_logs(guests, settings, name) == 1


def test_nginx_own_redirects_do_not_leak_the_guest_port(http, settings, static, sync):
    folder = static[0] / f"_dir-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    sync(folder)
    try:
        response = http.get(f"{static[1]}{folder.name}")
    finally:
        folder.rmdir()
        sync(folder)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{static[1]}{folder.name}/"
    assert str(settings["guest_port"]) not in response.headers["Location"]
