"""A server `fab deploy` made against the devbox on the same machine, side by side in one run.

    .venv/bin/python -m bench.deploy --address 10.0.5.2 --name app.devbox.test --ca ROOT.pem [--runs 3]

Both over HTTPS, both the same app and worker (deploy the app the devbox
runs): dynamic requests/s on `/` (wrk, 32 connections) and Socket.IO round
trips (bench.rtt), the server by its name and address, the devbox through its
HTTPS host port. Runs alternate (server, devbox, server, ...); the table gives
medians and the ratio. Bounded: fixed durations and connections, on loopback
and the server's bridge only.
"""

from __future__ import annotations

import argparse
import shlex
import socket
import ssl
import subprocess

from bench import rtt
from bench.stack import median, parse_wrk, wrk_command
from devbox import settings as devbox_settings
from devbox.host import tls


def wrk(url: str, duration: int, host: str | None = None) -> float:
    command = shlex.split(wrk_command(url, duration)) + (["--header", f"Host: {host}"] if host else [])
    result = parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    assert result["non_2xx"] == result["socket_errors"] == 0, result
    return result["rps"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="the server's address")
    parser.add_argument("--name", required=True, help="its name (deploy.yaml's first domain)")
    parser.add_argument("--ca", required=True, help="the root its certificate is checked against")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--messages", type=int, default=1000, help="Socket.IO round trips per run (default 1000)")
    args = parser.parse_args(argv)

    # The name resolves to the server here only, as public DNS would.
    original = socket.getaddrinfo
    socket.getaddrinfo = lambda host, *a, **k: original(args.address if host == args.name else host, *a, **k)
    s = devbox_settings.load()
    devbox_url = devbox_settings.base_url(s, "https")
    server_url = f"https://{args.name}"
    contexts = {server_url: ssl.create_default_context(cafile=args.ca),
                devbox_url: ssl.create_default_context(cafile=tls.client_ca(devbox_url))}
    load = {"server": lambda: wrk(f"https://{args.address}/", args.duration, host=args.name),
            "devbox": lambda: wrk(f"https://127.0.0.1:{s['https_host_port']}/", args.duration)}
    trips = {"server": lambda: rtt.round_trips(server_url, args.messages, contexts[server_url]),
             "devbox": lambda: rtt.round_trips(devbox_url, args.messages, contexts[devbox_url])}
    rps, ms = {name: [] for name in load}, {name: [] for name in load}
    for _ in range(args.runs):
        for name in load:
            rps[name].append(load[name]())
            ms[name].append(median(trips[name]()) * 1000)
    print("| measure | server | devbox | server / devbox |\n|---|---|---|---|")
    for label, values, digits in (("dynamic `/`, requests/s", rps, 0), ("Socket.IO round trip, ms", ms, 3)):
        a, b = median(values["server"]), median(values["devbox"])
        print(f"| {label} | {a:.{digits}f} | {b:.{digits}f} | {a / b:.2f}x |")
    print(f"({args.runs} runs each, medians; wrk {args.duration} s at 32 connections; {args.messages} round trips)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
