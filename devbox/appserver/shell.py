"""`fab shell`: an interactive Python on the app, in the guest, with its venv and environment.

    python -m devbox.appserver.shell TARGET

The app is loaded as gunicorn loads it (TARGET is app.wsgi) and is ``app`` in
the shell. For a Flask app the shell gets what `flask shell` gives: an app
context and the app's shell context; any other WSGI app is just ``app``.
"""

import code
import sys

from gunicorn.util import import_app


def main(argv: list[str]) -> None:
    target = argv[0]
    app = import_app(target)
    namespace = {"app": app}
    if callable(getattr(app, "make_shell_context", None)):  # Flask
        app.app_context().push()
        namespace.update(app.make_shell_context())
    code.interact(banner=f"Python {sys.version.split()[0]}, app = {target} (Ctrl-D leaves)", local=namespace,
                  exitmsg="")


if __name__ == "__main__":
    main(sys.argv[1:])
