"""The nginx site and the systemd units, rendered from the settings: valid for
the real nginx binary, and moved entirely by a change in devbox.yaml."""

import copy
import os
import shutil
import subprocess

import pytest

from devbox import settings as devbox_settings
from devbox.guest.render import render
from devbox.settings import ROOT

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
INJECTION = "sub_filter '</head>' '<script src=\"/_devbox/refresh.js\" defer></script></head>';"


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


@pytest.fixture(scope="session")
def leaf(tmp_path_factory):
    """A certificate and key for localhost in one PEM file, from a CA of this run's own."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["mkcert", "-cert-file", folder / "cert.pem", "-key-file", folder / "key.pem", "localhost"],
                   env={**os.environ, "CAROOT": str(folder / "ca")}, check=True, capture_output=True)
    (folder / "site.pem").write_bytes((folder / "cert.pem").read_bytes() + (folder / "key.pem").read_bytes())
    return folder / "site.pem"


@pytest.fixture
def localize(tmp_path, leaf):
    """Factory: settings with guest paths pointed into tmp_path, so nginx -t can open them on the host."""

    def localize(settings):
        local = copy.deepcopy(settings)
        local["tls_file"] = local["tls_certificate"] = local["tls_certificate_key"] = str(leaf)
        local["tls_dhparam"] = str(ROOT / "provision/guest/nginx/ffdhe2048.pem")
        for key in ("synced", "logs"):
            (tmp_path / key).mkdir(exist_ok=True)
            local["paths"][key] = str(tmp_path / key)
        (tmp_path / "nginx-logs").mkdir(exist_ok=True)
        local["nginx_logs"] = str(tmp_path / "nginx-logs")
        (tmp_path / "synced" / local["app"]["static"]["folder"]).mkdir(parents=True, exist_ok=True)
        (tmp_path / "synced" / "static").mkdir(exist_ok=True)
        return local

    return localize


@pytest.fixture
def local_settings(settings, localize):
    """The settings (tests/unit/conftest.py's) with guest paths pointed into tmp_path."""
    return localize(settings)


@pytest.mark.parametrize("dev_mode", [True, False])
def test_rendered_site_passes_nginx_t(nginx_check, local_settings, dev_mode):
    local_settings["dev_mode"] = dev_mode
    site = render("nginx/site.conf.j2", local_settings)
    result = nginx_check(site)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
    # Development mode only: the refresh script in HTML pages, and the hub behind /_devbox/.
    assert (INJECTION in site, "/_devbox/events" in site, "Accept-Encoding" in site) == (dev_mode,) * 3


def test_a_broken_site_fails_nginx_t(nginx_check, local_settings):
    # The check above must be able to fail: the same site with one typo.
    broken = render("nginx/site.conf.j2", local_settings).replace("proxy_buffering off;", "proxy_bufering off;")
    result = nginx_check(broken)
    assert result.returncode != 0
    assert "proxy_bufering" in result.stderr


def test_changing_ports_moves_everything(nginx_check, raw, localize):
    raw.update(host_port=9101, guest_port=9100, app_port=9102, app_bind="tcp")
    local_settings = localize(devbox_settings.validate(raw))
    site = render("nginx/site.conf.j2", local_settings)
    unit = render("app/app@.service.j2", local_settings)
    assert "listen 9100;" in site
    assert "server 127.0.0.1:9102;" in site
    assert "(?:9100|9102)(/.*)?$ $1://$2:9101$3;" in site  # proxy_redirect to the new host port
    assert "--bind 127.0.0.1:9102" in unit
    for old in ("8001", "5000", "5001"):
        assert old not in site and old not in unit
    assert nginx_check(site).returncode == 0


def test_the_app_settings_move_the_static_folder_and_the_app(nginx_check, local_settings, tmp_path):
    local_settings["app"].update(folder="tests/apps/plain", wsgi="app:app",
                                 static={"folder": "tests/apps/plain/assets", "url": "/assets/"})
    (tmp_path / "synced" / "tests/apps/plain/assets").mkdir(parents=True)
    site = render("nginx/site.conf.j2", local_settings)
    unit = render("app/app@.service.j2", local_settings)
    synced = local_settings["paths"]["synced"]
    assert f"location ^~ /assets/ {{\n        alias {synced}/tests/apps/plain/assets/;" in site
    assert "location ^~ /static/" not in site
    assert f"--chdir {synced}/tests/apps/plain \\" in unit
    assert f'Environment="DEVBOX_WSGI=app:app" "DEVBOX_STATIC={synced}/tests/apps/plain/assets"' in unit
    assert nginx_check(site).returncode == 0


def test_only_the_devbox_names_reach_the_app(nginx_check, local_settings):
    local_settings["allowed_hosts"] = ["localhost", "127.0.0.1", "[::1]", "devbox.lan"]
    site = render("nginx/site.conf.j2", local_settings)
    assert '"~*^(localhost|127\\.0\\.0\\.1|\\[::1\\]|devbox\\.lan):(8001|5000|8443|5443)$" 1;' in site
    assert "if ($devbox_refuse_host) {\n        return 421;" in site
    for header in ("X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Prefix", "Forwarded"):
        assert f'proxy_set_header {header} "";' in site  # cleared: never a client's
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site  # not appended to the client's
    assert nginx_check(site).returncode == 0


def test_site_keeps_static_safe_and_websockets_working(local_settings):
    site = render("nginx/site.conf.j2", local_settings)
    static = f"{local_settings['paths']['synced']}/{local_settings['app']['static']['folder']}"
    assert f"location ^~ /static/ {{\n        alias {static}/;" in site  # both slashes: no /static../ escape
    assert "sendfile off;" in site
    # Not in the folder: asked of the app; a dotfile: refused before any fallback.
    assert "error_page 404 = @app;\n        location ~ /\\. { deny all; }" in site
    assert f"location @app {{\n        proxy_pass http://{local_settings['name']}_app;" in site
    assert "proxy_set_header Upgrade $http_upgrade;" in site
    assert "proxy_set_header Host $http_host;" in site  # keeps the port for the Origin check
    assert "absolute_redirect off;" in site
    assert "server_tokens off;" in site
    assert f"client_max_body_size {local_settings['max_body_size']};" in site


def test_one_instance_is_reached_on_its_unix_socket_with_no_cookie(nginx_check, raw, localize):
    raw.update(instances=1, app_bind="unix")
    local_settings = localize(devbox_settings.validate(raw))
    site = render("nginx/site.conf.j2", local_settings)
    unit = render("app/app@.service.j2", local_settings)
    assert f"upstream devbox_app {{\n    server unix:/run/devbox-app/1.sock;\n}}" in site
    assert "hash " not in site and "Set-Cookie" not in site
    assert "--bind unix:/run/devbox-app/%i.sock" in unit
    assert "ExecReload=/bin/bash /vagrant/provision/guest/app/reload.sh $MAINPID unix:/run/devbox-app/%i.sock" \
        .replace("/vagrant", local_settings["paths"]["synced"]) in unit
    # The sockets' folder: the app's, and entered by nginx's group alone.
    assert "ExecStartPre=+/usr/bin/install -d -o devbox -g www-data -m 750 /run/devbox-app" in unit
    assert nginx_check(site).returncode == 0


@pytest.mark.parametrize("nodes", [0, 2])
def test_gunicorn_believes_the_forwarded_scheme_of_nginx_alone(raw, nodes):
    # Over HTTPS the app must see https (X-Forwarded-Proto), from nginx only:
    # with app guests, the front's address, not anyone's on the bridge.
    raw.update(nodes=nodes, instances=1)
    settings = devbox_settings.validate(raw)
    trusted = settings["guests"]["default"]["address"] if nodes else "127.0.0.1,::1"
    assert f"--forwarded-allow-ips {trusted} " in render("app/app@.service.j2", settings)


def test_several_instances_are_balanced_by_a_cookie_nginx_hands_out(nginx_check, raw, localize):
    raw["instances"] = 3
    local_settings = localize(devbox_settings.validate(raw))
    site = render("nginx/site.conf.j2", local_settings)
    balanced = site[site.index("upstream devbox_app {"):].split("}", 1)[0]
    assert "    hash $devbox_route consistent;\n" in balanced
    # Never taken out for a while: a restarted instance gets its clients back at once.
    assert [line.strip() for line in balanced.splitlines() if "server " in line] == [
        f"server unix:/run/devbox-app/{i}.sock max_fails=0;" for i in (1, 2, 3)]
    # The route: the browser's cookie, or a random one set with the first answer.
    assert 'map $cookie_devbox_route $devbox_route {\n    ""      $request_id;' in site
    assert '""      "devbox_route=$request_id; Path=/; HttpOnly; SameSite=Lax";' in site
    assert "add_header Set-Cookie $devbox_set_route;" in site
    # Each instance's health, past the balancer.
    for i in (1, 2, 3):
        assert (f"location = /_devbox/instances/{i}/health {{\n        rewrite ^ /_devbox/health break;\n"
                f"        proxy_pass http://devbox_app_{i};") in site
    result = nginx_check(site)
    assert result.returncode == 0, result.stderr


def test_gthread_unit_has_a_thread_per_client(settings, monkeypatch):
    monkeypatch.setenv("DEVBOX_WORKER", "gthread")
    gthread = devbox_settings.load()
    unit = render("app/app@.service.j2", gthread)
    assert f"--worker-connections {2 * settings['max_clients']} \\\n    --threads {settings['max_clients']} \\" in unit
    assert "TasksMax=infinity" in unit


def test_unit_runs_devbox_entry_point_around_the_app(settings):
    unit = render("app/app@.service.j2", settings)
    assert f"ExecStart={settings['paths']['venv']}/bin/gunicorn devbox.appserver.wsgi:application \\" in unit
    assert f"--worker-class {settings['worker_class']} --workers 1 --worker-connections {settings['max_clients']}" in unit
    assert f'"DEVBOX_WSGI={settings["app"]["wsgi"]}"' in unit
    assert "--threads" not in unit
    assert f"LimitNOFILE={settings['max_clients'] * 2 + 1024}" in unit
    assert "Restart=always" in unit
    # The secret lives only in the guest, in a file made at provision time.
    assert "SECRET_KEY" not in unit
    assert f"EnvironmentFile={settings['paths']['config']}/secret.env" in unit


def test_uwsgi_serves_every_instance_over_the_uwsgi_protocol(raw, nginx_check, localize):
    # server: uwsgi: each instance's unit is an emperor holding the instance's
    # socket, its vassals devbox's ini; nginx speaks the uwsgi protocol to
    # them, the Socket.IO stream unbuffered, and sets the forwarding variables
    # itself, whatever a client sent.
    settings = devbox_settings.validate({**raw, "server": "uwsgi", "worker": "gevent", "instances": 2})
    unit = render("app/app@.service.j2", settings)
    config, synced = settings["paths"]["config"], settings["paths"]["synced"]
    assert (f"ExecStart={settings['paths']['venv']}/bin/python -m devbox.appserver.uwsgi_emperor "
            "unix:/run/devbox-app/%i.sock 2048 -- \\\n    /usr/bin/uwsgi --emperor /run/devbox-app/vassals-%i ") in unit
    assert f"--emperor-wrapper {synced}/provision/guest/app/uwsgi-vassal.sh\n" in unit
    assert "Type=notify\nNotifyAccess=main\n" in unit
    assert (f"uwsgi-vassals.sh start /run/devbox-app/vassals-%i {config}/uwsgi.ini\n" in unit
            and f"uwsgi-vassals.sh reload /run/devbox-app/vassals-%i {config}/uwsgi.ini $MAINPID "
                "unix:/run/devbox-app/%i.sock\n" in unit)
    assert "bin/gunicorn" not in unit and "app/reload.sh" not in unit
    ini = render("app/uwsgi.ini.j2", settings).splitlines()
    for line in ("module = devbox.appserver.wsgi:application", "master = true", "workers = 1",
                 f"gevent = {settings['max_clients']}", "gevent-early-monkey-patch = true",
                 f"hook-accepting1 = safeexec:/bin/bash {synced}/provision/guest/app/uwsgi-vassals.sh retire "
                 "/run/devbox-app/vassals-$(DEVBOX_INSTANCE) $(DEVBOX_EMPEROR_PID) %n",
                 f"virtualenv = {settings['paths']['venv']}", f"chdir = {settings['paths']['synced']}/app"):
        assert line in ini
    assert not [line for line in ini if line.startswith("socket")]  # the emperor's, handed to each vassal
    site = render("nginx/site.conf.j2", localize(settings))
    assert "proxy_pass http://devbox_app" not in site
    for location in ("location / {", "location @app {", "location = /_devbox/health {"):
        assert "        uwsgi_pass devbox_app;" in site.split(location, 1)[1].split("}", 1)[0]
    assert ("location /socket.io/ {\n        uwsgi_pass devbox_app;\n        uwsgi_buffering off;\n"
            "        uwsgi_read_timeout 1h;\n    }") in site
    assert "        rewrite ^ /_devbox/health break;\n        uwsgi_pass devbox_app_2;" in site
    for param in ("HTTP_X_FORWARDED_PROTO $scheme", 'HTTP_X_FORWARDED_HOST ""', 'HTTP_FORWARDED ""',
                  "HTTP_HOST $devbox_app_host_http",  # no proxy_redirect: the app makes host-port URLs itself
                  'HTTP_ACCEPT_ENCODING ""'):
        assert f"    uwsgi_param {param};\n" in site
    result = nginx_check(site)
    assert result.returncode == 0, result.stderr


def test_app_environment_has_what_devbox_offers_then_the_apps_own(settings):
    local = copy.deepcopy(settings)
    local["app"]["env"] = {"FLASK_NAME": "a b $HOME", "REDIS_URL": "redis://elsewhere:6379/1"}
    env = render("app/app.env.j2", local).splitlines()
    assert f"DATA_DIR='{settings['paths']['data']}'" in env
    assert not [line for line in env if line.startswith("SECRET_KEY=")]
    # Single quotes: no expansion by systemd or by the shell of `fab shell`; the app's value comes last and wins.
    assert env[-2:] == ["FLASK_NAME='a b $HOME'", "REDIS_URL='redis://elsewhere:6379/1'"]
    assert env.index("REDIS_URL='redis://127.0.0.1:6379/0'") < env.index("REDIS_URL='redis://elsewhere:6379/1'")


def test_refresh_hub_runs_confined_from_a_root_owned_copy(settings):
    unit = render("refresh/refresh.service.j2", settings)
    name = settings["name"]
    assert f"ExecStart=/usr/bin/python3 /usr/local/lib/{name}/refresh.py /run/{name}-refresh/refresh.sock" in unit
    assert "DynamicUser=yes" in unit and "ProtectSystem=strict" in unit
    assert f"LoadCredential=token:{settings['paths']['config']}/refresh.token" in unit


def test_app_guests_are_reached_over_tcp_and_share_the_fronts_redis(nginx_check, raw, localize, monkeypatch):
    raw["nodes"] = 2
    front = localize(devbox_settings.validate(raw))
    site = render("nginx/site.conf.j2", front)
    balanced = site[site.index("upstream devbox_app {"):].split("}", 1)[0]
    assert [line.strip() for line in balanced.splitlines() if "server " in line] == [
        "server 10.0.3.201:5001 max_fails=0;", "server 10.0.3.202:5001 max_fails=0;"]
    assert "    proxy_connect_timeout 2s;\n" in site  # an app guest that is gone holds no one long
    result = nginx_check(site)
    assert result.returncode == 0, result.stderr
    monkeypatch.setenv("DEVBOX_GUEST", "app2")
    app_guest = devbox_settings.validate(raw)
    unit = render("app/app@.service.j2", app_guest)
    assert "--bind 10.0.3.202:5001 " in unit and "ExecReload=/bin/bash /vagrant/provision/guest/app/reload.sh " \
        "$MAINPID 10.0.3.202:5001" in unit
    assert "redis-server.service" not in unit  # Redis is the front's
    assert "ExecStartPre=+/bin/chown -R devbox:devbox /var/lib/devbox" in unit  # the shared DATA_DIR, the app's
    # REDIS_URL comes with the password, from secret.env: not the guest's own loopback.
    assert not [line for line in render("app/app.env.j2", app_guest).splitlines() if line.startswith("REDIS_URL=")]
    # uWSGI's emperor holds the TCP socket, and still has the sockets' folder made, for its vassals.
    uwsgi_unit = render("app/app@.service.j2", devbox_settings.validate({**raw, "server": "uwsgi", "worker": "gevent"}))
    assert "-m devbox.appserver.uwsgi_emperor 10.0.3.202:5001 2048 -- " in uwsgi_unit
    assert "ExecStartPre=+/usr/bin/install -d -o devbox -g www-data -m 750 /run/devbox-app\n" in uwsgi_unit


@pytest.mark.parametrize("tls", [True, False])
def test_https_is_the_same_site_on_its_own_port_only_with_tls(nginx_check, raw, localize, tls):
    raw["tls"] = tls
    local_settings = localize(devbox_settings.validate(raw))
    site = render("nginx/site.conf.j2", local_settings)
    assert ("listen 5443 ssl http2;" in site) is tls
    assert (site.count("server {") == 2) is tls
    # No HSTS in development: plain HTTP on the host port keeps working.
    assert "Strict-Transport-Security" not in site
    if tls:
        https = site[site.index("listen 5443 ssl http2;"):]
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in https
        assert "https://$1:8443$2;" in https  # its redirects keep to the HTTPS host port
    assert nginx_check(site).returncode == 0
