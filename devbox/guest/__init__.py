"""devbox's code that runs in the guest at provision time and as its own
services: the template renderer and the live refresh hub. System Python only
(python3, python3-yaml, python3-jinja2 from Debian), never the app's venv.
"""
