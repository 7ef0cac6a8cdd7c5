"""Tier 2: a real server on 127.0.0.1:0 and raw sockets, for every HTTP/1.1 framing rule."""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from typing import Any

import h11
import pytest

from simplewsgi import WSGIRequestHandler, WSGIServer, make_server
from tests.conftest import ServerStderr
from tests.helpers import (
    DEADLINE,
    WireReader,
    connect,
    exchange,
    hello_app,
    serving,
    wait_for,
)


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Echoes method, path, client port and the whole body."""
    body = environ["wsgi.input"].read()
    info = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {environ['REMOTE_PORT']}\n"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [info.encode() + body]


def ignore_body_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [environ["PATH_INFO"].encode()]


def test_keep_alive_reuses_the_connection() -> None:
    with serving(echo_app) as server:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=DEADLINE)
        ports = set()
        for i in range(3):
            conn.request("GET", f"/{i}")
            response = conn.getresponse()
            assert response.status == 200 and response.version == 11
            assert response.getheader("Connection") is None
            ports.add(response.read().split()[2])
        conn.close()
        assert len(ports) == 1


def test_client_connection_close_is_honoured() -> None:
    with serving(hello_app) as server, connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reader = WireReader(sock)
        reply = reader.read()
        assert reply.header("Connection") == "close" and reply.body == b"Hello, world!"
        assert reader.at_eof()
        reader.close()


@pytest.mark.parametrize(
    ("connection_header", "persists"), [(b"Connection: keep-alive\r\n", True), (b"", False)]
)
def test_http10_keep_alive_only_when_asked(connection_header: bytes, persists: bool) -> None:
    with serving(hello_app) as server, connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n" + connection_header + b"\r\n")
        reader = WireReader(sock)
        reply = reader.read()
        assert reply.version == "HTTP/1.0" and reply.body == b"Hello, world!"
        if persists:
            assert reply.header("Connection") == "keep-alive"
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert reader.read().body == b"Hello, world!"
        assert reader.at_eof()
        reader.close()


def test_pipelined_requests_are_answered_in_order() -> None:
    with serving(echo_app) as server:
        data = b"".join(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5))
        data += b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
        data += b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        replies = exchange(server, data, count=7)
        paths = [reply.body.split(b" ")[1] for reply in replies]
        assert paths == [b"/0", b"/1", b"/2", b"/3", b"/4", b"/post", b"/last"]
        assert replies[5].body.endswith(b"\nbody")


def test_chunked_request_body_is_decoded_with_extensions_and_trailers() -> None:
    body = (
        b"5;name=value\r\nHello\r\n"
        b"7\r\n, world\r\n"
        b"1A\r\n" + b"z" * 26 + b"\r\n"
        b"0\r\nX-Trailer: yes\r\n\r\n"
    )
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ)
        return echo_app(environ, start_response)

    with serving(app) as server:
        request = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        replies = exchange(server, request + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n", count=2)
    assert replies[0].body.endswith(b"\nHello, world" + b"z" * 26)
    assert replies[1].body.startswith(b"GET /next")
    assert seen[0]["wsgi.input_terminated"] is True
    assert "HTTP_TRANSFER_ENCODING" in seen[0]


@pytest.mark.parametrize(
    "bad_chunk",
    [
        b"zz\r\nHello\r\n0\r\n\r\n",
        b"5\r\nHelloXX0\r\n\r\n",
        b"-5\r\nHello\r\n0\r\n\r\n",
        b"5\nHello\r\n0\r\n\r\n",  # bare LF after the size
        b"5\r\nHello\n0\r\n\r\n",  # bare LF after the data
        b"5 \r\nHello\r\n0\r\n\r\n",  # whitespace without an extension
        b"ffffffffffffffff\r\nHello\r\n0\r\n\r\n",  # beyond any real size
    ],
)
def test_malformed_chunked_body_gets_400_and_close(bad_chunk: bytes) -> None:
    with serving(echo_app) as server, connect(server) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + bad_chunk
        )
        reader = WireReader(sock)
        reply = reader.read()
        assert reply.status == 400
        assert reader.at_eof()
        reader.close()


def test_wsgi_input_readline_readlines_and_iteration() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        first = stream.readline()
        limited = stream.readline(3)
        rest = list(stream)
        start_response("200 OK", [])
        return [repr((first, limited, rest)).encode()]

    payload = b"line one\nline two\nlast"
    with serving(app) as server:
        plain = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%b" % (
            len(payload),
            payload,
        )
        chunked = (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6\r\nline o\r\n8\r\nne\nline \r\n8\r\ntwo\nlast\r\n0\r\n\r\n"
        )
        replies = exchange(server, plain + chunked, count=2)
    expected = repr((b"line one\n", b"lin", [b"e two\n", b"last"])).encode()
    assert replies[0].body == expected
    assert replies[1].body == expected


def test_expect_100_continue_is_sent_when_the_app_reads() -> None:
    with serving(echo_app) as server, connect(server) as sock:
        sock.sendall(
            b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        reader = WireReader(sock)
        interim = reader.read_head()
        assert (interim.status, interim.reason) == (100, "Continue")
        sock.sendall(b"hello")
        reply = reader.read()
        assert reply.status == 200 and reply.body.endswith(b"hello")
        reader.close()


def test_expect_100_continue_not_sent_when_the_app_ignores_the_body() -> None:
    with serving(ignore_body_app) as server, connect(server) as sock:
        sock.sendall(
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        reader = WireReader(sock)
        reply = reader.read_head()
        assert reply.status == 200  # the final response, no 100 before it
        assert reply.header("Connection") == "close"
        assert reader.file.read(int(reply.header("Content-Length") or 0)) == b"/x"
        assert reader.at_eof()
        reader.close()


def test_head_has_no_body_and_the_connection_goes_on() -> None:
    def streaming(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return iter([b"a", b"b"])

    with serving(streaming) as server:
        data = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
        with connect(server) as sock:
            sock.sendall(data)
            reader = WireReader(sock)
            head = reader.read("HEAD")
            assert head.header("Transfer-Encoding") is None and head.body == b""
            get = reader.read()
            assert get.header("Transfer-Encoding") == "chunked" and get.body == b"ab"
            reader.close()


def test_unread_body_is_drained_and_never_parsed_as_a_request() -> None:
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    with serving(ignore_body_app) as server:
        data = b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%b" % (
            len(smuggled),
            smuggled,
        )
        data += b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        with connect(server) as sock:
            sock.sendall(data)
            reader = WireReader(sock)
            assert reader.read().body == b"/first"
            assert reader.read().body == b"/second"
            assert reader.at_eof()
            reader.close()


def test_unread_body_too_large_to_drain_closes_the_connection() -> None:
    class SmallDrain(WSGIRequestHandler):
        max_drain_bytes = 1024

    with serving(ignore_body_app, SmallDrain) as server, connect(server) as sock:
        sock.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        sock.sendall(b"x" * 5000)
        reader = WireReader(sock)
        assert reader.read().body == b"/big"
        assert reader.at_eof()
        reader.close()


@pytest.mark.parametrize(("declared", "blocks"), [(10, [b"12345"]), (3, [b"12", b"345", b"678"])])
def test_app_content_length_mismatch_never_reaches_the_wire(
    declared: int, blocks: list[bytes], stderr: ServerStderr
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Length", str(declared))])
        return iter(blocks)

    with serving(app) as server, connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = WireReader(sock)
        head = reader.read_head()
        assert head.header("Content-Length") == str(declared)
        rest = reader.file.read()  # until the server closes
        reader.close()
    assert rest == b"".join(blocks)[:declared]
    assert wait_for(lambda: "Content-Length" in stderr.getvalue(), what="a log message")


def test_streamed_blocks_are_sent_without_buffering() -> None:
    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        yield b"first"
        release.wait(DEADLINE)
        yield b"second"

    with serving(app) as server, connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = WireReader(sock)
        head = reader.read_head()
        assert head.header("Transfer-Encoding") == "chunked"
        assert reader.file.readline() == b"5\r\n"
        assert reader.file.read(7) == b"first\r\n"  # arrived while the app is still blocked
        release.set()
        assert reader.file.readline() == b"6\r\n"
        reader.close()


def test_client_disconnect_mid_response_is_quiet_and_close_is_called(
    stderr: ServerStderr,
) -> None:
    closed = threading.Event()

    class Endless:
        def __iter__(self) -> Any:
            for _ in range(100000):
                yield b"x" * 65536

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] != "/stream":
            return hello_app(environ, start_response)
        start_response("200 OK", [])
        return Endless()

    with serving(app) as server:
        with connect(server) as sock:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(1000)
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        assert closed.wait(DEADLINE)
        wait_for(lambda: "client disconnected" in stderr.getvalue(), what="the disconnect line")
        assert exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    log = stderr.getvalue()
    assert "Traceback" not in log
    assert log.count("client disconnected") == 1


def test_client_disconnect_mid_request_body_is_quiet(stderr: ServerStderr) -> None:
    errors: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except ConnectionError as error:
            errors.append(error)
            raise
        start_response("200 OK", [])
        return [b""]

    with serving(app) as server:
        with connect(server) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
        wait_for(lambda: "client disconnected" in stderr.getvalue(), what="the disconnect line")
        assert exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert errors and "Traceback" not in stderr.getvalue()


def test_app_exception_gives_500_and_the_server_lives_on(stderr: ServerStderr) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise ZeroDivisionError("division by zero")
        return hello_app(environ, start_response)

    with serving(app) as server:
        replies = exchange(
            server,
            b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            count=2,
        )
    assert replies[0].status == 500
    assert replies[0].body == b"A server error occurred.  Please contact the administrator."
    assert replies[1].body == b"Hello, world!"
    assert "ZeroDivisionError" in stderr.getvalue()


def test_file_wrapper_uses_sendfile_for_real_files(tmp_path: Any, monkeypatch: Any) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    calls: list[int] = []
    original = socket.socket.sendfile

    def spy(self: socket.socket, file: Any, offset: int = 0, count: Any = None) -> int:
        calls.append(count)
        return original(self, file, offset, count)

    monkeypatch.setattr(socket.socket, "sendfile", spy)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        handle = open(path, "rb")  # noqa: SIM115 - closed by the wrapper's close()
        handle.seek(1000)
        return environ["wsgi.file_wrapper"](handle, 4096)

    with serving(app) as server:
        replies = exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2, count=2)
    assert replies[0].body == data[1000:] and replies[1].body == data[1000:]
    assert replies[0].header("Content-Length") == str(len(data) - 1000)
    assert calls == [len(data) - 1000] * 2


def test_file_wrapper_falls_back_to_reading_non_files() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"abc" * 5000), 1000)

    with serving(app) as server:
        (reply,) = exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.body == b"abc" * 5000
    assert reply.header("Transfer-Encoding") == "chunked"


def test_responses_parse_cleanly_with_h11() -> None:
    """h11 as an independent oracle for our framing across response shapes."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        kind = environ["PATH_INFO"]
        if kind == "/stream":
            start_response("200 OK", [])
            return iter([b"a", b"bb", b"ccc"])
        if kind == "/empty":
            start_response("204 No Content", [])
            return []
        if kind == "/length":
            start_response("200 OK", [("Content-Length", "3")])
            return iter([b"x", b"yz"])
        return hello_app(environ, start_response)

    targets = ["/stream", "/empty", "/length", "/"]
    with serving(app) as server, connect(server) as sock:
        client = h11.Connection(h11.CLIENT)
        bodies = []
        for target in targets:
            sock.sendall(
                client.send(h11.Request(method="GET", target=target, headers=[("Host", "x")]))
            )
            sock.sendall(client.send(h11.EndOfMessage()))
            body = b""
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(sock.recv(65536))
                    continue
                if isinstance(event, h11.Data):
                    body += event.data
                if isinstance(event, h11.EndOfMessage):
                    break
            bodies.append(body)
            client.start_next_cycle()
    assert bodies == [b"abbccc", b"", b"xyz", b"Hello, world!"]


