"""Render a provisioning template with the settings.

Usage: ``python3 -m devbox.guest.render SERVICE/NAME.j2`` prints the rendered
template (``nginx/site.conf.j2`` is ``provision/guest/nginx/site.conf.j2``).
Jinja2's ``{{ }}`` never clashes with nginx's single braces.
"""

from __future__ import annotations

import re
import sys

import jinja2

from devbox import settings as devbox_settings

TEMPLATES = devbox_settings.ROOT / "provision" / "guest"


def render(name: str, settings: dict) -> str:
    """Render template ``name`` (e.g. ``nginx/site.conf.j2``) with ``settings``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,  # a typo in a template fails loudly
        keep_trailing_newline=True,
    )
    env.filters["regex_escape"] = re.escape  # a setting's value inside an nginx regex
    return env.get_template(name).render(**settings)


def main(argv: list[str]) -> int:
    try:
        s = devbox_settings.load()
    except devbox_settings.SettingsError as exc:
        print(f"devbox.yaml: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(argv[0], s))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
