"""Entry point for gunicorn: ``gunicorn app.wsgi:app``.

No monkey patching here: gunicorn's eventlet/gevent worker does it before this
module is imported.
"""
from . import create_app

app = create_app()
