import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from notifications import create_app
from notifications.extensions import socketio

MISSING_KEY = "SECRET_KEY is not set: put it in the environment or in instance/config.py"


def test_testing_flag(app):
    assert app.testing
    assert not create_app({"SECRET_KEY": "x", "DATABASE": app.config["DATABASE"]}).testing


def test_missing_secret_key_is_one_clear_error():
    with pytest.raises(RuntimeError) as info:
        create_app()
    assert str(info.value) == MISSING_KEY


def test_empty_secret_key_counts_as_missing(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "")
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app()


def test_production_app_never_debugs(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("FLASK_DEBUG", "true")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    app = create_app()
    assert app.debug is False
    assert app.config["DEBUG"] is False
    assert app.testing is False


def test_what_a_host_sets_in_the_environment(monkeypatch, tmp_path):
    # Digits and an "e": parsed as JSON it would become the float 1234000.0.
    monkeypatch.setenv("SECRET_KEY", "1234e3")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("FLASK_MAX_TEXT_LENGTH", "500")
    # Seen, not used: a queue set on the shared extension would outlive this test.
    queues = []
    monkeypatch.setattr(socketio, "init_app", lambda app, **options: queues.append(options["client_manager"]))
    app = create_app()
    assert app.config["SECRET_KEY"] == "1234e3"
    assert app.config["DATABASE"] == str(tmp_path / "data" / "notifications.sqlite")
    assert (tmp_path / "data" / "notifications.sqlite").exists()
    assert [(type(q).__name__, q.redis_url) for q in queues] == [("RedisQueue", "redis://127.0.0.1:6379/0")]
    assert app.config["MAX_TEXT_LENGTH"] == 500


def test_defaults(monkeypatch, isolated_environment):
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    app = create_app()
    assert app.config["DATABASE"] == str(isolated_environment / "notifications.sqlite")
    assert (isolated_environment / "notifications.sqlite").exists()
    assert app.config["MESSAGE_QUEUE"] is None
    assert app.config["MAX_TEXT_LENGTH"] == 280
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_instance_config_file(isolated_environment):
    isolated_environment.mkdir()
    (isolated_environment / "config.py").write_text('SECRET_KEY = "from-file"\n')
    assert create_app().config["SECRET_KEY"] == "from-file"


@pytest.mark.parametrize("name, value", [("MAX_TEXT_LENGTH", '"long"'), ("MAX_CONTENT_LENGTH", "0")])
def test_bad_settings_are_named(monkeypatch, name, value):
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv(f"FLASK_{name}", value)
    with pytest.raises(RuntimeError, match=f"{name} must be a whole number above 0"):
        create_app()


def test_behind_proxy_fix(app):
    assert isinstance(app.wsgi_app, ProxyFix)
    assert (app.wsgi_app.x_for, app.wsgi_app.x_proto, app.wsgi_app.x_host) == (1, 1, 0)
