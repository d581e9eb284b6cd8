"""devbox.yaml is checked once, the same way for every part: a bad value stops
everything with one line naming the key and the fix."""

import copy
import json
import re
import subprocess

import jsonschema
import pytest
import yaml

from devbox import settings as devbox_settings
from devbox.settings import ROOT, SettingsError
from tests.unit.conftest import SECOND_APP_FOLDER

# `raw` (tests/unit/conftest.py): settings at known values, with an app of the
# tests' own in `repo`, to break one key at a time.


def test_settings_with_every_key_are_valid(raw):
    settings = devbox_settings.validate(raw)
    assert settings["worker_class"] == "devbox.appserver.workers.eventlet_worker.EventletWorker"
    assert settings["max_body_bytes"] == 1024 * 1024
    # The app's paths come out relative to the repository.
    assert settings["app"] == {"folder": "app", "wsgi": "shop:create_app()",
                               "requirements": "app/requirements.txt", "requirement_files": ["app/requirements.txt"],
                               "static": {"folder": "app/static", "url": "/static/"},
                               "writable": ["app/instance"], "env": {}}


@pytest.mark.parametrize("worker", devbox_settings.WORKERS)
def test_every_worker_has_its_class_and_its_own_pinned_requirements(raw, worker):
    raw["worker"] = worker
    settings = devbox_settings.validate(raw)
    module, _, cls = settings["worker_class"].rpartition(".")
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    assert f"\nclass {cls}(" in source
    requirements = (ROOT / "requirements" / f"worker-{worker}.txt").read_text()
    assert "\ngunicorn==" in requirements


def test_gthread_gets_a_thread_per_client_and_room_for_keepalive(raw):
    raw["worker"] = "gthread"
    settings = devbox_settings.validate(raw)
    assert settings["threads"] == settings["max_clients"]
    assert settings["worker_connections"] > settings["threads"]


def test_devbox_worker_stands_in_for_the_setting(monkeypatch):
    monkeypatch.delenv("DEVBOX_APP", raising=False)
    monkeypatch.setenv("DEVBOX_WORKER", "gevent")
    assert devbox_settings.load()["worker_class"] == "devbox.appserver.workers.gevent_worker.GeventWorker"
    monkeypatch.setenv("DEVBOX_WORKER", "tornado")
    with pytest.raises(SettingsError, match=r"^DEVBOX_WORKER: 'tornado' is not a worker; use one of eventlet, gevent, gthread or unset it$"):
        devbox_settings.load()


def test_uwsgi_runs_the_app_on_gevent_only(raw, monkeypatch):
    assert devbox_settings.validate({**raw, "server": "uwsgi", "worker": "gevent"})["server"] == "uwsgi"
    with pytest.raises(SettingsError, match=r"^server: uwsgi runs the app on gevent, and worker is eventlet; "
                                            r"set worker: gevent, or server: gunicorn$"):
        devbox_settings.validate({**raw, "server": "uwsgi", "worker": "eventlet"})
    with pytest.raises(SettingsError, match=r"^server: 'mod_wsgi' is not supported; use one of gunicorn, uwsgi$"):
        devbox_settings.validate({**raw, "server": "mod_wsgi"})
    # $DEVBOX_SERVER (a test pass) brings its worker along; the master never preloads under uWSGI.
    monkeypatch.delenv("DEVBOX_APP", raising=False)
    monkeypatch.setenv("DEVBOX_SERVER", "uwsgi")
    settings = devbox_settings.load()
    assert (settings["server"], settings["worker"], settings["preload"]) == ("uwsgi", "gevent", False)
    monkeypatch.setenv("DEVBOX_SERVER", "apache")
    with pytest.raises(SettingsError, match=r"^DEVBOX_SERVER: 'apache' is not a server; use one of gunicorn, uwsgi "
                                            r"or unset it$"):
        devbox_settings.load()


