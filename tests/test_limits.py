"""Deadlines and bounds on a client, on a loopback server: each limit of http/limits.py holds,
and none of them cuts the application.

Deadlines are shortened by subclassing (class attributes, as a user would); every wait in
these tests has its own deadline, and what is checked is that the server acted, not how fast.
"""

from __future__ import annotations

import re
import resource
import socket
import threading
import time
from typing import Any

import pytest

from simplewsgi import WSGIRequestHandler, WSGIServer, make_server
from tests.conftest import ServerStderr
from tests.helpers import DEADLINE, WireReader, connect, hello_app, serving, wait_for


class Quick(WSGIRequestHandler):
    header_timeout = 0.6
    keep_alive_timeout = 0.3
    timeout = None  # no I/O deadline: the two above are what is tested


class QuickIO(Quick):
    timeout = 0.3  # any single send or body read


def _closed_by_server(sock: socket.socket, within: float = DEADLINE) -> bytes:
    """Everything the server sends until it closes; fails if it does not close in time."""
    sock.settimeout(within)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_head_trickling_in_is_cut_at_its_deadline_not_per_byte(stderr: ServerStderr) -> None:
    """A byte every 0.1 s never leaves the connection silent for a whole timeout; only a
    deadline from the first byte ends it (slowloris)."""
    with serving(hello_app, Quick) as server, connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        sent = 0
        reply = b""
        sock.settimeout(0.1)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"X"[:1])  # one byte of an endless header line
                sent += 1
                reply += sock.recv(65536)
                if reply:
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        reply += _closed_by_server(sock)
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    assert b"Connection: close" in reply
    assert sent > 3, "the client was cut before it trickled: not the deadline under test"
    wait_for(lambda: " 408 - " in stderr.getvalue(), what="the 408 logged")


def test_an_idle_keep_alive_connection_is_closed_quietly() -> None:
    with serving(hello_app, Quick) as server, connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = WireReader(sock)
        assert reader.read().status == 200
        assert reader.at_eof()  # nothing more, no 408: the keep-alive simply ended
        reader.close()


def test_a_silent_new_connection_is_closed_quietly() -> None:
    with serving(hello_app, Quick) as server, connect(server) as sock:
        assert _closed_by_server(sock) == b""


def test_a_slow_app_is_never_cut() -> None:
    def slow(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        time.sleep(1.0)  # longer than every deadline of Quick
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"worth the wait"]

    with serving(slow, QuickIO) as server, connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = WireReader(sock).read()
    assert (reply.status, reply.body) == (200, b"worth the wait")


def test_a_client_that_stops_reading_is_cut_after_the_send_deadline(
    stderr: ServerStderr,
) -> None:
    def endless(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        block = b"z" * 65536
        return iter(lambda: block, None)  # never ends

    with serving(endless, QuickIO) as server, connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: server.requests_in_flight() == 1, what="the response to start")
        wait_for(lambda: server.requests_in_flight() == 0, what="the send deadline to cut it")
    assert "client disconnected" in stderr.getvalue()


def test_a_client_that_stops_sending_its_body_is_cut(stderr: ServerStderr) -> None:
    read: list[bytes] = []

    def reading(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        read.append(environ["wsgi.input"].read())
        start_response("200 OK", [])
        return [b"never"]

    with serving(reading, QuickIO) as server, connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        assert _closed_by_server(sock) == b""
        wait_for(lambda: server.requests_in_flight() == 0, what="the request to end")
    assert read == []  # the read failed: the app never saw a short body as a whole one
    assert "client disconnected" in stderr.getvalue()


def test_connections_beyond_the_bound_get_503_with_retry_after(stderr: ServerStderr) -> None:
    class Three(WSGIServer):
        max_connections = 3

    server = make_server("127.0.0.1", 0, hello_app, server_class=Three)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    held = [connect(server) for _ in range(3)]
    try:
        wait_for(lambda: server.waiting_connections() == 3, what="three connections held")
        with connect(server) as extra:
            refusal = _closed_by_server(extra)
        assert refusal.startswith(b"HTTP/1.1 503 "), refusal
        assert b"\r\nRetry-After: 1\r\n" in refusal
        held.pop().close()
        wait_for(lambda: server.waiting_connections() == 2, what="one connection gone")
        with connect(server) as again:
            again.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert WireReader(again).read().status == 200
    finally:
        for sock in held:
            sock.close()
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)
    text = stderr.getvalue()
    assert text.count("3 connections open") == 1, text
    assert "below the limit again" in text


