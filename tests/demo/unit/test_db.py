import sqlite3

import pytest

from notifications.db import get_db


def test_one_connection_per_context_closed_after(app):
    with app.app_context():
        db = get_db()
        assert get_db() is db
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        db.execute("SELECT 1")


def test_table_exists_at_boot_in_new_folder(app, tmp_path):
    assert (tmp_path / "db" / "test.sqlite").exists()
    with app.app_context():
        assert get_db().execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


def test_init_db_command_keeps_data(runner, client, stored):
    client.post("/notifications", data={"text": "kept"})
    result = runner.invoke(args=["init-db"])
    assert "Database ready" in result.output
    assert stored() == ["kept"]
