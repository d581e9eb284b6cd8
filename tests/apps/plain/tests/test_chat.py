"""The plain app's own tests, as a team writes its first ones: devbox's pytest
plugin gives the fixtures, and everything goes through the forwarded port.
(./setup.sh test runs them while the guest runs this app.)"""

import queue
import uuid
from pathlib import Path

from playwright.sync_api import expect

TEMPLATE = Path(__file__).parents[1] / "templates" / "index.html"


def test_a_message_sent_from_the_page_is_listed(page):
    text = f"hello {uuid.uuid4().hex[:8]}"
    page.goto("/")
    page.fill("input[name=text]", text)
    page.click("button")
    expect(page.locator("#messages li", has_text=text)).to_have_count(1)
    assert page.errors == []


def test_a_message_said_over_socketio_reaches_every_client(socketio_client):
    sender, listener = socketio_client(), socketio_client()
    heard = queue.Queue()
    listener.on("message", heard.put)
    sender.emit("say", "hello over Socket.IO")
    assert heard.get(timeout=5) == "hello over Socket.IO"


def test_an_edited_template_is_live_at_once(edit, http):
    edit(TEMPLATE, TEMPLATE.read_text().replace("<h1>Chat</h1>", "<h1>Chat room</h1>"))
    assert "<h1>Chat room</h1>" in http.get("/").text
