"""The plain app's own tests, as a team writes its first ones: devbox's pytest
plugin gives the fixtures, and everything goes through the forwarded port.
(./setup.sh test runs them while the guest runs this app.)"""

import queue
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

TEMPLATE = Path(__file__).parents[1] / "templates" / "index.html"


def test_a_message_sent_from_the_page_is_listed(page):
    text = f"hello {uuid.uuid4().hex[:8]}"
    page.goto("/")
    page.fill("input[name=text]", text)
    page.click("button")
    expect(page.locator("#messages li", has_text=text)).to_have_count(1)
    assert page.errors == []


def test_over_https_the_secure_session_cookie_reaches_the_browser(new_context, https_url):
    context = new_context(base_url=https_url)
    page = context.new_page()
    page.goto("/")
    for n in (1, 2):
        page.fill("input[name=text]", f"hello {n}")
        page.click("button")
        expect(page.locator("#said")).to_have_text(f"You said {n}.")
    session = next(cookie for cookie in context.cookies() if cookie["name"] == "session")
    assert session["secure"] is True


# Over HTTP and over HTTPS (wss): base_url, and the client, follow the parameter.
@pytest.mark.parametrize("base_url", ["http", "https"], indirect=True)
def test_a_message_said_over_socketio_reaches_every_client(socketio_client):
    sender, listener = socketio_client(), socketio_client()
    heard = queue.Queue()
    listener.on("message", heard.put)
    sender.emit("say", "hello over Socket.IO")
    assert heard.get(timeout=5) == "hello over Socket.IO"


def test_an_edited_template_is_live_at_once(edit, http):
    edit(TEMPLATE, TEMPLATE.read_text().replace("<h1>Chat</h1>", "<h1>Chat room</h1>"))
    assert "<h1>Chat room</h1>" in http.get("/").text
