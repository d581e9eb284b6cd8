import os

import pytest
from flask import Flask

from notifications import create_app
from notifications.db import get_db
from notifications.extensions import socketio

# What a host would set for the app; none of it may leak in from the shell.
ENVIRONMENT = ("SECRET_KEY", "REDIS_URL", "DATA_DIR")


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """Keep a developer's environment and instance/ folder out of the tests."""
    for key in list(os.environ):
        if key in ENVIRONMENT or key.startswith("FLASK_"):
            monkeypatch.delenv(key)
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    return instance


@pytest.fixture
def app(tmp_path):
    """An app in testing mode with its own SQLite database in tmp_path."""
    return create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "db" / "test.sqlite")})


@pytest.fixture
def client(app):
    """Flask test client for app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Click runner for app's `flask` commands."""
    return app.test_cli_runner()


@pytest.fixture
def socket_client(app, client):
    """A connected Flask-SocketIO test client sharing client's cookies."""
    sc = socketio.test_client(app, flask_test_client=client)
    yield sc
    if sc.is_connected():
        sc.disconnect()


@pytest.fixture
def other_socket_client(app):
    """A second connected Socket.IO client, to see what gets broadcast."""
    sc = socketio.test_client(app)
    yield sc
    if sc.is_connected():
        sc.disconnect()


@pytest.fixture
def stored(app):
    """A function returning the texts in app's database, oldest first."""

    def texts():
        with app.app_context():
            return [row["text"] for row in get_db().execute("SELECT text FROM notifications ORDER BY id")]

    return texts
