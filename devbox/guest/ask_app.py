"""Ask one app instance for a path, past nginx, in the protocol its server speaks.

    python3 -m devbox.guest.ask_app SERVER BIND PATH

SERVER is gunicorn (HTTP) or uwsgi (the uwsgi protocol); BIND is the
instance's socket as the settings name it (unix:/run/NAME-app/1.sock or
ADDRESS:PORT). Prints the answer's body; exits 0 on a 2xx answer, 1 on any
other, 2 when the instance cannot be reached. The provisioner's checks use it
(check.sh, app.sh), so do the tests. Standard library only: the guest's
system Python runs it.
"""

from __future__ import annotations

import socket
import struct
import sys

TIMEOUT = 2.0


def connect(bind: str) -> socket.socket:
    if bind.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(TIMEOUT)
        sock.connect(bind.removeprefix("unix:"))
        return sock
    host, _, port = bind.rpartition(":")
    return socket.create_connection((host, int(port)), timeout=TIMEOUT)


def uwsgi_packet(path: str) -> bytes:
    """A uwsgi protocol request (modifier 0: WSGI) for GET ``path``."""
    variables = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "REQUEST_URI": path, "QUERY_STRING": "",
                 "SERVER_PROTOCOL": "HTTP/1.0", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                 "HTTP_HOST": "localhost", "REMOTE_ADDR": "127.0.0.1"}
    body = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode()
                    for k, v in variables.items())
    return struct.pack("<BHB", 0, len(body), 0) + body


def ask(server: str, bind: str, path: str) -> tuple[int, bytes]:
    """(HTTP status, body) of GET ``path`` from the instance at ``bind``."""
    request = (uwsgi_packet(path) if server == "uwsgi"
               else f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
    with connect(bind) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("gunicorn", "uwsgi"):
        print("usage: python3 -m devbox.guest.ask_app gunicorn|uwsgi BIND PATH", file=sys.stderr)
        return 2
    try:
        status, body = ask(*argv)
    except (OSError, ValueError, IndexError) as exc:
        print(f"ask_app: no answer from {argv[1]}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(body.decode("utf-8", "replace"))
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
