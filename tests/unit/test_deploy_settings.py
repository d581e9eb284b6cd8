"""deploy.yaml and the production profile: checked like devbox.yaml, and
nothing of development reaches a server."""

import io
import os
import tarfile

import pytest
import yaml

from devbox import settings as devbox_settings
from devbox.guest.render import render
from devbox.host import deploy as devbox_deploy
from tests.unit.test_rendered_configs import leaf, localize, nginx_check  # noqa: F401 (fixtures)

DEPLOY = {
    "server": "admin@203.0.113.10",
    "domains": ["Example.com", "www.example.com"],
    "acme": {"email": "ops@example.com"},
}


@pytest.fixture
def deploy_file(repo):
    def write(values=DEPLOY):
        path = repo / "deploy.yaml"
        path.write_text(yaml.safe_dump(values))
        return path
    return write


def test_deploy_settings_fill_in_defaults(deploy_file):
    d = devbox_settings.load_deploy(deploy_file())
    assert d["ssh"] == {"default": {"name": "admin@203.0.113.10", "user": "admin", "host": "203.0.113.10", "port": 22}}
    assert d["domains"] == ["example.com", "www.example.com"]
    assert d["acme"]["directory"] == devbox_settings.LETS_ENCRYPT
    assert (d["instances"], d["keep_releases"]) == (0, 5)


@pytest.mark.parametrize("server, ssh", [
    ("example.org", {"user": "root", "host": "example.org", "port": 22}),
    ("deploy@example.org:2222", {"user": "deploy", "host": "example.org", "port": 2222}),
    ("root@[2001:db8::1]:22", {"user": "root", "host": "2001:db8::1", "port": 22}),
])
def test_the_server_is_an_ssh_address(deploy_file, server, ssh):
    assert devbox_settings.load_deploy(deploy_file({**DEPLOY, "server": server}))["ssh"]["default"] == {"name": server, **ssh}


@pytest.mark.parametrize("change, message", [
    ({"server": "admin@host; rm -rf /"}, "server: 'admin@host; rm -rf /' is not valid; set it to your server's"),
    ({"server": "admin@host:70000"}, "server: port 70000 in 'admin@host:70000' is not a port"),
    ({"domains": []}, "domains: empty; list the site's names"),
    ({"domains": ["exa mple.com"]}, "domains: 'exa mple.com' is not valid"),
    ({"domain": ["example.com"]}, "domain: unknown setting; did you mean domains?"),
    ({"acme": {"email": "ops@example.com", "directory": "http://insecure/dir"}}, "acme.directory: 'http://insecure/dir'"),
    ({"acme": {"email": "ops@example.com", "ca_bundle": "no/such.pem"}}, "acme.ca_bundle: 'no/such.pem' is not a file"),
    ({"acme": {}}, "acme.email: missing; add it to deploy.yaml"),
    ({"instances": 99}, "instances: 99 is not a number from 0 to 16"),
    ({"app_servers": ["app.example.org"]}, "app_servers: 'app.example.org' is not at an IPv4 address"),
    ({"app_servers": ["10.0.0.11", "10.0.0.11"]}, "app_servers: an app server is listed twice"),
    ({"app_servers": ["10.0.0.11; true"]}, "app_servers: '10.0.0.11; true' is not valid"),
    ({"server": "example.org", "app_servers": ["10.0.0.11"]}, "front_address: missing, and server (example.org)"),
    ({"app_servers": ["10.0.0.11", "10.0.0.12"], "instances": 3}, "instances: each app server runs one instance"),
    ({"front_address": "10.0.0.300'"}, "front_address: \"10.0.0.300'\" is not valid"),
])
def test_a_bad_deploy_setting_is_one_line(deploy_file, change, message):
    with pytest.raises(devbox_settings.SettingsError) as error:
        devbox_settings.load_deploy(deploy_file({**DEPLOY, **change}))
    assert str(error.value).startswith(f"deploy.yaml: {message}")
    assert "\n" not in str(error.value)


def test_the_production_profile_keeps_the_app_and_drops_development(deploy_file, raw, monkeypatch):
    monkeypatch.setenv("DEVBOX_INSTANCES", "3")  # the devbox's: never the server's
    s = devbox_settings.production(raw, devbox_settings.load_deploy(deploy_file()), root=deploy_file().parent)
    assert s["production"] and s["hsts"] and not s["dev_mode"]
    assert (s["guest_port"], s["https_guest_port"]) == (80, 443)
    assert s["app"]["wsgi"] == raw["app"]["wsgi"] and s["worker"] == raw["worker"]
    assert s["instances"] == min(os.cpu_count(), devbox_settings.MAX_INSTANCES)
    assert s["paths"]["synced"] == "/srv/devbox/current" and s["releases"] == "/srv/devbox/releases"
    assert s["allowed_hosts"][-2:] == ["example.com", "www.example.com"]
    # HTTPS once certbot has the certificate; none on this host.
    assert s["tls"] is False and s["tls_certificate"] == "/etc/letsencrypt/live/devbox/fullchain.pem"


def test_the_production_site_redirects_plain_http_and_hides_devbox_urls(nginx_check, localize, deploy_file, raw):
    s = localize(devbox_settings.production(raw, devbox_settings.load_deploy(deploy_file()), root=deploy_file().parent))
    s["tls"] = True
    site = render("nginx/site.conf.j2", s)
    result = nginx_check(site)
    assert result.returncode == 0, result.stderr
    http_server = site.split("server {")[1]
    assert "return 301 https://$host$request_uri;" in http_server and "proxy_pass" not in http_server
    assert "/.well-known/acme-challenge/" in http_server
    # HSTS on every answer over HTTPS: the server's, and again in each location with headers of its own.
    assert site.count('add_header Strict-Transport-Security "max-age=63072000" always;') == 4
    assert "Strict-Transport-Security" not in http_server
    assert site.count("deny all;") == 1 + 3  # dotfiles, then the health URLs: the server's own
    assert "refresh" not in site


