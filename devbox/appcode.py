"""The app's code as devbox sees it: which files a reload picks up, and their version.

Used in the app's process (the version a worker booted with, in
/_devbox/health) and on the host (the version `fab reload` waits for, the
files `fab watch` reloads on), so both sides agree by construction. Standard
library only: it must import in any app's virtualenv.

Everything in the app folder is code (Python in any package layout,
templates, SQL, config files), except the static folder, which nginx serves
as it is, and what is never a reason to reload: tooling and cache folders,
editors' scratch files, data files and logs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

IGNORED_DIRS = {"__pycache__", "node_modules", "venv", "env", "instance", "htmlcov"}  # and every .dotfolder
IGNORED_SUFFIXES = (".swp", ".swx", ".swo", "~", ".tmp", ".bak", ".pyc", ".pyo", ".map", ".log",
                    ".sqlite", ".sqlite3", ".db", "-journal", "-wal", "-shm")
IGNORED_NAMES = {"4913", ".DS_Store"}  # 4913: vim's probe that a folder is writable


def is_code(relative: str | PurePosixPath) -> bool:
    """Whether a change to ``relative`` (a path inside the app folder, static folder excluded) needs a reload."""
    path = PurePosixPath(relative)
    if any(part.startswith(".") or part in IGNORED_DIRS for part in path.parts[:-1]):
        return False
    name = path.name
    return not (name in IGNORED_NAMES or name.startswith((".#", "#")) or name.endswith(IGNORED_SUFFIXES))


def code_files(app_dir: Path, static_dir: Path) -> list[Path]:
    """The app's code files, sorted, as paths relative to ``app_dir``."""
    app_dir, static_dir = Path(app_dir), Path(static_dir)
    found = []
    for folder, dirs, files in os.walk(app_dir):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in IGNORED_DIRS and here / d != static_dir]
        found += [(here / name).relative_to(app_dir) for name in files]
    return sorted(path for path in found if is_code(path.as_posix()))


def version(app_dir: Path, static_dir: Path) -> str:
    """A short hash of the app's code files: their names, sizes and modification times.

    The host and the guest see the same of each through a bind mount or an
    rsync that keeps times, whoever may read the file (a 0600 .env is code the
    guest cannot read), and no file is read: an app folder with large data
    costs a stat per file. A reload always waits for a freshly booted worker
    as well, so two saves within one clock tick cannot pass for old code.
    """
    digest = hashlib.sha256()
    for relative in code_files(app_dir, static_dir):
        try:
            stat = (Path(app_dir) / relative).stat()
        except OSError:  # removed meanwhile, or a dangling link: not code that can run
            continue
        digest.update(f"{relative.as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:12]
