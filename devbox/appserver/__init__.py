"""devbox's code that runs inside the app's process, in the guest: the WSGI
entry point wrapped around the app (:mod:`devbox.appserver.wsgi`), the
gunicorn configuration (:mod:`devbox.appserver.gunicorn_conf`) and the worker
classes with devbox's reload fixes (:mod:`devbox.appserver.workers`).

Standard library and gunicorn only: these modules import in any app's venv.
"""
