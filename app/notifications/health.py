"""GET /healthz: the app's own health: can it store (the database) and broadcast (the message queue)?"""
import sqlite3

from flask import Blueprint, current_app

from .db import StorageError, run
from .queue import ping

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    body = {"status": "ok", "database": "ok"}
    try:
        run("SELECT 1").fetchone()
    except (sqlite3.Error, StorageError) as e:
        current_app.logger.error("healthz: database check failed: %s", e)
        body.update(status="error", database=str(e))
    if current_app.config["MESSAGE_QUEUE"]:
        problem = ping(current_app.config["MESSAGE_QUEUE"])
        body["message_queue"] = problem or "ok"
        if problem:
            body["status"] = "error"
    return body, 200 if body["status"] == "ok" else 503, {"Cache-Control": "no-store"}
