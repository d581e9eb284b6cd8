"""Refuse state-changing requests that another site's page makes the browser send.

A form on any site can post to this app with the user's cookies (cross-site
request forgery). Browsers say where a request comes from: Sec-Fetch-Site
(same-origin, same-site, cross-site, none) and, on a POST, Origin. A write
is accepted only from this app's own pages, or with neither header (curl,
scripts, old browsers). Socket.IO needs nothing here: engine.io refuses a
foreign Origin itself.
"""
from flask import abort, request

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MESSAGE = ("This request came from a page on another site ({origin}), and this app only accepts changes "
           "sent from its own pages. Open {own} and send it from there.")


def refuse_cross_site():
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    own = request.host_url.rstrip("/")
    if site not in (None, "same-origin", "none") or (origin is not None and origin != own):
        abort(403, MESSAGE.format(origin=origin or site, own=own))


def init_app(app):
    app.before_request(refuse_cross_site)
