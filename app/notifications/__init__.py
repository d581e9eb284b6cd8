"""Live notifications: the demo app (Flask + Flask-SocketIO).

A plain Flask app, written as any deployment would run it: gunicorn loads
``notifications:create_app()`` and the app reads its configuration from the
environment. It knows nothing of devbox; devbox happens to set SECRET_KEY,
REDIS_URL and DATA_DIR, which is what a hosting platform would do too.
"""
import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import socketio
from .queue import RedisQueue

# The project folder (app/): static/ and templates/ sit beside the package, as
# in a single-module app, so the layout does not change when an app grows.
PROJECT = Path(__file__).resolve().parent.parent


def _check_config(config):
    for key in ("MAX_TEXT_LENGTH", "MAX_CONTENT_LENGTH"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise RuntimeError(f"{key} must be a whole number above 0, not {config[key]!r}")
    if not config.get("SECRET_KEY") and not config.get("TESTING"):
        raise RuntimeError("SECRET_KEY is not set: put it in the environment or in instance/config.py")


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True,
                static_folder=PROJECT / "static", template_folder=PROJECT / "templates")
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY"),
        DATABASE=os.path.join(os.environ.get("DATA_DIR") or app.instance_path, "notifications.sqlite"),
        # With a message queue a broadcast reaches every server process, for
        # example the old and the new one while a reload hands over.
        MESSAGE_QUEUE=os.environ.get("REDIS_URL") or None,
        MAX_TEXT_LENGTH=280,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env()  # FLASK_MAX_TEXT_LENGTH=500 and the like
    if test_config is not None:
        app.config.from_mapping(test_config)
    _check_config(app.config)
    # The debugger runs arbitrary code for whoever reaches the page: never on.
    app.debug = False

    from . import db, errors, events, health, same_origin, views  # noqa: F401  (events registers its handlers)

    db.init_app(app)
    errors.init_app(app)
    same_origin.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(health.bp)

    # No cors_allowed_origins: the default accepts only an Origin that matches
    # the Host header (plus X-Forwarded-Proto), and refuses foreign sites. No
    # async_mode either: Flask-SocketIO finds the one library the server has.
    queue = RedisQueue(app.config["MESSAGE_QUEUE"], channel="flask-socketio") if app.config["MESSAGE_QUEUE"] else None
    socketio.init_app(app, client_manager=queue)
    # Outermost, so engine.io's origin check and Flask both see the scheme and
    # client address the proxy in front reports.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    return app