@pytest.mark.parametrize("key, value, expected", [
    ("host_port", 0, "host_port: 0 is not a port"),
    ("host_port", "8001", "host_port: '8001' is not a port"),
    ("app_port", 5000, "app_port: equals guest_port"),
    ("worker", "tornado", "worker: 'tornado' is not supported"),
    ("host_ip", "localhost", "host_ip: 'localhost' is not an IP address"),
    ("memory", 12, "memory: 12 is too small"),
    ("max_clients", 10, "max_clients: 10 is too small"),
    ("dev_mode", "yes", "dev_mode: 'yes' is not true or false"),
    ("max_body_size", "lots", "max_body_size: 'lots' is not valid"),
    ("name", "Dev Box", "name: 'Dev Box' is not valid"),
    ("name", "root", "name: 'root' is a user or service the guest already has"),
    ("name", "www-data", "name: 'www-data' is a user or service the guest already has"),
    ("name", "nginx", "name: 'nginx' is a user or service the guest already has"),
    ("name", "systemd-networkd", "name: 'systemd-networkd' is a user or service the guest already has"),
    ("guest_port", 22, "guest_port: 22 is SSH's in the guest; use another, such as 5000"),
    ("app_port", 6379, "app_port: 6379 is Redis's in the guest; use another, such as 5001"),
    ("instances", 0, "instances: 0 is not a number from 1 to 16; use 1, or one per core"),
    ("instances", "3", "instances: '3' is not a number from 1 to 16"),
    ("instances", 17, "instances: 17 is not a number from 1 to 16"),
    ("app_bind", "udp", "app_bind: 'udp' is not unix or tcp; use unix (or tcp for app_port)"),
    ("max_body_size", 0, "max_body_size: '0' would refuse every form"),
    ("max_body_size", "100", "max_body_size: '100' would refuse every form"),
    ("wheelhouse", "../wheels", "wheelhouse: '../wheels' is not valid"),
])
def test_a_bad_value_names_the_key_and_the_fix(raw, key, value, expected):
    raw[key] = value
    with pytest.raises(SettingsError) as excinfo:
        devbox_settings.validate(raw)
    message = str(excinfo.value)
    assert message.startswith(expected)
    assert "\n" not in message


@pytest.mark.parametrize("dotted", ["host_port", "boxes.lxc", "paths.venv"])
def test_a_missing_key_is_named(raw, dotted):
    broken = copy.deepcopy(raw)
    *parents, last = dotted.split(".")
    target = broken
    for part in parents:
        target = target[part]
    del target[last]
    with pytest.raises(SettingsError, match=rf"^{dotted}: missing; add it"):
        devbox_settings.validate(broken)


@pytest.mark.parametrize("value", ["var/lib/x", "/var/lib/x/", "/var/lib/$(id)", "/var/lib/x\nlocation", "/a b"])
def test_a_guest_path_must_be_plain_and_absolute(raw, value):
    raw["paths"]["data"] = value
    with pytest.raises(SettingsError, match=r"^paths.data: .* must be an absolute guest path"):
        devbox_settings.validate(raw)


def test_invalid_yaml_gives_the_line(tmp_path):
    bad = tmp_path / "devbox.yaml"
    bad.write_text("name: devbox\nhost_port: [8001\n")
    with pytest.raises(SettingsError, match=r"not valid YAML at line \d+"):
        devbox_settings.load(bad)


def test_cli_prints_values_and_exit_code_2_on_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DEVBOX_APP", raising=False)
    assert devbox_settings.main(["host_port", "paths.venv"]) == 0
    assert capsys.readouterr().out.split() == ["8001", "/opt/devbox/venv"]
    assert devbox_settings.main(["no.such.key"]) == 2
    assert "no.such.key: no such setting" in capsys.readouterr().err


def test_shell_exports_flatten_nested_keys(raw):
    raw["app"]["env"] = {"FLASK_X": "1"}
    settings = devbox_settings.validate(raw)
    lines = devbox_settings.shell_exports(settings).splitlines()
    assert f"DEVBOX_HOST_PORT={settings['host_port']}" in lines
    assert f"DEVBOX_PATHS_VENV={settings['paths']['venv']}" in lines
    assert "DEVBOX_APP_STATIC_FOLDER=app/static" in lines
    assert "DEVBOX_DEV_MODE=true" in lines  # as shell scripts compare it
    assert "DEVBOX_APP_WSGI='shop:create_app()'" in lines  # quoted for the shell
    assert not [line for line in lines if "FLASK_X" in line]  # the app's environment has its own file


