"""devbox's live refresh hub: open pages listen, `fab watch` tells them to refresh.

    python3 refresh.py SOCKET TOKEN_FILE [USER]

It runs in the guest as a service of its own, not in the app's process, so
pages stay connected across app reloads and while the app is crashed. nginx
passes it two URLs (development mode only):

- ``GET /_devbox/events``: a Server-Sent Events stream, what devbox's
  ``refresh.js`` (added by nginx to the app's HTML pages) listens to;
- ``POST /_devbox/refresh`` with ``Authorization: Bearer TOKEN`` and
  ``{"action": "page"}`` or ``{"action": "css"}``: every open page reloads or
  swaps its stylesheets. Only `fab watch` holds the token (read from the
  guest over SSH), so no web page and no other client can make pages reload.

Every event carries the hub's count of refreshes, and a stream opens with it
(``hello``): a refresh sent while a page was loading (two saves close together)
reached no page, and the next one sees from the count that it missed it.

Only USER (nginx's, www-data) may connect to the socket, whatever its mode: a
process of another user in the guest (the app's, say) could otherwise take
every one of the MAX_PAGES streams past nginx's limit per client.

Standard library only: it runs on the guest's system Python, whatever the app.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import pwd
import secrets
import socket
import struct
import sys

ACTIONS = ("page", "css")
HEARTBEAT = 15.0  # seconds; well inside nginx's read timeout
MAX_PAGES = 1000
MAX_BODY = 1024
EVENTS, REFRESH = "/_devbox/events", "/_devbox/refresh"
STATUS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          413: "Payload Too Large", 503: "Service Unavailable"}


class BadRequest(Exception):
    pass


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict, bytes]:
    """Method, path, lower-cased headers and body of one HTTP/1.x request."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise BadRequest("incomplete or oversized request head") from None
    try:
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ")
        if not (method.isalpha() and method.isupper() and target.startswith("/") and version.startswith("HTTP/1.")):
            raise ValueError(request_line)
        headers = {}
        for line in filter(None, lines):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest("malformed request") from None
    if not 0 <= length <= MAX_BODY:
        raise BadRequest("body too large")
    body = await reader.readexactly(length) if length else b""
    return method, target.split("?", 1)[0], headers, body


def peer_uid(writer: asyncio.StreamWriter) -> int:
    """The user id of the process at the other end of a unix socket (SO_PEERCRED)."""
    creds = writer.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class Hub:
    def __init__(self, token: str, allowed_uid: int | None = None):
        self.token = f"Bearer {token}".encode()
        self.allowed_uid = allowed_uid
        self.pages: set[asyncio.StreamWriter] = set()
        # A page compares counts only within one run of the hub.
        self.position = {"hub": secrets.token_hex(4), "refreshes": 0}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                method, path, headers, body = await asyncio.wait_for(read_request(reader), 10)
            except (BadRequest, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
                await respond(writer, 400, {"error": str(exc) or "bad request"})
                return
            # After the request is read: closing on unread bytes would reset the
            # connection, and the client might never see why.
            if self.allowed_uid is not None and peer_uid(writer) != self.allowed_uid:
                await respond(writer, 403, {"error": "only nginx may connect to the refresh hub"})
                return
            if path == EVENTS:
                if method != "GET":
                    await respond(writer, 405, {"error": "use GET"})
                else:
                    await self.stream(reader, writer)
            elif path == REFRESH:
                await respond(writer, *self.refresh(method, headers, body))
            else:
                await respond(writer, 404, {"error": "no such devbox URL"})
        except ConnectionError:
            pass
        finally:
            writer.close()

    def refresh(self, method: str, headers: dict, body: bytes) -> tuple[int, dict]:
        if method != "POST":
            return 405, {"error": "use POST"}
        if not hmac.compare_digest(headers.get("authorization", "").encode(), self.token):
            return 403, {"error": "only fab watch may refresh pages"}
        try:
            action = json.loads(body)["action"]
        except (ValueError, KeyError, TypeError):
            action = None
        if action not in ACTIONS:
            return 400, {"error": 'send {"action": "page"} or {"action": "css"}'}
        self.position["refreshes"] += 1
        return 200, {"ok": True, "pages": self.publish(event("refresh", {"action": action, **self.position}))}

    def publish(self, message: str) -> int:
        data = message.encode()
        for writer in list(self.pages):
            if writer.is_closing():
                self.pages.discard(writer)
            else:
                writer.write(data)
        return len(self.pages)

    async def stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.pages) >= MAX_PAGES:
            await respond(writer, 503, {"error": "too many open pages"})
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
                     b"X-Accel-Buffering: no\r\nConnection: close\r\n\r\n"
                     b"retry: 500\n\n"  # reconnect quickly after the hub restarts
                     + event("hello", self.position).encode())
        await writer.drain()
        self.pages.add(writer)
        try:
            while True:  # until the page goes away; it sends nothing more
                try:
                    if not await asyncio.wait_for(reader.read(1024), HEARTBEAT):
                        return
                except asyncio.TimeoutError:
                    writer.write(b": still here\n\n")
                    await writer.drain()
        finally:
            self.pages.discard(writer)


def event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def respond(writer: asyncio.StreamWriter, code: int, body: dict) -> None:
    data = json.dumps(body).encode()
    writer.write(f"HTTP/1.1 {code} {STATUS[code]}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                 f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
    await writer.drain()


async def serve(socket_path: str, token: str, allowed_uid: int | None = None) -> None:
    hub = Hub(token, allowed_uid)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server = await asyncio.start_unix_server(hub.handle, path=socket_path)
    os.chmod(socket_path, 0o666)  # nginx connects; the hub checks who did, and refreshing needs the token
    print(f"devbox refresh hub listening on {socket_path}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: refresh.py SOCKET TOKEN_FILE [USER]", file=sys.stderr)
        return 2
    try:
        allowed_uid = pwd.getpwnam(argv[2]).pw_uid if len(argv) == 3 else None
    except KeyError:
        print(f"refresh.py: no user {argv[2]!r} in this guest", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        token = f.read().strip()
    if len(token) < 32:
        print(f"refresh.py: the token in {argv[1]} is too short; re-run provisioning", file=sys.stderr)
        return 2
    asyncio.run(serve(argv[0], token, allowed_uid))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
