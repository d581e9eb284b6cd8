"""devbox.yaml is checked once, the same way for every part: a bad value stops
everything with one line naming the key and the fix."""

import copy

import pytest
import yaml

from devbox import settings as devbox_settings
from devbox.settings import ROOT, SettingsError


@pytest.fixture
def raw():
    """The repository's devbox.yaml as plain data, to break one key at a time."""
    return yaml.safe_load((ROOT / "devbox.yaml").read_text())


def test_repository_settings_are_valid(raw):
    settings = devbox_settings.validate(raw)
    assert settings["worker_class"] == "devbox.workers.eventlet_worker.EventletWorker"
    assert settings["async_mode"] == "eventlet"
    assert settings["max_body_bytes"] == 1024 * 1024


@pytest.mark.parametrize("worker", devbox_settings.WORKERS)
def test_every_worker_has_its_class_and_its_own_pinned_requirements(raw, worker):
    raw["worker"] = worker
    settings = devbox_settings.validate(raw)
    module, _, cls = settings["worker_class"].rpartition(".")
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    assert f"\nclass {cls}(" in source
    requirements = (ROOT / "requirements" / f"worker-{worker}.txt").read_text()
    assert "-r guest.txt" in requirements and "\ngunicorn==" in requirements


def test_gthread_gets_a_thread_per_client_and_room_for_keepalive(raw):
    raw["worker"] = "gthread"
    settings = devbox_settings.validate(raw)
    assert settings["async_mode"] == "threading"
    assert settings["threads"] == settings["max_clients"]
    assert settings["worker_connections"] > settings["threads"]


def test_devbox_worker_stands_in_for_the_setting(monkeypatch):
    monkeypatch.setenv("DEVBOX_WORKER", "gevent")
    assert devbox_settings.load()["worker_class"] == "devbox.workers.gevent_worker.GeventWorker"
    monkeypatch.setenv("DEVBOX_WORKER", "tornado")
    with pytest.raises(SettingsError, match=r"^DEVBOX_WORKER: 'tornado' is not a worker; use one of eventlet, gevent, gthread or unset it$"):
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


def test_a_relative_guest_path_is_refused(raw):
    raw["paths"]["static"] = "app/static"
    with pytest.raises(SettingsError, match=r"^paths.static: .* must be an absolute guest path"):
        devbox_settings.validate(raw)


def test_invalid_yaml_gives_the_line(tmp_path):
    bad = tmp_path / "devbox.yaml"
    bad.write_text("name: devbox\nhost_port: [8001\n")
    with pytest.raises(SettingsError, match=r"not valid YAML at line \d+"):
        devbox_settings.load(bad)


def test_cli_prints_values_and_exit_code_2_on_error(tmp_path, monkeypatch, capsys):
    assert devbox_settings.main(["host_port", "paths.venv"]) == 0
    assert capsys.readouterr().out.split() == ["8001", "/opt/devbox/venv"]
    assert devbox_settings.main(["no.such.key"]) == 2
    assert "no.such.key: no such setting" in capsys.readouterr().err


def test_shell_exports_flatten_nested_keys(settings):
    lines = devbox_settings.shell_exports(settings).splitlines()
    assert f"DEVBOX_HOST_PORT={settings['host_port']}" in lines
    assert f"DEVBOX_PATHS_VENV={settings['paths']['venv']}" in lines

