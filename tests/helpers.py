"""Test helpers: an in-memory request runner, a loopback server in a thread, a tiny HTTP reader.

The response reader is deliberately independent of the server's code: it parses what a client
would see on the wire, so a framing bug shows up as a wrong parse.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

from simplewsgi import WSGIRequestHandler, WSGIServer, make_server

DEADLINE = 10.0


def echo_environ(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """What the app saw, as JSON: method, path, query, the request's fields as the environ has
    them (HTTP_*, CONTENT_TYPE, a non-empty CONTENT_LENGTH) and the body read whole."""
    seen = {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"],
        "headers": {
            key: value
            for key, value in environ.items()
            if key.startswith("HTTP_")
            or key == "CONTENT_TYPE"
            or (key == "CONTENT_LENGTH" and value)
        },
        "body": environ["wsgi.input"].read().decode("latin-1"),
    }
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def hello_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!"]


class MemoryServer(WSGIServer):
    """A server without a socket, as wsgiref's own tests build one."""

    def __init__(self, server_address: Any, RequestHandlerClass: Any) -> None:
        import socketserver

        socketserver.BaseServer.__init__(self, server_address, RequestHandlerClass)
        self.server_bind()

    def server_bind(self) -> None:
        host, port = self.server_address
        self.server_name = host
        self.server_port = port
        self.setup_environ()


class MemoryHandler(WSGIRequestHandler):
    """rfile/wfile are plain binary streams handed in as the 'request'."""

    def setup(self) -> None:
        self.connection = self.request
        self.rfile, self.wfile = self.connection

    def finish(self) -> None:
        pass


class Trickle(io.RawIOBase):
    """Raw input that hands out ``data`` at most ``chunk`` bytes per read, as a network does."""

    def __init__(self, data: bytes, chunk: int) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._chunk, len(self._data))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count


def run_in_memory(app: Any, data: bytes, chunk: Optional[int] = None) -> tuple[bytes, str]:
    """Feed raw request bytes to a handler (``chunk`` bytes per read if given); return
    (response bytes, stderr text)."""
    server = make_server("", 80, app, MemoryServer, MemoryHandler)
    raw = io.BytesIO(data) if chunk is None else Trickle(data, chunk)
    inp = io.BufferedReader(raw)  # type: ignore[arg-type]
    out = io.BytesIO()
    err = io.StringIO()
    old, sys.stderr = sys.stderr, err
    try:
        server.finish_request((inp, out), ("127.0.0.1", 8888))
    finally:
        sys.stderr = old
    return out.getvalue(), err.getvalue()


@contextlib.contextmanager
def serving(
    app: Any, handler_class: type[WSGIRequestHandler] = WSGIRequestHandler, host: str = "127.0.0.1"
) -> Iterator[WSGIServer]:
    """A real server on a free loopback port, serving in a thread; always stopped and joined."""
    server = make_server(host, 0, app, handler_class=handler_class)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)


def connect(server: WSGIServer) -> socket.socket:
    sock = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
    return sock


@dataclass
class Reply:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None


class WireReader:
    """Reads HTTP responses from a socket, the way a strict client would."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")

    def close(self) -> None:
        self.file.close()

    def read_head(self) -> Reply:
        line = self.file.readline()
        if not line:
            raise EOFError("connection closed before a status line")
        version, status, reason = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers = []
        while True:
            hline = self.file.readline()
            if hline in (b"\r\n", b""):
                break
            name, _, value = hline.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        return Reply(version, int(status), reason, headers)

    def read(self, method: str = "GET") -> Reply:
        reply = self.read_head()
        while 100 <= reply.status < 200:
            reply = self.read_head()
        if method == "HEAD" or reply.status in (204, 304):
            return reply
        te = reply.header("Transfer-Encoding")
        length = reply.header("Content-Length")
        if te is not None:
            assert te == "chunked", te
            parts = []
            while True:
                size_line = self.file.readline()
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    self.file.readline()  # the empty trailer section
                    break
                chunk = self.file.read(size)
                crlf = self.file.readline()
                assert crlf == b"\r\n", crlf
                parts.append(chunk)
            reply.body = b"".join(parts)
        elif length is not None:
            reply.body = self.file.read(int(length))
        else:
            reply.body = self.file.read()
        return reply

    def at_eof(self, timeout: float = DEADLINE) -> bool:
        """True when the server closed the connection (reads EOF within the deadline)."""
        self.sock.settimeout(timeout)
        try:
            return self.file.read(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False


def exchange(server: WSGIServer, data: bytes, count: int = 1, method: str = "GET") -> list[Reply]:
    """Send raw bytes on a new connection and read ``count`` responses."""
    with connect(server) as sock:
        sock.sendall(data)
        reader = WireReader(sock)
        try:
            return [reader.read(method) for _ in range(count)]
        finally:
            reader.close()


def wait_for(predicate: Callable[[], Any], timeout: float = DEADLINE, what: str = "") -> Any:
    """Poll ``predicate`` until truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.01)


def descendants(pid: int) -> list[int]:
    """PIDs of ``pid``'s children and their children, read from /proc (Linux)."""
    from pathlib import Path

    parents, found = {pid}, []
    changed = True
    while changed:
        changed = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in found:
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # gone, or a name with odd bytes
                continue
            if ppid in parents:
                found.append(int(entry.name))
                parents.add(int(entry.name))
                changed = True
    return found