def _raise_descriptor_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def test_a_burst_of_connections_is_accepted_and_served() -> None:
    """1,000 connections opened back to back: the accept loop starts no thread itself, so
    none waits in a full listen backlog for a SYN retry; every one is answered."""
    count = 1000
    _raise_descriptor_limit(2 * count + 256)
    with serving(hello_app) as server:
        socks = []
        try:
            for _ in range(count):
                socks.append(socket.create_connection(server.server_address[:2], timeout=DEADLINE))
            for sock in socks:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            statuses = [WireReader(sock).read().status for sock in socks]
        finally:
            for sock in socks:
                sock.close()
    assert statuses == [200] * count


def test_a_client_reading_a_large_block_steadily_is_never_cut() -> None:
    """sendall's timeout covers the whole call: one 4 MiB block at 1 MiB/s takes 4 s, past a
    0.5 s deadline, though the client never stops reading. Sent in slices, each waits less."""
    size = 4 * 1024 * 1024

    def big(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [b"b" * size]

    class Patient(WSGIRequestHandler):
        timeout = 0.5

    with serving(big, Patient) as server, connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = 0
        while chunk := sock.recv(64 * 1024):
            received += len(chunk)
            time.sleep(0.04)  # the client's own pace: about 1 MiB/s, never stopping
    assert received > size, received  # the head and the whole block


def test_the_servers_drain_of_an_unread_body_has_a_deadline(stderr: ServerStderr) -> None:
    """The app answered without reading the body; draining the rest for the next request is
    the server's choice, so a trickling client may not hold the thread with it (nor count as
    in flight)."""

    class QuickDrain(WSGIRequestHandler):
        drain_timeout = 0.5

    with serving(hello_app, QuickDrain) as server, connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
        reply = WireReader(sock).read_head()
        assert reply.status == 200 and reply.header("Connection") is None
        wait_for(lambda: server.requests_in_flight() == 0, what="the response to be done")
        sock.settimeout(0.1)
        deadline = time.monotonic() + DEADLINE
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"z")  # a byte every 0.1 s: never silent for a whole timeout
                closed = sock.recv(65536) == b""
            except socket.timeout:
                continue
            except OSError:
                closed = True
        assert closed, "the drain held the connection past its deadline"


@pytest.mark.parametrize(
    "first",
    [
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n",  # the head said what follows it
        b"POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",  # a body between
        b"GET /1 HTTP/1.1\r\nHost: x \r\n\r\n",  # read line by line
    ],
    ids=["after-a-head", "after-a-body", "after-an-unusual-head"],
)
def test_a_pipelined_head_already_buffered_starts_its_deadline(first: bytes) -> None:
    """The start of the next request arrived with the previous one, then nothing: its head
    deadline runs from those bytes (a 408), not the idle keep-alive wait (a silent close)."""

    class QuickHead(WSGIRequestHandler):
        header_timeout = 0.5
        keep_alive_timeout = 30.0

    with serving(hello_app, QuickHead) as server, connect(server) as sock:
        sock.sendall(first + b"GET /2 HT")
        data = _closed_by_server(sock)
    statuses = re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)
    assert statuses == [b"200", b"408"], data


def test_a_handle_override_in_wsgirefs_own_words_still_works() -> None:
    """A subclass whose handle() is wsgiref's (http.server parses the head into its own
    message class) gets an environ from get_environ as with wsgiref."""
    from wsgiref.simple_server import ServerHandler

    class WsgirefStyle(WSGIRequestHandler):
        def handle(self) -> None:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.parse_request():
                return
            handler = ServerHandler(
                self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=False
            )
            handler.request_handler = self  # type: ignore[attr-defined]
            handler.run(self.server.get_app())

    with serving(hello_app, WsgirefStyle) as server, connect(server) as sock:
        sock.sendall(b"GET /x?y=1 HTTP/1.0\r\nHost: h\r\nX-Test: 1\r\n\r\n")
        data = _closed_by_server(sock)
    assert data.startswith(b"HTTP/1.0 200 OK"), data
    assert data.endswith(b"Hello, world!")


def test_the_connection_bound_leaves_a_descriptor_per_request_to_the_app() -> None:
    """Under a low descriptor limit, an app that opens a file per request must meet the
    connection bound (503) before running out of descriptors itself (500s)."""
    import subprocess
    import sys

    code = (
        "import resource, sys; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (300, resource.getrlimit("
        "resource.RLIMIT_NOFILE)[1])); "
        "from simplewsgi.http.limits import RESERVED_FDS, default_max_connections; "
        "print(default_max_connections(), RESERVED_FDS)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    bound, reserved = map(int, out.stdout.split())
    assert 2 * bound + reserved <= 300 and bound >= 100, (bound, reserved)
