"""Socket.IO event handlers. Every outcome is an ack; nothing a client sends
closes its connection or stops the worker."""
from flask import current_app, request

from .extensions import socketio
from .notifications import InvalidNotification, create_notification


@socketio.on("notify")
def notify(payload=None, *_):
    """{"text": str} -> stored and broadcast like a form post; ack says how it went."""
    if not isinstance(payload, dict) or "text" not in payload:
        return {"ok": False, "error": 'Send an object like {"text": "your notification"}.'}
    try:
        item = create_notification(payload["text"])
    except InvalidNotification as e:
        return {"ok": False, "error": str(e)}
    return {"ok": True, "id": item["id"]}


REFRESH_ACTIONS = ("page", "css")


@socketio.on("devbox:changed")
def devbox_changed(payload=None, *_):
    """Development mode only: `fab watch` saw files change; every open page
    refreshes (``page``) or swaps its stylesheets (``css``)."""
    if not current_app.config["DEV_MODE"]:
        return {"ok": False, "error": "Live refresh is on only in development mode (DEVBOX_DEV_MODE=true)."}
    if not isinstance(payload, dict) or payload.get("action") not in REFRESH_ACTIONS:
        return {"ok": False, "error": 'Send {"action": "page"} or {"action": "css"}.'}
    socketio.emit("devbox:refresh", {"action": payload["action"]})
    return {"ok": True}


@socketio.on("echo")
def echo(*args):
    """Acks back exactly what was sent (round-trip benchmarks)."""
    return args


@socketio.on_error_default
def on_error(e):
    # Whatever a handler raised is logged and turned into an ack; the client
    # stays connected.
    current_app.logger.exception("Socket.IO event %r from %s failed", request.event.get("message"), request.sid)
    return {"ok": False, "error": "The server could not handle this event; the details are in the app log."}
