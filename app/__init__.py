"""devbox's real-time notifications app (Flask + Flask-SocketIO)."""
import hashlib
import os
import uuid
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import socketio

ASYNC_MODES = ("threading", "eventlet", "gevent")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def source_version(root=Path(__file__).parent):
    """Short sha256 of the files a restart picks up (.py, templates, schema):
    tells which code a running worker booted with."""
    files = sorted({*root.rglob("*.py"), *root.rglob("*.sql"), *root.glob("templates/**/*.html")})
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _normalize_config(config):
    """Environment values arrive as plain strings (a hex SECRET_KEY must never
    be parsed as a number), so the few typed keys are converted here."""
    for key in ("MAX_TEXT_LENGTH", "MAX_CONTENT_LENGTH"):
        value = config[key]
        if isinstance(value, str):
            if not value.strip().isdigit():
                raise RuntimeError(f"{key} must be a whole number of characters/bytes, not {value!r}")
            config[key] = int(value)
    dev_mode = config["DEV_MODE"]
    if isinstance(dev_mode, str):
        if dev_mode.strip().lower() not in TRUE_WORDS | FALSE_WORDS:
            raise RuntimeError(f"DEV_MODE must be true or false, not {dev_mode!r}")
        config["DEV_MODE"] = dev_mode.strip().lower() in TRUE_WORDS
    if config["ASYNC_MODE"] not in ASYNC_MODES:
        raise RuntimeError(f"ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, not {config['ASYNC_MODE']!r}")
    if not config.get("SECRET_KEY") and not config.get("TESTING"):
        raise RuntimeError(
            "SECRET_KEY is not set: put DEVBOX_SECRET_KEY in the environment or SECRET_KEY in instance/config.py"
        )


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=None,
        DATABASE=os.path.join(app.instance_path, "devbox.sqlite"),
        # Always explicit: Socket.IO's "auto" picks eventlet whenever it is
        # installed, even under a threaded server.
        ASYNC_MODE="threading",
        MAX_TEXT_LENGTH=280,
        MAX_CONTENT_LENGTH=1024 * 1024,
        DEV_MODE=False,
        MESSAGE_QUEUE=None,
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("DEVBOX", loads=str)
    if test_config is not None:
        app.config.from_mapping(test_config)
    _normalize_config(app.config)
    # Before app.debug is set: that setter builds the Jinja environment, and
    # the template reloading it gets then is fixed for good.
    app.config["TEMPLATES_AUTO_RELOAD"] = app.config["DEV_MODE"]
    # The debugger runs arbitrary code for whoever reaches the page: never on.
    app.debug = False
    app.config["VERSION"] = source_version()
    app.config["BOOT_ID"] = uuid.uuid4().hex

    from . import db, errors, events, health, notifications  # noqa: F401  (events registers its handlers)

    db.init_app(app)
    errors.init_app(app)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(health.bp)

    # No cors_allowed_origins: the default accepts only an Origin that matches
    # the Host header (plus X-Forwarded-Proto), and refuses foreign sites.
    # With a message queue, a broadcast from a freshly reloaded worker also
    # reaches clients still attached to the old one while it winds down.
    socketio.init_app(app, async_mode=app.config["ASYNC_MODE"], message_queue=app.config["MESSAGE_QUEUE"])
    # Outermost, so engine.io's origin check and Flask both see the scheme and
    # client address nginx reports.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    return app
