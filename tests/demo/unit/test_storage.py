"""The demo's storage and message queue when they fail: another process's lock
does not freeze the server and is waited out, a lock held too long or a full
disk is a clear refusal with nothing stored, and a Redis that is down or hung
costs a post at most a couple of seconds, its clients still getting it."""

import socket
import sqlite3
import threading
import time

import pytest

from notifications import db as notifications_db
from notifications.queue import RedisQueue


def test_the_database_runs_in_wal_mode(app):
    with app.app_context():
        assert notifications_db.run("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_another_process_lock_is_waited_out_without_blocking(app, client, stored):
    # A second connection stands for another process that holds the write lock.
    other = sqlite3.connect(app.config["DATABASE"], check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, other.commit)
    sleeps = []
    real_sleep = time.sleep
    started = time.monotonic()
    try:
        releaser.start()
        # Waiting happens in time.sleep, which an async worker turns into a yield.
        notifications_db.time.sleep = lambda s: (sleeps.append(s), real_sleep(s))
        assert client.post("/notifications", data={"text": "after the lock"}).status_code == 303
    finally:
        notifications_db.time.sleep = real_sleep
        releaser.join()
        other.close()
    assert 0.4 < time.monotonic() - started < 3
    assert len(sleeps) > 5 and max(sleeps) <= notifications_db.PAUSE
    assert stored() == ["after the lock"]
    assert client.get("/").status_code == 200  # readers were never blocked (WAL)


def test_a_lock_held_too_long_is_a_clear_503_and_nothing_stored(app, client, stored, monkeypatch):
    monkeypatch.setattr(notifications_db, "WAIT", 0.3)
    other = sqlite3.connect(app.config["DATABASE"])
    other.execute("BEGIN IMMEDIATE")
    try:
        response = client.post("/notifications", data={"text": "too late"})
    finally:
        other.rollback()
        other.close()
    assert response.status_code == 503
    assert "The database is busy; nothing was stored" in response.get_data(as_text=True)
    assert stored() == []


def test_a_full_disk_is_a_clear_507_and_the_socket_ack_says_so(app, client, socket_client, monkeypatch):
    real_connect = notifications_db.sqlite3.connect

    class FullConnection(sqlite3.Connection):
        def execute(self, sql, *args):
            if sql.startswith("INSERT"):
                error = sqlite3.OperationalError("database or disk is full")
                error.sqlite_errorname = "SQLITE_FULL"
                raise error
            return super().execute(sql, *args)

    monkeypatch.setattr(notifications_db.sqlite3, "connect", lambda *a, **k: real_connect(*a, factory=FullConnection, **k))
    response = client.post("/notifications", data={"text": "no room"})
    assert response.status_code == 507
    assert "disk is full or failing, so nothing was stored" in response.get_data(as_text=True)
    ack = socket_client.emit("notify", {"text": "no room"}, callback=True)
    assert ack == {"ok": False, "error": "The server's disk is full or failing, so nothing was stored; try again later."}


@pytest.fixture
def hung_redis():
    """A port that accepts connections and never answers: Redis stopped with SIGSTOP."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


@pytest.mark.parametrize("where", ["refused", "hung"])
def test_a_broadcast_without_redis_is_quick_and_reaches_this_process(where, hung_redis):
    url = "redis://127.0.0.1:1/0" if where == "refused" else hung_redis
    queue = RedisQueue(url, channel="test")
    delivered = []
    queue._handle_emit = delivered.append
    message = {"method": "emit", "event": "notification", "data": {"id": 1}, "namespace": "/"}
    started = time.monotonic()
    queue._publish(message)
    assert time.monotonic() - started < 2.5
    assert delivered == [message]


def test_health_says_when_the_message_queue_is_unreachable(app, client):
    app.config["MESSAGE_QUEUE"] = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    body = response.get_json()
    assert (response.status_code, body["status"], body["database"]) == (503, "error", "ok")
    assert body["message_queue"] != "ok"
