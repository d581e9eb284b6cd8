"""Socket.IO event handlers. Every outcome is an ack; nothing a client sends
closes its connection or stops the worker."""
from flask import current_app, request

from .extensions import socketio
from .db import StorageError
from .views import InvalidNotification, create_notification


@socketio.on("notify")
def notify(payload=None, *_):
    """{"text": str} -> stored and broadcast like a form post; ack says how it went."""
    if not isinstance(payload, dict) or "text" not in payload:
        return {"ok": False, "error": 'Send an object like {"text": "your notification"}.'}
    try:
        item = create_notification(payload["text"])
    except (InvalidNotification, StorageError) as e:
        return {"ok": False, "error": str(e)}
    return {"ok": True, "id": item["id"]}


@socketio.on("echo")
def echo(*args):
    """Acks back exactly what was sent: a round-trip probe for clients and tests."""
    return args


@socketio.on_error_default
def on_error(e):
    # Whatever a handler raised is logged and turned into an ack; the client
    # stays connected.
    current_app.logger.exception("Socket.IO event %r from %s failed", request.event.get("message"), request.sid)
    return {"ok": False, "error": "The server could not handle this event; the details are in the app log."}
