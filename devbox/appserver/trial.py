"""Whether a release's app loads, before it goes live (fab deploy: provision/guest/app/app.sh).

Run by the new venv's Python as the app's user, with the app's environment, in
the new release's app folder: the import gunicorn's worker will do there.
Exits 1 with the reason on its last line when the app does not load.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gunicorn.util import import_app

from devbox.appserver.wsgi import describe


def main(target: str) -> int:
    try:
        import_app(target)
    except (Exception, SystemExit) as exc:  # whatever the app's import raised
        print(describe(exc, Path.cwd()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