def test_the_production_unit_is_hardened(deploy_file, raw):
    s = devbox_settings.production(raw, devbox_settings.load_deploy(deploy_file()), root=deploy_file().parent)
    unit = render("app/app@.service.j2", s)
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                 "ReadWritePaths=/var/lib/devbox /var/log/devbox /srv/devbox/shared -/run/devbox-app"):
        assert line + "\n" in unit
    assert "chown -R devbox:devbox /srv" not in unit  # the writable folders are shared/'s, made by release.sh
    assert "ProtectSystem" not in render("app/app@.service.j2", devbox_settings.validate(raw))


def test_a_release_holds_devbox_the_app_and_settings_and_nothing_else(deploy_file, raw, repo, monkeypatch):
    monkeypatch.setattr(devbox_deploy, "ROOT", repo)
    for part in devbox_deploy.RELEASE_PARTS:
        (repo / part).mkdir(exist_ok=True)
        (repo / part / "x.py").write_text("")
    (repo / "app/shop/__pycache__").mkdir()
    (repo / "app/shop/__pycache__/views.cpython-311.pyc").write_text("")
    (repo / "app/instance").mkdir()
    (repo / "app/instance/shop.sqlite").write_text("the devbox's data")
    (repo / "ca.pem").write_text("CA")
    path = deploy_file({**DEPLOY, "acme": {"email": "ops@example.com", "ca_bundle": "ca.pem"}})
    deploy = devbox_settings.load_deploy(path)
    s = devbox_settings.production(raw, deploy, root=repo)
    with tarfile.open(fileobj=io.BytesIO(devbox_deploy.archive(raw, deploy, s, path))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        names = set(members)
        assert {"devbox.yaml", "deploy.yaml", "acme-ca.pem", "app/shop/views.py", "provision/x.py"} <= names
        assert not [n for n in names if "__pycache__" in n or n.startswith("app/instance")]
        assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}
        assert yaml.safe_load(tar.extractfile("deploy.yaml"))["acme"]["ca_bundle"] == "acme-ca.pem"


def test_the_shipped_deploy_file_asks_for_the_server_first():
    with pytest.raises(devbox_settings.SettingsError) as error:
        devbox_settings.load_deploy(devbox_settings.DEPLOY_FILE)
    assert str(error.value).startswith("deploy.yaml: server: '' is not valid; set it to your server's SSH address")


def test_on_a_server_the_writable_folders_may_lead_into_shared_only(repo, tmp_path):
    shared = tmp_path / "shared"
    (shared / "app" / "instance").mkdir(parents=True)
    (repo / "app" / "instance").symlink_to(shared / "app" / "instance")
    assert devbox_settings._writable(["instance"], "app", repo, shared=str(shared)) == ["app/instance"]
    with pytest.raises(devbox_settings.SettingsError, match="leads outside app/"):
        devbox_settings._writable(["instance"], "app", repo)
    with pytest.raises(devbox_settings.SettingsError, match="leads outside app/"):
        devbox_settings._writable(["instance"], "app", repo, shared=str(tmp_path / "elsewhere"))


APP_SERVERS = {**DEPLOY, "server": "admin@front.example.org", "front_address": "10.0.0.10",
               "app_servers": ["admin@10.0.0.11", "deploy@10.0.0.12:2222"]}


@pytest.mark.parametrize("guest, role, instances, ssh_port", [
    ("default", "front", [], 22), ("app1", "app", [1], 22), ("app2", "app", [2], 2222)])
def test_app_servers_take_the_roles_of_app_guests(deploy_file, raw, monkeypatch, guest, role, instances, ssh_port):
    """The server becomes their front (nginx, Redis), each app server runs one
    instance on its own address, reached from the front alone."""
    monkeypatch.setenv("DEVBOX_GUEST", guest)
    s = devbox_settings.production(raw, devbox_settings.load_deploy(deploy_file(APP_SERVERS)), root=deploy_file().parent)
    assert (s["guest_role"], s["guests"][guest]["instances"], s["ssh_port"]) == (role, instances, ssh_port)
    assert s["app_binds"] == [f"10.0.0.11:{s['app_port']}", f"10.0.0.12:{s['app_port']}"]
    assert s["app_addresses"] == ["10.0.0.11", "10.0.0.12"]
    assert s["front_address"] == s["redis_host"] == s["forwarded_allow_ips"] == "10.0.0.10"
    assert s["instances"] == 2 and s["app_bind"] == "tcp"


def test_the_front_site_balances_over_the_app_servers(nginx_check, localize, deploy_file, raw):
    s = localize(devbox_settings.production(raw, devbox_settings.load_deploy(deploy_file(APP_SERVERS)),
                                            root=deploy_file().parent))
    s["tls"] = True
    site = render("nginx/site.conf.j2", s)
    result = nginx_check(site)
    assert result.returncode == 0, result.stderr
    for k, address in enumerate(("10.0.0.11", "10.0.0.12"), 1):
        assert f"server {address}:{s['app_port']} max_fails=0;" in site
        assert f"location = /_devbox/instances/{k}/health" in site
