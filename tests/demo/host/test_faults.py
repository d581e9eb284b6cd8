"""The demo when its storage or its message queue fails, through the stack:
nothing acknowledged is lost, nothing is acknowledged that was not stored, a
post never waits long, and broadcasts come back by themselves."""

import queue
import time
import uuid

import pytest

from devbox.host.guest import wait_for
from tests.helpers import scratch_folder, use_scratch_data


def received(client):
    inbox = queue.Queue()
    client.on("notification", inbox.put)
    return inbox


def post(http, text):
    started = time.monotonic()
    response = http.post("/notifications", data={"text": text})
    return response, time.monotonic() - started


def test_a_hung_redis_costs_a_post_little_and_its_clients_still_get_it(socketio_client, http, guest, unique_text):
    inbox = received(socketio_client())
    guest.run("sudo pkill -STOP -x redis-server", hide=True)
    try:
        response, took = post(http, unique_text)
        assert (response.status_code, took < 5) == (303, True), took
        assert inbox.get(timeout=5)["text"] == unique_text  # this process's clients, without the queue
        health = http.get("/healthz")
        assert (health.status_code, health.json()["database"]) == (503, "ok")
        assert health.json()["message_queue"] != "ok"
    finally:
        guest.run("sudo pkill -CONT -x redis-server", hide=True)
    assert wait_for(lambda: http.get("/healthz").status_code == 200, timeout=20)


def test_broadcasts_come_back_by_themselves_when_redis_does(socketio_client, http, guest):
    inbox = received(socketio_client())
    guest.run("sudo systemctl stop redis-server", hide=True)
    try:
        response, took = post(http, f"while redis is down {uuid.uuid4().hex[:8]}")
        assert (response.status_code, took < 5) == (303, True), took
        inbox.get(timeout=5)
    finally:
        guest.run("sudo systemctl start redis-server", hide=True)
    assert wait_for(lambda: http.get("/healthz").status_code == 200, timeout=20)
    # Through the queue again: the subscription came back within its retry.
    text = f"after redis is back {uuid.uuid4().hex[:8]}"

    def delivered():
        post(http, text)
        try:
            return inbox.get(timeout=1)["text"] == text
        except queue.Empty:
            return False

    assert wait_for(delivered, timeout=15, interval=0.1)


@pytest.fixture
def small_disk(guest, guests, settings):
    """The app's data folder on a 2 MB tmpfs, the app restarted onto it; back to the scratch folder afterwards."""
    scratch = scratch_folder(settings)
    guest.run(f"sudo mount -t tmpfs -o size=2m,mode=750,uid=$(id -u {settings['name']}),gid=$(id -g {settings['name']}) "
              f"devbox-test-disk {scratch}", hide=True)
    try:
        use_scratch_data(settings, guests, fresh=False)
        yield scratch
    finally:
        guest.run(f"sudo umount -l {scratch}", hide=True)
        use_scratch_data(settings, guests)


def test_a_full_disk_is_a_clear_refusal_and_loses_nothing_acknowledged(http, guest, small_disk, unique_text):
    kept, _ = post(http, unique_text)
    assert kept.status_code == 303
    guest.run(f"sudo dd if=/dev/zero of={small_disk}/filler bs=4k status=none || true", hide=True)
    refused, _ = post(http, f"no room {uuid.uuid4().hex[:8]}")
    assert refused.status_code == 507
    assert "disk is full or failing, so nothing was stored" in refused.text
    page = http.get("/")
    assert page.status_code in (200, 507)  # the page too, or says why it cannot
    guest.run(f"sudo rm -f {small_disk}/filler", hide=True)
    again, _ = post(http, f"room again {uuid.uuid4().hex[:8]}")
    assert again.status_code == 303
    assert unique_text in http.get("/").text  # what was acknowledged is still there
