"""Notifications: the page, the form endpoint, the catch-up API, and the one
place where a notification is validated, stored and broadcast."""
from datetime import datetime, timezone

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for

from .db import run
from .extensions import socketio

bp = Blueprint("notifications", __name__)

PAGE_SIZE = 100  # newest shown on the page; most returned by one catch-up call
SQLITE_MAX_INT = 2**63 - 1


class InvalidNotification(ValueError):
    """The text cannot be sent; str(error) is a message for the person who typed it."""


def clean_text(value):
    """Return the notification text ready to store, or raise InvalidNotification."""
    if not isinstance(value, str):
        raise InvalidNotification("Notification text must be a string.")
    # Browsers submit textarea line breaks as CRLF; count them as one character.
    text = value.replace("\r\n", "\n").strip()
    if not text:
        raise InvalidNotification("Notification text is empty; type something to send.")
    limit = current_app.config["MAX_TEXT_LENGTH"]
    if len(text) > limit:
        raise InvalidNotification(f"Notification text is {len(text)} characters; the limit is {limit}.")
    return text


def create_notification(value):
    """Validate, store and broadcast one notification; return it as a dict."""
    text = clean_text(value)
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cur = run("INSERT INTO notifications (text, created_at) VALUES (?, ?)", (text, created_at), write=True)
    item = {"id": cur.lastrowid, "text": text, "created_at": created_at}
    socketio.emit("notification", item)
    return item


@bp.get("/")
def index():
    rows = run("SELECT id, text, created_at FROM notifications ORDER BY id DESC LIMIT ?", (PAGE_SIZE,)).fetchall()
    return render_template("index.html", notifications=rows)


@bp.post("/notifications")
def post():
    try:
        create_notification(request.form.get("text", ""))
    except InvalidNotification as e:
        abort(400, str(e))
    return redirect(url_for("notifications.index"), 303)


# A collection URL ends in a slash; without it Werkzeug redirects (absolutely)
# to this canonical one.
@bp.get("/notifications")
def back_to_index():
    """A reload after a failed POST (or a typed URL) lands on the page."""
    return redirect(url_for("notifications.index"))


@bp.get("/api/notifications/")
def api_list():
    """Notifications with an id above ?after=, oldest first: what a client
    missed while it was disconnected."""
    after = request.args.get("after", "0")
    # isdigit() alone would accept non-ASCII digits; SQLite rejects ints past 64 bits.
    if not (after.isascii() and after.isdigit() and int(after) <= SQLITE_MAX_INT):
        abort(400, "'after' must be a notification id: a whole number, 0 or more.")
    rows = run("SELECT id, text, created_at FROM notifications WHERE id > ? ORDER BY id LIMIT ?",
               (int(after), PAGE_SIZE)).fetchall()
    return jsonify([dict(row) for row in rows])
