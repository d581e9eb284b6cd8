"""SQLite access, one connection per app context, as in the Flask tutorial."""
import os
import sqlite3

import click
from flask import current_app, g
from flask.cli import with_appcontext


def get_db():
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
        g.db.row_factory = sqlite3.Row
    return g.db


def close_db(e=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_db():
    """Create the tables that are missing; never drops data."""
    db = get_db()
    with current_app.open_resource("schema.sql") as f:
        db.executescript(f.read().decode("utf8"))


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
