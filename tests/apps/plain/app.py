"""A small chat room: a plain single-module Flask + Flask-SocketIO app.

Written the way such apps usually start, with no thought of devbox: no
message queue, no health endpoint, messages kept in memory. devbox's stack
tests run against it as well as against the demo (./setup.sh test switches the
guest to it with DEVBOX_APP=tests/apps/plain).
"""
from flask import Flask, redirect, render_template, request, session, url_for
from flask_socketio import SocketIO, emit

app = Flask(__name__)
app.config["SECRET_KEY"] = "change-me"
# As in production: the session cookie travels over HTTPS only.
app.config["SESSION_COOKIE_SECURE"] = True
socketio = SocketIO(app)

messages = []


@app.route("/")
def index():
    return render_template("index.html", messages=messages)


@app.post("/say")
def say():
    text = request.form.get("text", "").strip()
    if text:
        messages.append(text)
        session["said"] = session.get("said", 0) + 1
        socketio.emit("message", text)
    return redirect(url_for("index"))


@socketio.on("say")
def on_say(text):
    if isinstance(text, str) and text.strip():
        messages.append(text.strip())
        emit("message", text.strip(), broadcast=True)


if __name__ == "__main__":
    socketio.run(app, debug=True)
