"""The nginx site and the systemd unit, rendered from the settings: valid for
the real nginx binary, and moved entirely by a change in devbox.yaml."""

import copy
import shutil
import subprocess

import pytest

from devbox import settings as devbox_settings
from devbox.render import render

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def nginx_check(tmp_path):
    """Run the real ``nginx -t`` on a rendered site inside a throw-away prefix."""

    def check(site_text):
        (tmp_path / "site.conf").write_text(site_text)
        (tmp_path / "nginx.conf").write_text(
            f"error_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\nevents {{}}\n"
            f"http {{ include /etc/nginx/mime.types; include {tmp_path}/site.conf; }}\n")
        return subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                              capture_output=True, text=True)

    return check


@pytest.fixture
def local_settings(settings, tmp_path):
    """The settings with guest paths pointed into tmp_path, so nginx -t can open them on the host."""
    local = copy.deepcopy(settings)
    for key in ("static", "errors", "logs"):
        (tmp_path / key).mkdir()
        local["paths"][key] = str(tmp_path / key)
    return local


def test_rendered_site_passes_nginx_t(nginx_check, local_settings):
    result = nginx_check(render("nginx-site.conf.j2", local_settings))
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_a_broken_site_fails_nginx_t(nginx_check, local_settings):
    # The check above must be able to fail: the same site with one typo.
    broken = render("nginx-site.conf.j2", local_settings).replace("proxy_buffering off;", "proxy_bufering off;")
    result = nginx_check(broken)
    assert result.returncode != 0
    assert "proxy_bufering" in result.stderr


def test_changing_ports_moves_everything(nginx_check, local_settings):
    local_settings.update(host_port=9101, guest_port=9100, app_port=9102)
    site = render("nginx-site.conf.j2", local_settings)
    unit = render("app.service.j2", local_settings)
    assert "listen 9100;" in site
    assert "server 127.0.0.1:9102;" in site
    assert "(?:9100|9102)(/.*)?$ $1://$2:9101$3;" in site  # proxy_redirect to the new host port
    assert "--bind 127.0.0.1:9102" in unit
    for old in ("8001", "5000", "5001"):
        assert old not in site and old not in unit
    assert nginx_check(site).returncode == 0


def test_site_keeps_static_safe_and_websockets_working(local_settings):
    site = render("nginx-site.conf.j2", local_settings)
    static = local_settings["paths"]["static"]
    assert f"location ^~ /static/ {{\n        alias {static}/;" in site  # both slashes: no /static../ escape
    assert "sendfile off;" in site
    assert "proxy_set_header Upgrade $http_upgrade;" in site
    assert "proxy_set_header Host $http_host;" in site  # keeps the port for the Origin check
    assert "absolute_redirect off;" in site
    assert "server_tokens off;" in site
    assert f"client_max_body_size {local_settings['max_body_size']};" in site


def test_gthread_unit_has_a_thread_per_client(settings, monkeypatch):
    monkeypatch.setenv("DEVBOX_WORKER", "gthread")
    gthread = devbox_settings.load()
    unit = render("app.service.j2", gthread)
    assert f"--worker-connections {2 * settings['max_clients']} \\\n    --threads {settings['max_clients']} \\" in unit
    assert "TasksMax=infinity" in unit


def test_unit_runs_one_worker_of_the_configured_class(settings):
    unit = render("app.service.j2", settings)
    env = render("app.env.j2", settings)
    assert f"--worker-class {settings['worker_class']} --workers 1 --worker-connections {settings['max_clients']}" in unit
    assert "--threads" not in unit
    assert f"LimitNOFILE={settings['max_clients'] * 2 + 1024}" in unit
    assert f"DEVBOX_ASYNC_MODE={settings['async_mode']}" in env
    assert f"DEVBOX_MAX_CONTENT_LENGTH={settings['max_body_bytes']}" in env
    assert "Restart=always" in unit
    # The secret lives only in the guest, in a file made at provision time.
    assert "SECRET_KEY" not in unit + env
    assert f"EnvironmentFile={settings['paths']['config']}/secret.env" in unit
