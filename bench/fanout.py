"""Broadcast fan-out: how long until every one of N connected clients has a notification.

    .venv/bin/python -m bench.fanout [--clients 100 1000] [--messages 20]

N raw Socket.IO clients connect over WebSocket through the forwarded port and
are read from one thread with a selector. Each round posts one notification
(the same form post a browser makes) and times, from the post, until the last
client has it. Prints median and p99 over the rounds per N, as JSON.
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


def one_round(session, base_url, selector, clients) -> float:
    """Post a notification; seconds until every client has received it."""
    text = f"fan-out {uuid.uuid4().hex[:12]}"
    waiting = set(range(len(clients)))
    started = time.perf_counter()
    session.post(base_url + "/notifications", data={"text": text}, allow_redirects=False, timeout=10)
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


def measure(base_url: str, count: int, rounds: int) -> dict:
    clients = open_clients(base_url, count)
    selector = selectors.DefaultSelector()
    for i, ws in enumerate(clients):
        selector.register(ws.sock, selectors.EVENT_READ, i)
    try:
        with requests.Session() as session:
            one_round(session, base_url, selector, clients)  # warm-up
            samples = sorted(one_round(session, base_url, selector, clients) for _ in range(rounds))
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
    args = parser.parse_args(argv)
    # One file descriptor per client: lift the soft limit to the hard one.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    s = devbox_settings.load()
    base_url = f"http://{s['host_ip']}:{s['host_port']}"
    print(json.dumps([measure(base_url, n, args.messages) for n in args.clients]))


if __name__ == "__main__":
    main()
