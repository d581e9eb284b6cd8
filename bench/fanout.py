"""Broadcast fan-out: how long until every one of N connected clients has a message.

    .venv/bin/python -m bench.fanout [--clients 100 1000] [--messages 20] [--procs 1 2]
                                     [--post /notifications --field text]

N raw Socket.IO clients connect over WebSocket through the forwarded port,
spread over --procs generator processes that each read theirs with one
selector. They look for the broadcast in the raw bytes (server frames are
unmasked) rather than parse every frame, and answer Engine.IO's pings. Each
round posts one form (what a browser would send) that makes the app broadcast
a unique text, and times, from the post, until the last client has it. Only
the app knows what makes it broadcast: --post and --field name the form (the
demo's by default; the plain test app's is --post /say).

Prints, per N and per process count, median and p99 over the rounds and how
busy the busiest generator process was during a round (its CPU seconds over
the round's length, median). A generator near 1.0 sets the pace itself; the
same figures with more processes show that it does not.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import selectors
import statistics
import time
import uuid

import requests
import websocket

from devbox import settings as devbox_settings
from devbox.host import tls


def open_clients(base_url: str, count: int) -> list[websocket.WebSocket]:
    """``count`` WebSockets that have joined Socket.IO's default namespace."""
    url = base_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    clients = []
    for _ in range(count):
        ws = websocket.create_connection(url, origin=base_url, timeout=10, sslopt=tls.websocket_sslopt(base_url))
        assert ws.recv().startswith("0{")
        ws.send("40")
        assert ws.recv().startswith("40")
        clients.append(ws)
    return clients


# The demo's form: a notification posted is broadcast to every client.
POST, FIELD = "/notifications", "text"
# Engine.IO's ping as an unmasked WebSocket text frame, as the server sends it.
PING = b"\x81\x012"


def crowd(base_url: str, count: int, parent) -> None:
    """One load-generator process: ``count`` clients, answering pings while idle.

    For each round token received from ``parent`` (its end of a pipe) it reads
    raw bytes (server frames are unmasked, so the text shows as is: no
    per-frame parsing) until every client has the token, then answers the
    monotonic time the last one got it and the CPU seconds this process spent
    on the round."""
    clients, selector = [], selectors.DefaultSelector()
    selector.register(parent, selectors.EVENT_READ, None)

    def serve(timeout, token=None, waiting=None, tails=None, arrived=None):
        """Read what came; True when the parent has sent something. A client of
        ``waiting`` leaves it once ``token`` shows in its stream (when, goes to
        ``arrived``); ``tails`` keeps each stream's last bytes, since the token
        may straddle two reads."""
        command = False
        for key, _ in selector.select(timeout=timeout):
            i = key.data
            if i is None:
                command = True
                continue
            data = clients[i].sock.recv(65536)
            if PING in data:
                clients[i].send("3")
            if waiting is not None and i in waiting:
                seen = tails[i] + data
                if token in seen:
                    waiting.discard(i)
                    arrived.append(time.perf_counter())
                tails[i] = seen[-len(token):]
        return command

    for batch in range(0, count, 100):  # pings keep coming while the rest connect
        for ws in open_clients(base_url, min(100, count - batch)):
            selector.register(ws.sock, selectors.EVENT_READ, len(clients))
            clients.append(ws)
        serve(0)
    parent.send("ready")
    try:
        while True:
            while not serve(None):
                pass
            token = parent.recv()
            if token is None:
                return
            waiting, tails, arrived = set(range(count)), [b""] * count, []
            cpu, deadline = time.process_time(), time.perf_counter() + 30
            while waiting and time.perf_counter() < deadline:
                serve(1, token, waiting, tails, arrived)
            parent.send((None if waiting else max(arrived), time.process_time() - cpu))
    finally:
        for ws in clients:
            ws.close()


def measure(base_url: str, count: int, rounds: int, post: str = POST, field: str = FIELD, procs: int = 1) -> dict:
    """Median and p99 over ``rounds`` of the time from a post until all ``count`` clients have its
    broadcast, the clients spread over ``procs`` generator processes; with how busy the busiest
    generator was (CPU seconds / round seconds), which says whether it, not the stack, set the pace."""
    if not 1 <= procs <= count:
        raise SystemExit(f"bench.fanout: {procs} generator processes for {count} clients; use 1 to {count}")
    context = multiprocessing.get_context("fork")
    pipes, workers = [], []  # our end of a pipe to each generator process
    for i in range(procs):
        pipe, theirs = context.Pipe()
        share = count // procs + (i < count % procs)
        worker = context.Process(target=crowd, args=(base_url, share, theirs), daemon=True)
        worker.start()
        pipes.append(pipe)
        workers.append(worker)
    try:
        for pipe in pipes:
            if not pipe.poll(600) or pipe.recv() != "ready":
                raise SystemExit("bench.fanout: a generator process did not connect its clients")
        samples, busy = [], []
        with requests.Session() as session:
            session.verify = tls.client_ca(base_url)
            for n in range(rounds + 1):  # the first round warms up
                token = f"fan-out {uuid.uuid4().hex[:12]}"
                for pipe in pipes:
                    pipe.send(token.encode())
                started = time.perf_counter()
                session.post(base_url + post, data={field: token}, allow_redirects=False, timeout=10)
                results = [pipe.recv() for pipe in pipes]
                if any(last is None for last, _ in results):
                    raise SystemExit(f"bench.fanout: some of {count} clients did not get a broadcast within 30 s")
                took = max(last for last, _ in results) - started
                if n:
                    samples.append(took)
                    busy.append(max(cpu for _, cpu in results) / took)
    finally:
        for pipe in pipes:
            pipe.send(None)
        for worker in workers:
            worker.join(timeout=30)
    samples.sort()
    return {"clients": count, "rounds": rounds, "procs": procs,
            "median_ms": round(statistics.median(samples) * 1000, 1),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 1),
            "generator_busy": round(statistics.median(busy), 2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--messages", type=int, default=20, help="rounds per client count (default 20)")
    parser.add_argument("--post", default=POST, help=f"form URL that makes the app broadcast (default {POST})")
    parser.add_argument("--field", default=FIELD, help=f"form field carrying the text (default {FIELD})")
    parser.add_argument("--procs", type=int, nargs="+", default=[1],
                        help="generator processes to spread the clients over; several values are run side by side")
    args = parser.parse_args(argv)
    # One file descriptor per client: lift the soft limit to the hard one.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    s = devbox_settings.load()
    base_url = f"http://{s['host_ip']}:{s['host_port']}"
    print(json.dumps([measure(base_url, n, args.messages, args.post, args.field, procs)
                      for n in args.clients for procs in args.procs]))


if __name__ == "__main__":
    main()