def test_json_is_what_the_vagrantfile_reads(capsys, monkeypatch):
    for variable in devbox_settings.OVERRIDES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DEVBOX_INSTANCES", "2")
    monkeypatch.setenv("DEVBOX_ADDRESS_BLOCK", "3")  # whichever this Vagrant folder claimed
    assert devbox_settings.main(["--json"]) == 0
    # With the overrides set here, which the Vagrantfile hands to the guest's provisioner.
    assert json.loads(capsys.readouterr().out) == {
        **devbox_settings.load(),
        "provisioner_env": {"DEVBOX_ROOT": "/vagrant", "DEVBOX_GUEST": "default", "DEVBOX_ADDRESS_BLOCK": "3",
                            "DEVBOX_INSTANCES": "2"},
        # Where the host keeps the guest's certificate, which Vagrant uploads.
        "tls_leaf": str(devbox_settings.ROOT / ".vagrant" / "devbox-tls" / "site.pem")}


def test_instances_name_their_units_and_sockets(raw, monkeypatch):
    raw["instances"] = 3
    settings = devbox_settings.validate(raw)
    assert settings["app_units"] == ["devbox@1.service", "devbox@2.service", "devbox@3.service"]
    assert settings["app_binds"] == [f"unix:/run/devbox-app/{i}.sock" for i in (1, 2, 3)]
    del raw["instances"], raw["app_bind"]  # both may be left out
    settings = devbox_settings.validate(raw)
    assert (settings["instances"], settings["app_binds"]) == (1, ["unix:/run/devbox-app/1.sock"])
    raw["app_bind"] = "tcp"
    assert devbox_settings.validate(raw)["app_binds"] == [f"127.0.0.1:{raw['app_port']}"]
    for variable in devbox_settings.OVERRIDES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DEVBOX_INSTANCES", "4")
    assert devbox_settings.load()["instances"] == 4
    raw["instances"] = 2  # one port for two gunicorns
    with pytest.raises(SettingsError, match=r"^app_bind: tcp serves one instance on app_port, and instances is 2; "):
        devbox_settings.validate(raw)
    monkeypatch.setenv("DEVBOX_INSTANCES", "four")
    with pytest.raises(SettingsError, match=r"^DEVBOX_INSTANCES: 'four' is not a number; use 1 to 16 or unset it$"):
        devbox_settings.load()


@pytest.mark.parametrize("key, value, expected", [
    ("workr", "gevent", "workr: unknown setting; did you mean worker?"),
    ("app_prot", 5001, "app_prot: unknown setting; did you mean app_port?"),
    ("colour", "blue", "colour: unknown setting; see the comments in devbox.yaml for the keys"),
])
def test_an_unknown_key_is_refused_with_the_closest_one(raw, key, value, expected):
    raw[key] = value
    with pytest.raises(SettingsError) as excinfo:
        devbox_settings.validate(raw)
    assert str(excinfo.value) == expected


@pytest.mark.parametrize("section, key, expected", [
    ("app", "wsgii", "app.wsgii: unknown setting; did you mean app.wsgi?"),
    ("paths", "static", "paths.static: no longer a setting; the static folder is app.static.folder now "
                        "(relative to app.folder)"),
    ("boxes", "docker", "boxes.docker: unknown setting; see the comments in devbox.yaml for the keys"),
])
def test_unknown_nested_keys_are_refused_too(raw, section, key, expected):
    raw[section][key] = "x"
    with pytest.raises(SettingsError) as excinfo:
        devbox_settings.validate(raw)
    assert str(excinfo.value) == expected


def test_an_app_without_settings_gets_the_layout_of_gunicorn_app_app(raw, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "requirements.txt").write_text("flask\n")
    del raw["app"]
    assert devbox_settings.validate(raw, root=tmp_path)["app"] == {
        "folder": "app", "wsgi": "app:app", "requirements": "app/requirements.txt",
        "requirement_files": ["app/requirements.txt"], "static": {"folder": "app/static", "url": "/static/"},
        "writable": [], "env": {}}


@pytest.mark.parametrize("target", ["app:app", "app:create_app()", "pkg.mod:make_app('dev', debug=False)",
                                    "wsgi:application"])
def test_wsgi_targets_as_gunicorn_takes_them(raw, target):
    raw["app"]["wsgi"] = target
    assert devbox_settings.validate(raw)["app"]["wsgi"] == target


