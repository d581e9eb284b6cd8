"""GET /healthz: the app's own health check (is its database usable?)."""
import sqlite3

from flask import Blueprint, current_app

from .db import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        get_db().execute("SELECT 1").fetchone()
    except sqlite3.Error as e:
        current_app.logger.error("healthz: database check failed: %s", e)
        return {"status": "error", "database": str(e)}, 503, {"Cache-Control": "no-store"}
    return {"status": "ok", "database": "ok"}, 200, {"Cache-Control": "no-store"}
