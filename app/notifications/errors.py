"""One error page for every HTTP error: short HTML for people, JSON for scripts."""
from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .db import StorageError

MESSAGES = {
    403: "{description}",
    404: "There is nothing at this address.",
    405: "This address does not accept {method} requests.",
    413: "The request is too large for this server.",
    500: "Something went wrong on the server; the details are in the app log.",
    503: "{description}",
    507: "{description}",
}


def wants_json():
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def handle_http_error(e):
    # Flask also routes redirects raised during routing (e.g. a missing
    # trailing slash) through HTTPException handlers; those are not errors.
    if e.code is None or e.code < 400:
        return e
    message = MESSAGES.get(e.code, e.description).format(method=request.method, description=e.description)
    if wants_json():
        response = jsonify(error=message)
    else:
        response = render_template("error.html", error=e, message=message)
    headers = [(k, v) for k, v in e.get_headers() if k.lower() != "content-type"]  # e.g. Allow on 405
    return response, e.code, headers


class InsufficientStorage(HTTPException):
    """507: Werkzeug has no exception of its own for it."""

    code = 507
    description = "The server has no room to store this."


def handle_storage_error(e):
    """Any view: the database could not take it (busy, disk full), said as such."""
    return handle_http_error(current_app.aborter.mapping[e.status](str(e)))


def init_app(app):
    app.aborter.mapping[507] = InsufficientStorage  # abort(507, ...)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(StorageError, handle_storage_error)