@pytest.mark.parametrize("change, expected", [
    ({"folder": "nowhere"}, "app.folder: 'nowhere' is not a folder in the repository"),
    ({"folder": "../elsewhere"}, "app.folder: '../elsewhere' is not valid"),
    ({"folder": "/vagrant/app"}, "app.folder: '/vagrant/app' is not valid"),
    ({"requirements": "missing.txt"}, "app.requirements: app/missing.txt does not exist"),
    ({"wsgi": "app"}, "app.wsgi: 'app' is not valid; use module:name (app:app) or module:factory()"),
    ({"wsgi": "app:create_app(os.environ)"}, "app.wsgi: 'app:create_app(os.environ)' passes something other"),
    ({"wsgi": 'app:make("x")'}, "app.wsgi: 'app:make(\"x\")' is not valid"),
    ({"wsgi": "app:app; rm -rf /"}, "app.wsgi: 'app:app; rm -rf /' is not valid"),
    # A line break would put a line of its own into the systemd unit.
    ({"wsgi": "app:make(\nUser=root\n)"}, "app.wsgi: 'app:make(\\nUser=root\\n)' is not valid"),
    ({"wsgi": "app:make(\t'x')"}, "app.wsgi: "),
    ({"wsgi": "app:make(,)"}, "app.wsgi: 'app:make(,)' is not a name or a call"),
    ({"wsgi": "app:make('x)"}, "app.wsgi: \"app:make('x)\" is not a name or a call"),
    ({"static": {"url": "static"}}, "app.static.url: 'static' is not valid"),
    ({"static": {"url": "/_devbox/"}}, "app.static.url: '/_devbox/' is kept for devbox"),
    ({"static": {"url": "/static/;\nlocation / {"}}, "app.static.url: "),
    ({"static": {"folder": "../static"}}, "app.static.folder: '../static' is not valid"),
    ({"env": {"1X": "y"}}, "app.env.1X: '1X' is not valid"),
    ({"env": {"DEVBOX_X": "y"}}, "app.env.DEVBOX_X: the DEVBOX_ prefix is devbox's own"),
    ({"env": {"X": "it's"}}, "app.env.X: contains a quote or a line break"),
    ({"env": {"X": "a\nb"}}, "app.env.X: contains a quote or a line break"),
    ({"env": {"X": [1]}}, "app.env.X: [1] is not a string or number"),
    ({"env": ["X=1"]}, "app.env: ['X=1'] is not a mapping; write NAME: value under it"),
    ({"writable": "instance"}, "app.writable: 'instance' is not a list"),
    ({"writable": ["../provision"]}, "app.writable: '../provision' is not valid"),
    ({"writable": ["/etc"]}, "app.writable: '/etc' is not valid"),
    ({"writable": ["shop/__init__.py"]}, "app.writable: 'shop/__init__.py' is a file"),
    ({"folder": SECOND_APP_FOLDER, "writable": ["static"]}, f"app.writable: {SECOND_APP_FOLDER}/static is in tests/"),
])
def test_a_bad_app_setting_names_the_key(raw, change, expected):
    raw["app"].update(change)
    with pytest.raises(SettingsError) as excinfo:
        devbox_settings.validate(raw)
    assert str(excinfo.value).startswith(expected)
    assert "\n" not in str(excinfo.value)


def test_app_environment_values_become_text(raw):
    raw["app"]["env"] = {"FLASK_FLAG": True, "FLASK_LIMIT": 500, "FLASK_NAME": "a b $HOME"}
    assert devbox_settings.validate(raw)["app"]["env"] == {"FLASK_FLAG": "true", "FLASK_LIMIT": "500",
                                                            "FLASK_NAME": "a b $HOME"}


def test_devbox_app_stands_in_for_the_app_section(monkeypatch):
    monkeypatch.setenv("DEVBOX_APP", SECOND_APP_FOLDER)
    assert devbox_settings.load()["app"] == {
        "folder": SECOND_APP_FOLDER, "wsgi": "app:app", "requirements": f"{SECOND_APP_FOLDER}/requirements.txt",
        "requirement_files": [f"{SECOND_APP_FOLDER}/requirements.txt"],
        "static": {"folder": f"{SECOND_APP_FOLDER}/static", "url": "/static/"}, "writable": [], "env": {}}
    monkeypatch.setenv("DEVBOX_APP", "no/such/app")
    with pytest.raises(SettingsError, match=r"^app.folder: 'no/such/app' is not a folder in the repository"):
        devbox_settings.load()


