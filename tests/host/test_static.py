"""/static/ is nginx's own: straight from the synced folder, fresh on every
edit, never reaching gunicorn and never leaving app/static."""

import uuid

import pytest

from devbox.settings import ROOT

STATIC = ROOT / "app" / "static"


@pytest.fixture
def probe_file():
    """A file written into app/static on the host, removed afterwards."""
    path = STATIC / f"_probe-{uuid.uuid4().hex[:8]}.txt"
    yield path
    path.unlink(missing_ok=True)


def test_static_is_served_by_nginx_not_gunicorn(http, guest, settings):
    marker = uuid.uuid4().hex
    response = http.get(f"/static/app.css?probe={marker}")
    assert response.status_code == 200
    assert response.text == (STATIC / "app.css").read_text()
    assert response.headers["Server"] == "nginx"
    assert response.headers["Cache-Control"] == "no-cache"
    logs = settings["paths"]["logs"]
    result = guest.run(f"sudo grep -c {marker} {logs}/nginx-access.log; sudo grep -c {marker} {logs}/app-access.log",
                       hide=True, warn=True)
    nginx_hits, app_hits = result.stdout.split()
    assert (nginx_hits, app_hits) == ("1", "0")


def test_a_saved_static_file_is_served_at_once(http, probe_file):
    probe_file.write_text("first version\n")
    assert http.get(f"/static/{probe_file.name}").text == "first version\n"
    # Same size, new bytes: what sendfile on a shared folder gets wrong.
    probe_file.write_text("second versi0n\n")
    assert http.get(f"/static/{probe_file.name}").text == "second versi0n\n"


def test_unchanged_static_file_revalidates_to_304(http):
    first = http.get("/static/app.js")
    again = http.get("/static/app.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", [
    "/static../devbox.yaml",
    "/static/../devbox.yaml",
    "/static/%2e%2e/devbox.yaml",
    "/static/..%2fdevbox.yaml",
    "/static/vendor/../../../devbox.yaml",
])
def test_nothing_outside_app_static_is_reachable(http, path):
    response = http.get(path)
    assert "host_port" not in response.text
    assert response.status_code in (400, 404)


def test_a_symlink_out_of_app_static_is_not_followed(http):
    link = STATIC / f"_link-{uuid.uuid4().hex[:8]}.yaml"
    link.symlink_to(ROOT / "devbox.yaml")
    try:
        response = http.get(f"/static/{link.name}")
    finally:
        link.unlink()
    assert response.status_code in (403, 404)
    assert "host_port" not in response.text


def test_dotfiles_in_app_static_are_not_served(http):
    hidden = STATIC / f".secret-{uuid.uuid4().hex[:8]}"
    hidden.write_text("do not serve")
    try:
        assert http.get(f"/static/{hidden.name}").status_code == 404
    finally:
        hidden.unlink()


def test_missing_static_file_is_404_without_version(http):
    response = http.get("/static/no-such-file.css")
    assert response.status_code == 404
    assert response.headers["Server"] == "nginx"  # server_tokens off: no version