def test_many_concurrent_keep_alive_clients() -> None:
    failures: list[BaseException] = []

    def client(server_address: Any) -> None:
        try:
            conn = http.client.HTTPConnection(*server_address[:2], timeout=DEADLINE)
            for i in range(20):
                conn.request("POST", f"/{i}", body=b"x" * i)
                response = conn.getresponse()
                assert response.read().endswith(b"x" * i)
            conn.close()
        except BaseException as error:
            failures.append(error)

    with serving(echo_app) as server:
        threads = [
            threading.Thread(target=client, args=(server.server_address,)) for _ in range(10)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE)
    assert failures == [] and time.monotonic() - started < DEADLINE


def test_chunk_extension_with_whitespace_before_it_is_accepted() -> None:
    with serving(echo_app) as server:
        (reply,) = exchange(
            server,
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5 ;a=b\r\nHello\r\n0\r\n\r\n",
        )
    assert reply.status == 200 and reply.body.endswith(b"\nHello")


def test_write_then_file_wrapper_sends_one_response(tmp_path: Any) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"FILEDATA")

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        write = start_response("200 OK", [])
        write(b"pre-")
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    with serving(app) as server, connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reader = WireReader(sock)
        reply = reader.read()
        rest = reader.file.read()
        reader.close()
    assert reply.body == b"pre-FILEDATA"
    assert rest == b""  # no second status line, nothing after the last chunk