def test_a_writable_folder_cannot_lead_out_of_the_app_by_a_link(raw, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "requirements.txt").write_text("flask\n")
    (tmp_path / "app" / "out").symlink_to(tmp_path / "provision", target_is_directory=True)
    (tmp_path / "provision").mkdir()
    raw["app"] = {"folder": "app", "writable": ["out", "instance"]}
    with pytest.raises(SettingsError, match=r"^app.writable: 'out' leads outside app/"):
        devbox_settings.validate(raw, root=tmp_path)
    raw["app"]["writable"] = ["instance"]  # not made yet: the provider makes it
    assert devbox_settings.validate(raw, root=tmp_path)["app"]["writable"] == ["app/instance"]


@pytest.fixture
def app_tree(tmp_path, raw):
    """Factory: an app folder in tmp_path with these requirement files (path -> text); returns raw settings."""
    def make(files):
        for relative, text in files.items():
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / relative).write_text(text)
        raw["app"] = {"folder": "app"}
        return raw

    return make


def test_files_the_requirements_include_are_followed(app_tree, tmp_path):
    raw = app_tree({"app/requirements.txt": "-r base.txt\nflask\n--constraint=../constraints.txt\n",
                    "app/base.txt": "-r requirements.txt\nredis\n", "constraints.txt": "flask<4\n"})
    assert devbox_settings.validate(raw, root=tmp_path)["app"]["requirement_files"] == [
        "app/requirements.txt", "app/base.txt", "constraints.txt"]


@pytest.mark.parametrize("files, expected", [
    ({"app/requirements.txt": "-r missing.txt\n"}, "app.requirements: app/missing.txt does not exist"),
    ({"app/requirements.txt": "-r ../../outside.txt\n"}, "app.requirements: "),
])
def test_an_included_file_must_exist_in_the_repository(app_tree, tmp_path, files, expected):
    raw = app_tree(files)
    with pytest.raises(SettingsError) as excinfo:
        devbox_settings.validate(raw, root=tmp_path)
    assert str(excinfo.value).startswith(expected)


@pytest.mark.parametrize("change, expected", [
    ({"host_ip": "::1"}, "host_ip: '::1' is IPv6, which the port forwarding does not carry"),
    ({"host_ip": "0.0.0.0"}, "host_ip: 0.0.0.0 serves the devbox beyond this machine; use 127.0.0.1, or set lan: true"),
    ({"host_ip": "192.168.1.5"}, "host_ip: 192.168.1.5 serves the devbox beyond this machine"),
    ({"lan": "yes"}, "lan: 'yes' is not true or false"),
    ({"allowed_hosts": "devbox.lan"}, "allowed_hosts: 'devbox.lan' is not a list; list host names"),
    ({"allowed_hosts": ["evil.example|.*"]}, "allowed_hosts: 'evil.example|.*' is not valid"),
    ({"allowed_hosts": ["a b"]}, "allowed_hosts: 'a b' is not valid"),
    ({"allowed_hosts": ["x\n}"]}, "allowed_hosts: 'x\\n}' is not valid"),
])
def test_the_devbox_stays_on_this_machine_unless_asked(raw, change, expected):
    raw.update(change)
    with pytest.raises(SettingsError) as excinfo:
        devbox_settings.validate(raw)
    assert str(excinfo.value).startswith(expected)


def test_lan_names_join_the_names_the_devbox_answers_to(raw):
    raw.update(host_ip="0.0.0.0", lan=True, allowed_hosts=["Devbox.LAN", "192.168.1.5", "[fe80::1]", "localhost"])
    settings = devbox_settings.validate(raw)
    assert settings["allowed_hosts"] == ["localhost", "127.0.0.1", "[::1]", "devbox.lan", "192.168.1.5", "[fe80::1]"]
    assert devbox_settings.validate({**raw, "lan": False, "host_ip": "127.0.0.1"})["lan"] is False


