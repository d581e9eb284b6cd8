"""Socket.IO round trips over one WebSocket, one message at a time, for any app.

    python -m bench.rtt URL [--count 2000]

Each round trip asks to join a namespace the app does not have, which the
Socket.IO server answers with a connect error: a full trip through nginx,
gunicorn, Engine.IO and Socket.IO that needs no event of the app's. Speaks
Engine.IO v4 / Socket.IO v5 by hand over simple-websocket (python-engineio
depends on it, so every Flask-SocketIO venv has it), so the same code measures
through the forwarded port (on the host) and directly against gunicorn (in the
guest). Prints JSON: count, median and p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.parse

import simple_websocket


def percentile(ordered, fraction):
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class Client(simple_websocket.Client):
    """simple-websocket's client, with the port in Host as a browser sends it
    (none for the scheme's own): nginx refuses a Host that is not the devbox's
    name with its port, and engine.io one that differs from the Origin."""

    def handshake(self):
        if self.port not in (80, 443):
            self.host = f"{self.host}:{self.port}"
        super().handshake()


def connect(url: str, attempts: int = 3, ssl_context=None):
    """A WebSocket that has received Engine.IO's open packet (over wss checked
    against ``ssl_context``, default the system's trust store)."""
    parts = urllib.parse.urlsplit(url)
    for _ in range(attempts):
        ws = Client.connect(url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket",
                            headers={"Origin": f"{parts.scheme}://{parts.netloc}"}, ssl_context=ssl_context)
        # The open packet can arrive with the handshake response, and then
        # simple-websocket sometimes loses it: connect again.
        first = ws.receive(timeout=2)
        if first and first.startswith("0{"):
            return ws
        ws.close()
    raise SystemExit(f"bench.rtt: no Engine.IO open packet from {url} in {attempts} attempts")


def round_trips(url: str, count: int, ssl_context=None) -> list[float]:
    """Seconds per round trip, ``count`` of them, after 50 to warm up."""
    ws = connect(url, ssl_context=ssl_context)
    try:
        ws.send("40")  # Socket.IO connect to "/"
        assert ws.receive(timeout=10).startswith("40")
        samples = []
        for n in range(count + 50):
            started = time.perf_counter()
            ws.send(f"40/devbox-rtt-{n},")
            expected = f"44/devbox-rtt-{n},"
            while True:
                frame = ws.receive(timeout=10)
                if frame == "2":
                    ws.send("3")  # Engine.IO ping: answer, keep waiting
                elif frame.startswith(expected):
                    break
            if n >= 50:
                samples.append(time.perf_counter() - started)
        return samples
    finally:
        ws.close()


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"count": len(ordered), "median_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="http://host:port of the Socket.IO server")
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args(argv)
    print(json.dumps(summary(round_trips(args.url, args.count))))


if __name__ == "__main__":
    main()
