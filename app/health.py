"""GET /healthz: what the provisioner and the tests poll to know which code is live."""
import os
import sqlite3

from flask import Blueprint, current_app

from .db import get_db
from .extensions import socketio

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    body = {
        "status": "ok",
        "version": current_app.config["VERSION"],
        "boot_id": current_app.config["BOOT_ID"],
        "pid": os.getpid(),
        "async_mode": socketio.async_mode,
        "database": "ok",
    }
    code = 200
    try:
        get_db().execute("SELECT 1").fetchone()
    except sqlite3.Error as e:
        current_app.logger.error("healthz: database check failed: %s", e)
        body.update(status="error", database=str(e))
        code = 503
    return body, code, {"Cache-Control": "no-store"}