def test_nodes_make_a_front_and_app_guests_on_fixed_addresses(raw, monkeypatch):
    for variable in (*devbox_settings.OVERRIDES, "DEVBOX_GUEST"):
        monkeypatch.delenv(variable, raising=False)
    one = devbox_settings.validate(raw)
    # One guest runs everything; it has its fixed address already, for app guests to join.
    assert one["guests"] == {"default": {"role": "all", "address": "10.0.3.200", "mac": "02:00:0a:00:03:c8",
                                         "instances": [1], "units": ["devbox@1.service"]}}
    assert (one["guest_role"], one["guest_units"], one["redis_host"]) == ("all", ["devbox@1.service"], "127.0.0.1")
    raw["nodes"] = 2
    front = devbox_settings.validate(raw)
    assert front["guests"] == {
        "default": {"role": "front", "address": "10.0.3.200", "mac": "02:00:0a:00:03:c8", "instances": [],
                    "units": []},
        "app1": {"role": "app", "address": "10.0.3.201", "mac": "02:00:0a:00:03:c9", "instances": [1],
                 "units": ["devbox@1.service"]},
        "app2": {"role": "app", "address": "10.0.3.202", "mac": "02:00:0a:00:03:ca", "instances": [2],
                 "units": ["devbox@2.service"]}}
    assert (front["instances"], front["app_bind"], front["instance_guests"]) == (2, "tcp", ["app1", "app2"])
    assert front["app_binds"] == ["10.0.3.201:5001", "10.0.3.202:5001"]  # over the private network, not loopback
    assert (front["guest_units"], front["redis_host"]) == ([], "10.0.3.200")
    monkeypatch.setenv("DEVBOX_GUEST", "app2")  # as the Vagrantfile provisions it
    second = devbox_settings.validate(raw)
    assert (second["guest_role"], second["guest_units"], second["app_bind_unit"]) == (
        "app", ["devbox@2.service"], "10.0.3.202:5001")
    monkeypatch.setenv("DEVBOX_GUEST", "app3")
    with pytest.raises(SettingsError, match=r"^DEVBOX_GUEST: 'app3' is not one of this devbox's guests "
                                            r"\(default, app1, app2\); provision it with vagrant provision$"):
        devbox_settings.validate(raw)
    monkeypatch.delenv("DEVBOX_GUEST")
    monkeypatch.setenv("DEVBOX_NODES", "3")
    assert devbox_settings.load()["instance_guests"] == ["app1", "app2", "app3"]


@pytest.mark.parametrize("changes, expected", [
    ({"nodes": 9}, "nodes: 9 is not a number from 0 to 8; use 0 (one guest runs everything) or the number of app guests"),
    ({"nodes": "2"}, "nodes: '2' is not a number from 0 to 8"),
    ({"nodes": 2, "instances": 3}, "instances: with nodes: 2 each app guest runs one instance (2 in all); "
                                   "leave instances at 1"),
])

def test_bad_nodes_are_one_line(raw, changes, expected):
    raw.update(changes)
    with pytest.raises(SettingsError, match=f"^{re.escape(expected)}"):
        devbox_settings.validate(raw)


def test_a_bad_nodes_override_is_one_line(monkeypatch):
    monkeypatch.setenv("DEVBOX_NODES", "two")
    with pytest.raises(SettingsError, match=r"^DEVBOX_NODES: 'two' is not a number; use 0 to 8 or unset it$"):
        devbox_settings.load()


@pytest.mark.parametrize("key, value", [("apt", "ftp://cache:3142"), ("pip", "http://cache/simple/\nextra"),
                                        ("apt", 'http://cache:3142" ; evil')])
def test_a_package_cache_is_an_http_url_or_nothing(raw, key, value):
    raw["package_cache"] = {key: value}
    with pytest.raises(SettingsError) as excinfo:
        devbox_settings.validate(raw)
    assert str(excinfo.value).startswith(f"package_cache.{key}: {value!r} is not an http(s) URL; use one such as ")


def test_package_caches_reach_the_provisioner_before_devbox_yaml_can_be_read(raw, monkeypatch):
    monkeypatch.setenv("DEVBOX_APT_CACHE", "http://10.0.4.1:3142")
    monkeypatch.setenv("DEVBOX_PIP_CACHE", "http://10.0.4.1:3141/index/")
    settings = devbox_settings.load()
    assert settings["package_cache"] == {"apt": "http://10.0.4.1:3142", "pip": "http://10.0.4.1:3141/index/"}
    env = devbox_settings.provisioner_env(settings, "default")
    # packages.sh runs before python3-yaml is installed: the apt cache comes in its own variable.
    assert env["DEVBOX_PACKAGE_CACHE_APT"] == "http://10.0.4.1:3142"
    raw.pop("package_cache")
    assert devbox_settings.validate(raw)["package_cache"] == {"apt": "", "pip": ""}