def test_stop_never_runs_a_request_whose_head_it_cut() -> None:
    called: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        called.append(environ["PATH_INFO"])
        return hello_app(environ, start_response)

    class QuickStop(WSGIServer):
        graceful_timeout = 0.2

    server = make_server("127.0.0.1", 0, app, server_class=QuickStop)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    sock = connect(server)
    try:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reader = WireReader(sock)
        assert reader.read().status == 200  # the connection is served, then a second one:
        second = connect(server)
        second.sendall(b"POST /half HTTP/1.1\r\nHost: x\r\n")  # head not finished
        wait_for(lambda: server.waiting_connections() == 1, what="the head to be read")
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)
        second.close()
        reader.close()
    finally:
        sock.close()
    assert called == ["/a"]


@pytest.mark.parametrize("idle_grace", [0.0, 2.0])
def test_idle_keep_alive_connection_during_a_stop(idle_grace: float) -> None:
    """With an idle grace (a reloader's swap) the next request on an idle keep-alive connection
    is answered with Connection: close; without (Ctrl+C) the idle connection is closed at once."""

    class Stopping(WSGIServer):
        pass

    Stopping.idle_grace = idle_grace
    server = make_server("127.0.0.1", 0, hello_app, server_class=Stopping)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    sock = connect(server)
    reader = WireReader(sock)
    closer = threading.Thread(target=lambda: (server.shutdown(), server.server_close()))
    try:
        sock.sendall(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reader.read().header("Connection") is None
        wait_for(lambda: server.waiting_connections() == 1, what="the connection to be idle")
        started = time.monotonic()
        closer.start()
        wait_for(lambda: server.closing, what="the stop to begin")
        if idle_grace:
            sock.sendall(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = reader.read()
            assert (reply.status, reply.header("Connection")) == (200, "close")
            assert reader.at_eof()
        else:
            assert reader.at_eof()
            closer.join(DEADLINE)
            assert time.monotonic() - started < 1.0  # Ctrl+C is not held up
    finally:
        closer.join(DEADLINE)
        thread.join(DEADLINE)
        reader.close()
        sock.close()


def test_cutting_stuck_requests_at_a_stop_is_one_short_wait(stderr: Any) -> None:
    """After the graceful timeout the stuck requests' connections are cut and their threads
    get one shared second, not a second each; the log says how many were cut."""
    release = threading.Event()

    def stuck(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        release.wait(DEADLINE)
        start_response("200 OK", [])
        return [b"late"]

    class QuickStop(WSGIServer):
        graceful_timeout = 0.2

    server = make_server("127.0.0.1", 0, stuck, server_class=QuickStop)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    clients = [connect(server) for _ in range(5)]
    try:
        for sock in clients:
            sock.sendall(b"GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: server.requests_in_flight() == 5, what="five requests in flight")
        server.shutdown()
        started = time.monotonic()
        server.server_close()
        elapsed = time.monotonic() - started
    finally:
        release.set()
        thread.join(DEADLINE)
        for sock in clients:
            sock.close()
    assert elapsed < 0.2 + 1.0 + 0.5, elapsed
    assert "cut 5 request(s)" in stderr.getvalue()


def test_a_response_finished_during_a_stop_says_connection_close() -> None:
    """The keep-alive decision is made again when the head goes out: a request in flight when
    the stop began gets an answer that tells the client not to send another."""
    release = threading.Event()
    arrived = threading.Event()

    def gated(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        arrived.set()
        release.wait(DEADLINE)
        start_response("200 OK", [])
        return [b"done"]

    server = make_server("127.0.0.1", 0, gated)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    sock = connect(server)
    closer = threading.Thread(target=lambda: (server.shutdown(), server.server_close()))
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert arrived.wait(DEADLINE)
        closer.start()
        wait_for(lambda: server.closing, what="the stop to begin")
        release.set()
        reply = WireReader(sock).read()
        assert (reply.status, reply.header("Connection"), reply.body) == (200, "close", b"done")
    finally:
        release.set()
        closer.join(DEADLINE)
        thread.join(DEADLINE)
        sock.close()
