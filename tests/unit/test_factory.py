import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app

MISSING_KEY = "SECRET_KEY is not set: put DEVBOX_SECRET_KEY in the environment or SECRET_KEY in instance/config.py"


def test_testing_flag(app):
    assert app.testing
    assert not create_app({"SECRET_KEY": "x", "DATABASE": app.config["DATABASE"]}).testing


def test_missing_secret_key_is_one_clear_error():
    with pytest.raises(RuntimeError) as info:
        create_app()
    assert str(info.value) == MISSING_KEY


def test_empty_secret_key_counts_as_missing(monkeypatch):
    monkeypatch.setenv("DEVBOX_SECRET_KEY", "")
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app()


def test_production_app_never_debugs(monkeypatch, tmp_path):
    monkeypatch.setenv("DEVBOX_SECRET_KEY", "s3cret")
    monkeypatch.setenv("DEVBOX_DEBUG", "true")
    monkeypatch.setenv("DEVBOX_DATABASE", str(tmp_path / "x.sqlite"))
    app = create_app()
    assert app.debug is False
    assert app.config["DEBUG"] is False
    assert app.testing is False


def test_environment_overrides(monkeypatch, tmp_path):
    db = tmp_path / "data" / "env.sqlite"
    # Digits and an "e": json.loads would turn it into the float 1234000.0.
    monkeypatch.setenv("DEVBOX_SECRET_KEY", "1234e3")
    monkeypatch.setenv("DEVBOX_DATABASE", str(db))
    monkeypatch.setenv("DEVBOX_ASYNC_MODE", "threading")
    monkeypatch.setenv("DEVBOX_DEV_MODE", "true")
    monkeypatch.setenv("DEVBOX_MAX_CONTENT_LENGTH", "2048")
    app = create_app()
    assert app.config["SECRET_KEY"] == "1234e3"
    assert app.config["DATABASE"] == str(db)
    assert db.exists()
    assert app.config["DEV_MODE"] is True
    assert app.config["TEMPLATES_AUTO_RELOAD"] is True
    assert app.jinja_env.auto_reload is True  # what Jinja actually checks: edited templates are re-read
    assert app.config["MAX_CONTENT_LENGTH"] == 2048


def test_defaults(monkeypatch, isolated_environment):
    monkeypatch.setenv("DEVBOX_SECRET_KEY", "s3cret")
    app = create_app()
    assert app.config["DATABASE"] == str(isolated_environment / "devbox.sqlite")
    assert (isolated_environment / "devbox.sqlite").exists()
    assert app.config["ASYNC_MODE"] == "threading"
    assert app.config["MAX_TEXT_LENGTH"] == 280
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert app.config["DEV_MODE"] is False
    assert app.jinja_env.auto_reload is False


def test_instance_config_file(isolated_environment):
    isolated_environment.mkdir()
    (isolated_environment / "config.py").write_text('SECRET_KEY = "from-file"\n')
    assert create_app().config["SECRET_KEY"] == "from-file"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("ASYNC_MODE", "auto", "ASYNC_MODE must be one of threading, eventlet, gevent"),
        ("DEV_MODE", "maybe", "DEV_MODE must be true or false"),
        ("MAX_CONTENT_LENGTH", "1m", "MAX_CONTENT_LENGTH must be a whole number"),
    ],
)
def test_bad_settings_are_named(monkeypatch, name, value, message):
    monkeypatch.setenv("DEVBOX_SECRET_KEY", "s3cret")
    monkeypatch.setenv(f"DEVBOX_{name}", value)
    with pytest.raises(RuntimeError, match=message):
        create_app()


def test_behind_proxy_fix(app):
    assert isinstance(app.wsgi_app, ProxyFix)
    assert (app.wsgi_app.x_for, app.wsgi_app.x_proto, app.wsgi_app.x_host) == (1, 1, 0)