def test_a_copied_synced_folder_leaves_out_the_hosts_state_and_the_apps_writable_folders(raw):
    raw["app"]["writable"] = ["instance", "migrations"]
    excluded = devbox_settings.validate(raw)["rsync_exclude"]
    assert excluded == [".git", ".venv", ".cache", ".vagrant", "/app/instance/", "/app/migrations/"]


def test_the_provider_is_one_devbox_has_a_box_for_or_vagrants_choice(raw, monkeypatch):
    assert devbox_settings.validate(raw)["provider"] == ""
    raw["provider"] = "docker"
    with pytest.raises(SettingsError, match=r"^provider: 'docker' is not a Vagrant provider devbox has a box for; "
                                            r"use one of virtualbox, libvirt, lxc, parallels, vmware_desktop, or "):
        devbox_settings.validate(raw)
    monkeypatch.setenv("DEVBOX_PROVIDER", "libvirt")
    assert devbox_settings.load()["provider"] == "libvirt"


def test_a_libvirt_guest_provisions_through_the_hosts_caches_from_every_entry_point(raw, repo, monkeypatch):
    caches = {"apt": "http://10.0.4.1:3142", "pip": "http://10.0.4.1:3141/index/"}
    assert devbox_settings.validate(raw)["package_cache"] == {"apt": "", "pip": ""}  # lxc: offline, no caches
    # Said by the provider setting (./setup.sh --provider libvirt exports DEVBOX_PROVIDER) ...
    assert devbox_settings.validate({**raw, "provider": "libvirt"})["package_cache"] == caches
    # ... or, with none, by the guest Vagrant made here (fab provision, vagrant provision later on).
    machine = repo / ".vagrant" / "machines" / "default" / "libvirt"
    machine.mkdir(parents=True)
    assert devbox_settings.validate(raw)["package_cache"] == {"apt": "", "pip": ""}  # a folder left by destroy
    (machine / "id").write_text("uuid")
    settings = devbox_settings.validate(raw)
    assert settings["package_cache"] == caches
    # The guest's loader cannot see .vagrant: the URLs go along to it.
    env = devbox_settings.provisioner_env(settings, "default")
    assert (env["DEVBOX_APT_CACHE"], env["DEVBOX_PIP_CACHE"]) == (caches["apt"], caches["pip"])
    # Caches named in devbox.yaml win, and another provider's guest has none.
    raw["package_cache"] = {"apt": "http://cache.example:3142", "pip": ""}
    assert devbox_settings.validate(raw)["package_cache"] == {"apt": "http://cache.example:3142", "pip": caches["pip"]}
    monkeypatch.setenv("VAGRANT_DOTFILE_PATH", str(repo / ".vagrant" / "other"))
    assert devbox_settings.validate(raw)["package_cache"] == {"apt": "http://cache.example:3142", "pip": ""}


# devbox.yaml, the settings table and the JSON Schema all come from SETTINGS:
# what is printed from it is checked in, and must not drift from it.
DOCS_TABLE = ("<!-- settings table: generated by python -m devbox.settings --docs -->\n", "\n<!-- end -->")


def test_the_docs_table_is_the_one_the_settings_print():
    start, end = DOCS_TABLE
    table = (ROOT / "docs" / "settings.md").read_text().split(start)[1].split(end)[0]
    assert table == devbox_settings.docs_table(), "paste `python -m devbox.settings --docs` into docs/settings.md"


def test_the_schema_file_is_the_one_the_settings_print():
    written = json.loads((ROOT / "devbox.schema.json").read_text())
    assert written == devbox_settings.json_schema(), "run python -m devbox.settings --schema > devbox.schema.json"


def test_every_setting_reaches_the_checked_settings(raw):
    settings = devbox_settings.validate(raw)
    for key in devbox_settings.SETTINGS:
        devbox_settings.lookup(settings, key)
    assert tuple(settings["boxes"]) == devbox_settings.PROVIDERS  # a box for every provider


