"""What a deploy would change on this server, changing nothing (`fab deploy --check`).

Run as root on the server by fab, with the system Python, from the new
release unpacked in a folder of its own (``python3 -m devbox.guest.plan``,
``$DEVBOX_PROFILE`` production): the parity diff between the devbox's
provisioning and what the server runs now. Each part is one line, and the
rendered files that would change are shown as unified diffs.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]  # the new release
PACKAGE_LISTS = ("packages.txt", "production-packages.txt")


def wanted_packages() -> list[str]:
    names = []
    for name in PACKAGE_LISTS:
        for line in (HERE / "provision" / "guest" / name).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                names.append(line.strip())
    return names


def missing_packages() -> list[str]:
    def installed(package: str) -> bool:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        return "install ok installed" in status.stdout

    return [package for package in wanted_packages() if not installed(package)]


def release_lines(s: dict) -> list[str]:
    from devbox import appcode

    live = Path(s["paths"]["synced"])
    if not live.exists():
        return ["release: the first (nothing of devbox on this server yet)"]
    live_root = live.resolve()

    def version(root: Path) -> str:
        return appcode.version(root / s["app"]["folder"], root / s["app"]["static"]["folder"])

    new, old = version(HERE), version(live_root)
    lines = [f"release: the app's code {'is unchanged' if new == old else 'changes'} "
             f"(live {live_root.name}: version {old}; new: {new})"]
    files = ["requirements/worker-" + s["worker"] + ".txt", *s["app"]["requirement_files"]]
    changed = [name for name in files
               if not (live_root / name).is_file() or (live_root / name).read_bytes() != (HERE / name).read_bytes()]
    lines.append(f"requirements: {'changed: ' + ', '.join(changed) + ' (a new venv, then a restart)' if changed else 'unchanged (the live venv, a graceful reload)'}")
    return lines


def certificate_line(s: dict) -> str:
    names = ", ".join(s["domains"])
    ordered = Path(s["acme_order"]["file"])
    if not Path(s["tls_certificate"]).is_file():
        return f"certificate: ordered from {s['acme']['directory']} for {names}"
    if ordered.is_file() and ordered.read_text().strip() == s["acme_order"]["text"]:
        return f"certificate: kept (for {names})"
    return f"certificate: ordered again from {s['acme']['directory']} for {names} (the names or the CA changed)"


def file_diffs(s: dict) -> list[str]:
    from devbox.guest.render import render

    # What this machine's role renders: a front has no app, an app server no site.
    others = {"front": "app/", "app": "nginx/"}.get(s["guest_role"], "-")
    out = []
    for template, path in s["rendered"].items():
        if template.startswith(others):
            continue
        new = render(template, s).splitlines(keepends=True)
        old = Path(path).read_text().splitlines(keepends=True) if Path(path).is_file() else []
        out.extend(difflib.unified_diff(old, new, fromfile=path if old else "/dev/null", tofile=f"{path} (new)"))
    return out


def main() -> int:
    missing = missing_packages()
    print(f"packages: {'to install: ' + ' '.join(missing) if missing else 'all there'}")
    try:
        import jinja2  # noqa: F401 (the templates' renderer)

        from devbox import settings as devbox_settings
    except ImportError:  # no python3-yaml or jinja2 yet: a server devbox never touched
        print("files: all new (the settings are read here once the packages are in)")
        return 0
    try:
        s = devbox_settings.load(HERE / "devbox.yaml")
    except devbox_settings.SettingsError as exc:
        print(f"settings: {exc}")
        return 2
    ufw = subprocess.run(["ufw", "status"], capture_output=True, text=True) if "ufw" not in missing else None
    active = ufw is not None and "Status: active" in ufw.stdout
    site = f"{s['ssh_port']}, {s['guest_port']} and {s['https_guest_port']} in"
    ports = {"all": site, "front": f"{site}, Redis ({s['redis_port']}) from {' '.join(s['app_addresses'])}",
             "app": f"{s['ssh_port']} in, {s['app_port']} from the front ({s['front_address']})"}[s["guest_role"]]
    print(f"firewall: {'on' if active else 'turned on'}: {ports}, nothing else")
    for line in release_lines(s):
        print(line)
    if s["guest_role"] != "app":
        print(certificate_line(s))
    diffs = file_diffs(s)
    print(f"files: {'unchanged' if not diffs else 'these change:'}")
    sys.stdout.writelines(diffs)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DEVBOX_PROFILE", "production")
    sys.exit(main())
