"""Broadcast fan-out: how long until every one of N connected clients has a message.

    .venv/bin/python -m bench.fanout [--clients 100 1000] [--messages 20] [--post /notifications --field text]

N raw Socket.IO clients connect over WebSocket through the forwarded port and
are read from one thread with a selector. Each round posts one form (what a
browser would send) that makes the app broadcast its text, and times, from the
post, until the last client has it. Only the app knows what makes it
broadcast: --post and --field name the form (the demo's by default; the plain
test app's is --post /say). Prints median and p99 over the rounds per N, as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import selectors
import statistics
import time
import uuid

import requests
import websocket

from devbox import settings as devbox_settings


def open_clients(base_url: str, count: int) -> list[websocket.WebSocket]:
    """``count`` WebSockets that have joined Socket.IO's default namespace."""
    url = base_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    clients = []
    for _ in range(count):
        ws = websocket.create_connection(url, origin=base_url, timeout=10)
        assert ws.recv().startswith("0{")
        ws.send("40")
        assert ws.recv().startswith("40")
        clients.append(ws)
    return clients


# The demo's form: a notification posted is broadcast to every client.
POST, FIELD = "/notifications", "text"


def one_round(session, base_url, selector, clients, post=POST, field=FIELD) -> float:
    """Post a form the app broadcasts; seconds until every client has received it."""
    text = f"fan-out {uuid.uuid4().hex[:12]}"
    waiting = set(range(len(clients)))
    started = time.perf_counter()
    session.post(base_url + post, data={field: text}, allow_redirects=False, timeout=10)
    deadline = started + 30
    while waiting:
        if time.perf_counter() > deadline:
            raise SystemExit(f"bench.fanout: {len(waiting)} of {len(clients)} clients did not get it within 30 s")
        for key, _ in selector.select(timeout=1):
            ws = clients[key.data]
            frame = ws.recv()
            if frame == "2":
                ws.send("3")  # Engine.IO ping
            elif text in frame:
                waiting.discard(key.data)
    return time.perf_counter() - started


def measure(base_url: str, count: int, rounds: int, post: str = POST, field: str = FIELD) -> dict:
    clients = open_clients(base_url, count)
    selector = selectors.DefaultSelector()
    for i, ws in enumerate(clients):
        selector.register(ws.sock, selectors.EVENT_READ, i)
    try:
        with requests.Session() as session:
            one_round(session, base_url, selector, clients, post, field)  # warm-up
            samples = sorted(one_round(session, base_url, selector, clients, post, field) for _ in range(rounds))
    finally:
        selector.close()
        for ws in clients:
            ws.close()
    return {"clients": count, "rounds": rounds, "median_ms": round(statistics.median(samples) * 1000, 1),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--messages", type=int, default=20, help="rounds per client count (default 20)")
    parser.add_argument("--post", default=POST, help=f"form URL that makes the app broadcast (default {POST})")
    parser.add_argument("--field", default=FIELD, help=f"form field carrying the text (default {FIELD})")
    args = parser.parse_args(argv)
    # One file descriptor per client: lift the soft limit to the hard one.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    s = devbox_settings.load()
    base_url = f"http://{s['host_ip']}:{s['host_port']}"
    print(json.dumps([measure(base_url, n, args.messages, args.post, args.field) for n in args.clients]))


if __name__ == "__main__":
    main()