def test_devbox_yaml_and_the_tests_settings_fit_the_schema(raw):
    schema = devbox_settings.json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    # The keys that may be left out, or have nothing after them: the loader takes both.
    optional = {key.split(".")[0] for key in devbox_settings.SETTINGS} - {
        key.split(".")[0] for key, setting in devbox_settings.SETTINGS.items() if setting.required}
    variants = [raw, {key: value for key, value in raw.items() if key not in optional}, {**raw, **dict.fromkeys(optional)}]
    for settings in variants:
        devbox_settings.validate(copy.deepcopy(settings))
    for settings in (yaml.safe_load((ROOT / "devbox.yaml").read_text()), *variants):
        jsonschema.validate(settings, schema, cls=jsonschema.Draft7Validator)


@pytest.mark.parametrize("dotted, value", [
    ("host_port", 0), ("host_port", "8001"), ("name", "Dev Box"), ("worker", "tornado"), ("dev_mode", "yes"),
    ("memory", 12), ("instances", 17), ("app_bind", "udp"), ("provider", "docker"), ("wheelhouse", "../wheels"),
    ("max_body_size", "lots"), ("allowed_hosts", ["a b"]), ("workr", "gevent"), ("paths.data", "var/lib/x"),
    ("paths.static", "static"), ("boxes.docker", "x"), ("package_cache.apt", "ftp://cache:3142"),
    ("app.wsgi", "app"), ("app.static.url", "static"), ("app.env", ["X=1"]),
])
def test_what_the_loader_refuses_an_editor_flags(raw, dotted, value):
    *parents, last = dotted.split(".")
    target = raw
    for part in parents:
        target = target[part]
    target[last] = value
    with pytest.raises(SettingsError):
        devbox_settings.validate(copy.deepcopy(raw))
    assert not jsonschema.Draft7Validator(devbox_settings.json_schema()).is_valid(raw)


def test_each_vagrant_folder_has_a_block_of_fixed_addresses_of_its_own(raw, repo, monkeypatch):
    """Two devboxes on one host never share an address or a MAC: the block the
    Vagrant folder claimed (provision/vagrant/settings.rb), or the guest's
    provisioner's $DEVBOX_ADDRESS_BLOCK."""
    blocks = [devbox_settings.fixed_addresses(block=k) for k in range(devbox_settings.ADDRESS_BLOCKS)]
    every = [address for block in blocks for address in block]
    assert len(set(every)) == len(every) and every[0] == "10.0.3.200" and every[-1] == "10.0.3.253"
    (repo / ".vagrant").mkdir()
    (repo / ".vagrant" / devbox_settings.BLOCK_FILE).write_text("2\n")
    raw["nodes"] = 2
    s = devbox_settings.validate(raw)
    assert [g["address"] for g in s["guests"].values()] == blocks[2][:3] == ["10.0.3.218", "10.0.3.219", "10.0.3.220"]
    assert s["guests"]["default"]["mac"] == "02:00:0a:00:03:da"
    assert devbox_settings.provisioner_env(s, "app1")["DEVBOX_ADDRESS_BLOCK"] == "2"
    monkeypatch.setenv("DEVBOX_ADDRESS_BLOCK", "1")  # in the guest
    assert devbox_settings.validate(raw)["front_address"] == "10.0.3.209"
    monkeypatch.setenv("DEVBOX_ADDRESS_BLOCK", "9")
    with pytest.raises(devbox_settings.SettingsError, match="address block '9' .* is not 0 to 5"):
        devbox_settings.validate(raw)


def test_the_copy_leaves_out_the_hosts_venv_even_as_a_link(raw, tmp_path):
    # devbox.host.sync and Vagrant's rsync pass rsync_exclude to rsync as is.
    source, target = tmp_path / "tree", tmp_path / "copy"
    (source / "app").mkdir(parents=True)
    (source / "app" / "views.py").write_text("")
    (source / ".venv").symlink_to(tmp_path)
    (source / ".cache").mkdir()
    excluded = devbox_settings.validate(raw)["rsync_exclude"]
    subprocess.run(["rsync", "--archive", *(f"--exclude={p}" for p in excluded), f"{source}/", f"{target}/"], check=True)
    assert sorted(p.name for p in target.iterdir()) == ["app"]
