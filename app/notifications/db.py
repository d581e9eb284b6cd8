"""SQLite access, one connection per app context, as in the Flask tutorial.

Waiting for a lock never stops the server: under eventlet or gevent, sqlite3
waiting inside C would freeze every other client of the process. So the
database runs in WAL mode (another process's writer does not block readers),
connections never wait inside sqlite3, and a busy database is tried again
after short sleeps, which every async worker turns into a yield. A lock held
longer than WAIT, or a full disk, is a StorageError the views report as such.
"""
import os
import sqlite3
import time

import click
from flask import current_app, g
from flask.cli import with_appcontext

WAIT = 5.0     # seconds a statement may wait for another writer's lock
PAUSE = 0.02


class StorageError(Exception):
    """The database cannot take this now; str() says why, for the person who asked, and
    ``status`` is the HTTP status that says it: 507 for a full disk, 503 for a busy database."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def get_db():
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"], timeout=0)
        g.db.row_factory = sqlite3.Row
    return g.db


def run(statement, params=(), write=False):
    """Execute one statement (in a transaction when ``write``), waiting for locks without blocking the server."""
    db = get_db()
    deadline = time.monotonic() + WAIT
    while True:
        try:
            if not write:
                return db.execute(statement, params)
            with db:
                return db.execute(statement, params)
        except sqlite3.OperationalError as e:
            kind = getattr(e, "sqlite_errorname", "")  # SQLITE_BUSY, SQLITE_FULL, SQLITE_IOERR_WRITE, ...
            if kind.startswith(("SQLITE_FULL", "SQLITE_IOERR")):
                # A full disk shows as either, depending on which file SQLite was writing.
                raise StorageError("The server's disk is full or failing, so nothing was stored; "
                                   "try again later.", 507) from e
            if not kind.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                raise
            if time.monotonic() > deadline:
                raise StorageError("The database is busy; nothing was stored. Try again in a moment.", 503) from e
            time.sleep(PAUSE)


def close_db(e=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_db():
    """Create the tables that are missing; never drops data."""
    with current_app.open_resource("schema.sql") as f:
        schema = f.read().decode("utf8")
    run("PRAGMA journal_mode=WAL")
    for statement in filter(str.strip, schema.split(";")):
        run(statement, write=True)


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the database tables if they are missing."""
    init_db()
    click.echo(f"Database ready: {current_app.config['DATABASE']}")


def init_app(app):
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
    parent = os.path.dirname(os.path.abspath(app.config["DATABASE"]))
    os.makedirs(parent, exist_ok=True)
    # Once at boot rather than on every request: a fresh guest gets its table
    # before the first request needs it.
    with app.app_context():
        init_db()
