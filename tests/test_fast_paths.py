"""The per-request fast paths (issue 14) change no outcome: a head taken in one split is what
the line-by-line parse gives, or is left to it; cached checks still refuse what they refused;
kernel deadlines still cut a client that stops reading; the hooks subclasses override
(``get_environ``, ``log_message``, ``log_request``) are still called, and ``get_environ``
still returns a fresh dict."""

from __future__ import annotations

import array
import io
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simplewsgi import WSGIRequestHandler, accesslog
from simplewsgi.http import appchecks, parsing
from simplewsgi.http.errors import HTTPError
from tests.conftest import ServerStderr
from tests.helpers import (
    DEADLINE,
    MemoryHandler,
    WireReader,
    connect,
    exchange,
    hello_app,
    run_in_memory,
    serving,
    wait_for,
)

# -- take_head against the line-by-line parse ----------------------------------------------

_PIECES = [
    b"GET",
    b"POST",
    b"OPTIONS",
    b"CONNECT",
    b"G\xe9T",
    b" ",
    b"  ",
    b"/",
    b"/a%2Fb?q=1#f",
    b"*",
    b"http://h:1/p",
    b"h:1",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/1.2",
    b"HTTP/2.0",
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b"Host",
    b"Content-Length",
    b":",
    b": ",
    b"x",
    b"\t",
    b"\x00",
    b"\x0b",
    b"\x7f",
    b"\xe9",
    b"a_b",
    b"Cookie: a=1",
]

_TOKEN = st.text("ABCXYZabcxyz-_!~0123456789", min_size=1, max_size=8)
_VALUE = st.text(" \tabc:/é\x00\x7f;,=0123456789", max_size=12)


@st.composite
def _heads(draw: Any) -> bytes:
    """Mostly well formed heads, with a flaw now and then."""
    method = draw(st.sampled_from(["GET", "POST", "PURGE", "OPTIONS", "CONNECT", "G T"]))
    target = draw(st.sampled_from(["/", "/a?b", "*", "http://h/x", "h:1", "/%41", "/\x01"]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/1.9", "HTTP/3.0"]))
    fields = draw(st.lists(st.tuples(_TOKEN, _VALUE), max_size=5))
    sep = draw(st.sampled_from([": ", ":", " : ", ":\t"]))
    end = draw(st.sampled_from(["\r\n", "\r\n", "\r\n", "\n"]))
    lines = [f"{method} {target} {version}"] + [f"{n}{sep}{v}" for n, v in fields]
    return ("".join(line + end for line in lines) + "\r\n").encode("latin-1")


def _line_by_line(data: bytes) -> tuple[Any, bytes]:
    rfile = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]
    try:
        line = parsing.read_request_line(rfile)
        assert line is not None
        fields = parsing.read_headers(rfile) if line.terminated else []
    except HTTPError as error:
        return type(error), b""
    return (line, fields), rfile.read()


def _check_same(data: bytes) -> Optional[bool]:
    rfile = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]
    taken = parsing.take_head(rfile)
    if taken is None:
        assert rfile.read() == data  # nothing consumed: the line-by-line parse starts over
        return False
    line, fields, rest = taken
    after = rfile.read()
    assert ((line, fields), after) == _line_by_line(data)
    assert rest == len(after)  # what the buffer holds after the head: all of the rest here
    return True


@settings(max_examples=400, deadline=None)
@given(_heads(), st.binary(max_size=6))
def test_a_head_taken_in_one_split_is_what_the_line_by_line_parse_gives(
    head: bytes, rest: bytes
) -> None:
    _check_same(head + rest)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES) | st.binary(max_size=3), max_size=16))
def test_any_bytes_are_taken_as_the_line_by_line_parse_would_or_left_to_it(
    pieces: list[bytes],
) -> None:
    data = b"".join(pieces)
    if data:
        _check_same(data + b"\r\n\r\n")


def test_common_heads_take_the_fast_path() -> None:
    heads = [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n",  # wrk's
        b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
        b"POST /echo HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n\r\n",
    ]
    assert [_check_same(head) for head in heads] == [True] * len(heads)


def test_an_unusual_head_is_left_to_the_line_by_line_parse() -> None:
    heads = [
        b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",  # an empty line first
        b"GET / HTTP/1.1\nHost: x\n\n",  # bare LF
        b"GET / HTTP/1.1\r\nHost: x \r\n\r\n",  # trailing whitespace: trimmed there
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",  # refused there, with its reason
        b"GET / HTTP/1.1\r\nHost: x\r\n",  # not all here yet
    ]
    assert [_check_same(head) for head in heads] == [False] * len(heads)


# -- cached checks of the app's status and headers -----------------------------------------


def _answers(status: str, headers: list[tuple[str, str]], body: bytes = b"ok") -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, headers)
        return [body]

    return app


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200 OK\r\nX-Injected: 1", [("X-Name", "v")]),
        ("200 OK", [("X-Name", "v\r\nX-Injected: 1")]),
        ("200 OK", [("X-Name", "v\0")]),
        ("200 OK", [("X-Name", 3)]),
        ("200 OK", [("Connection", "close")]),
    ],
)
def test_a_status_or_header_name_seen_before_does_not_skip_the_checks(
    status: str, headers: list[Any]
) -> None:
    good = _answers("200 OK", [("X-Name", "v"), ("Connection-Id", "1")])
    for _ in range(2):  # the status and the names are now known
        assert run_in_memory(good, b"GET / HTTP/1.0\r\n\r\n")[0].startswith(b"HTTP/1.0 200 OK")
    response, err = run_in_memory(_answers(status, headers), b"GET / HTTP/1.0\r\n\r\n")
    assert response.startswith(b"HTTP/1.0 500 "), response
    assert b"X-Injected" not in response
    assert "WSGI application error" in err


def test_a_header_list_equal_to_a_checked_one_goes_out_as_it_was_checked() -> None:
    """A list equal to one already checked is not checked again: what goes out is the text
    made when it was checked, so a value that only compares equal cannot bring other text."""

    class Sly(str):
        def __format__(self, spec: str) -> str:
            return "v\r\nX-Injected: 1"

        __str__ = __format__

    checked = [("X-Sly", "v"), ("Content-Length", "2")]
    assert run_in_memory(_answers("200 OK", checked), b"GET / HTTP/1.0\r\n\r\n")[0]
    response, _ = run_in_memory(
        _answers("200 OK", [("X-Sly", Sly("v")), ("Content-Length", "2")]),
        b"GET / HTTP/1.0\r\n\r\n",
    )
    assert b"X-Sly: v\r\n" in response
    assert b"X-Injected" not in response


def test_the_server_field_is_the_handlers_even_when_empty_and_the_apps_when_it_sets_one() -> None:
    class Unnamed(WSGIRequestHandler):
        def version_string(self) -> str:
            return ""

    with serving(hello_app, Unnamed) as server:
        reply = exchange(server, b"GET / HTTP/1.0\r\n\r\n")[0]
    assert reply.header("Server") == ""
    own = _answers("200 OK", [("Server", "mine")])
    response, _ = run_in_memory(own, b"GET / HTTP/1.0\r\n\r\n")
    assert response.count(b"Server: ") == 1 and b"Server: mine\r\n" in response


def test_many_different_header_lists_are_each_checked_and_the_cache_stays_bounded() -> None:
    """Apps that make a new list on every response (an ETag, a length) each get their own
    head, and the lists remembered stay bounded."""
    head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    for number in range(appchecks._CHECKED_MAX * 2 + 5):
        headers = [("ETag", f'"{number}"'), ("Content-Length", str(len(str(number))))]

        response, _ = run_in_memory(_answers("200 OK", headers, str(number).encode()), head)
        assert f'ETag: "{number}"\r\n'.encode() in response
        assert response.endswith(str(number).encode())
        assert len(appchecks._CHECKED) <= appchecks._CHECKED_MAX
    bad = [("ETag", '"0"'), ("Content-Length", "1"), ("X-Bad", "a\nb")]
    assert run_in_memory(_answers("200 OK", bad), head)[0].startswith(b"HTTP/1.1 500 ")


def test_framing_fields_are_found_in_any_case_once_the_names_seen_fill_the_cache() -> None:
    """Clients may spell names in any case and make names up; the names remembered stay
    bounded, and a framing field is found however it is spelled once they are full."""
    for number in range(parsing._FRAMING_KINDS_MAX + 10):
        fields = [(f"X-Made-Up-{number}", "1"), ("Host", "x")]
        assert parsing.request_framing(fields, True).length == 0
    assert len(parsing._FRAMING_KINDS) <= parsing._FRAMING_KINDS_MAX
    for name in ("cOnTeNt-LeNgTh", "CONTENT-LENGTH", "content-length"):
        framing = parsing.request_framing([("hOsT", "x"), (name, "7")], True)
        assert framing.length == 7
    assert (
        parsing.request_framing([("HOST", "x"), ("CONNECTION", "Close")], True).keep_alive is False
    )
    chunked = parsing.request_framing([("host", "x"), ("TRANSFER-encoding", "chunked")], True)
    assert chunked.length == parsing.CHUNKED
    with pytest.raises(HTTPError):
        parsing.request_framing([("Host", "x"), ("hoST", "y")], True)


# -- the hooks ---------------------------------------------------------------------------


def test_get_environ_returns_a_fresh_dict_every_request() -> None:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ)
        assert "mine" not in environ
        environ["mine"] = True
        environ["HTTP_HOST"] = "changed"
        start_response("200 OK", [])
        return [b""]

    head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    response, _ = run_in_memory(app, head * 3)
    assert response.count(b" 200 OK") == 3
    assert len({id(env) for env in seen}) == 3


def test_subclass_hooks_are_still_called(stderr: ServerStderr) -> None:
    logged: list[tuple[Any, ...]] = []

    class Hooked(WSGIRequestHandler):
        def get_environ(self) -> Any:
            environ = super().get_environ()
            environ["hooked.extra"] = self.headers.get("X-Extra")
            return environ

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            logged.append(("request", self.command, self.path, code, size))

        def log_message(self, format: str, *args: Any) -> None:
            logged.append(("message", format % args))

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(environ["hooked.extra"]).encode()]

    with serving(app, Hooked) as server:
        reply = exchange(server, b"GET /p HTTP/1.1\r\nHost: x\r\nX-Extra: yes\r\n\r\n")[0]
        exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n")
        wait_for(lambda: len(logged) == 2, what="both log lines")
    assert reply.body == b"yes"
    # Each is logged after its response went out: the two may come in either order.
    assert ("request", "GET", "/p", 200, 3) in logged
    assert [entry for entry in logged if entry[0] == "message" and "400" in entry[1]]


def test_a_memory_handler_without_a_socket_still_serves() -> None:
    assert issubclass(MemoryHandler, WSGIRequestHandler)
    response, _ = run_in_memory(hello_app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 OK") and response.endswith(b"Hello, world!")


# -- kernel deadlines ----------------------------------------------------------------------


class QuickIO(WSGIRequestHandler):
    timeout = 0.3


class ArrayWriter(WSGIRequestHandler):
    """Writes a response of 4-byte items straight to ``wfile``, through a small send buffer,
    so the first send takes only part of it."""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    def handle(self) -> None:
        while self.rfile.readline() not in (b"\r\n", b""):  # the request's head
            pass
        payload = array.array("I", range(40_000))  # 160,000 bytes: one small-block write
        self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % (4 * 40_000))
        self.wfile.write(payload)


def test_a_buffer_of_wider_items_sent_in_parts_arrives_whole() -> None:
    """What one send does not take is sent by bytes, not by the buffer's items."""
    expected = array.array("I", range(40_000)).tobytes()
    with serving(hello_app, ArrayWriter) as server, connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.partition(b"\r\n\r\n")[2] == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernel deadlines: Linux")
def test_the_connection_deadlines_are_the_kernels_on_linux() -> None:
    seen: list[tuple[Optional[float], bytes]] = []

    class Looking(QuickIO):
        def handle(self) -> None:
            sock = self.connection
            seen.append(
                (sock.gettimeout(), sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16))
            )
            super().handle()

    with serving(hello_app, Looking) as server:
        assert (
            exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0].status
            == 200
        )
    timeout, value = seen[0]
    assert timeout is None  # blocking: no poll before each recv and send
    assert value != bytes(16)  # the I/O deadline is in the kernel


def test_a_client_that_stops_reading_a_sent_file_is_cut(
    tmp_path: Path, stderr: ServerStderr
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"f" * (32 * 1024 * 1024))

    def files(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](big.open("rb"))

    with serving(files, QuickIO) as server, connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        WireReader(sock).read_head()
        wait_for(lambda: server.requests_in_flight() == 0, what="the send deadline to cut it")
    assert "client disconnected" in stderr.getvalue()


# -- the access log's group writes ------------------------------------------------------------


class _SlowStream(io.StringIO):
    """stderr whose writes take a while (a terminal scrolling), counting them."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        time.sleep(0.002)  # the write in progress that other threads' lines join
        return super().write(text)


def test_an_access_line_that_comes_alone_is_written_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = _SlowStream()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(accesslog, "BUSY_GAP", 0.0)  # every line comes alone
    lines = accesslog.Lines()
    lines.write("one\n")
    assert stream.getvalue() == "one\n"  # written before write() returned
    lines.write("two\n")
    assert (stream.getvalue(), stream.writes) == ("one\ntwo\n", 2)


def test_access_lines_from_many_threads_are_all_written_whole_in_few_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = _SlowStream()
    monkeypatch.setattr(sys, "stderr", stream)
    lines = accesslog.Lines()

    def bring(thread: int) -> None:
        for number in range(50):
            lines.write(f"thread {thread} line {number}\n")

    threads = [threading.Thread(target=bring, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = sorted(f"thread {t} line {n}" for t in range(8) for n in range(50))
    # The last ones wait at most HOLD for the flusher.
    wait_for(lambda: sorted(stream.getvalue().splitlines()) == expected, what="every line")
    written = stream.getvalue().splitlines()
    for thread_no in range(8):
        mine = [line for line in written if line.startswith(f"thread {thread_no} ")]
        assert mine == [f"thread {thread_no} line {n}" for n in range(50)]
    assert stream.writes < 400  # lines that came together were written together


def test_access_lines_held_under_load_are_written_when_the_server_stops(
    monkeypatch: pytest.MonkeyPatch, stderr: ServerStderr
) -> None:
    """Lines held for a common write are out once ``server_close()`` returns, those of
    connections that ended before the stop and of one that ends with it."""
    monkeypatch.setattr(accesslog, "BUSY_GAP", 3600.0)  # every line after the first is held
    monkeypatch.setattr(accesslog, "HOLD", 3600.0)  # and the flusher never gets to them
    monkeypatch.setattr(accesslog, "LINES", accesslog.Lines())
    handler = accesslog.handler_class(False, True)
    head = b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n"
    with serving(hello_app, handler) as server:
        replies = exchange(
            server, head % 1 + head % 2 + (head % 3)[:-2] + b"Connection: close\r\n\r\n", 3
        )
        assert [reply.status for reply in replies] == [200] * 3
        sock = connect(server)
        sock.sendall(head % 4)  # served, and its connection left open: the stop ends it
        assert WireReader(sock).read().status == 200
    sock.close()
    text = stderr.getvalue()
    assert "GET /4 " in text
    assert text.index("GET /1 ") < text.index("GET /2 ") < text.index("GET /3 ")


class _StuckStream(io.StringIO):
    """stderr that takes nothing until ``go`` is set (a terminal paused with Ctrl+S)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()

    def write(self, text: str) -> int:
        assert self.go.wait(DEADLINE)
        return super().write(text)


def test_access_lines_held_for_a_stalled_stderr_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = _StuckStream()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(accesslog, "MAX_HELD", 20)
    lines = accesslog.Lines()
    first = threading.Thread(target=lines.write, args=("first\n",))
    first.start()  # writes at once, and is stuck in stderr
    wait_for(lambda: lines._writer.locked(), what="the first write to be under way")

    def many() -> None:
        for number in range(100):
            lines.write(f"line {number}\n")

    more = threading.Thread(target=many)
    more.start()
    wait_for(lambda: len(lines._pending) > 20, what="the bound to be reached")
    assert more.is_alive() and len(lines._pending) == 21  # waiting, not piling up
    stream.go.set()
    first.join(DEADLINE)
    more.join(DEADLINE)
    wait_for(lambda: stream.getvalue().count("\n") == 101, what="every line")
    assert stream.getvalue().splitlines() == ["first"] + [f"line {n}" for n in range(100)]


class _LogsLate(accesslog.AccessLogHandler):
    """Adds its line a moment after its answer is out, as a thread preempted between the two
    does: a client holding an answer does not know that its line is there yet."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        threading.Event().wait(0.1)
        super().log_request(code, size)


def test_held_access_lines_are_written_in_the_order_they_came(
    monkeypatch: pytest.MonkeyPatch, stderr: ServerStderr
) -> None:
    """Under load, lines from any connection are held for a common write, in the order they
    came: once a later line is out (a malformed request's, which is always written), every
    line before it is. This is how a client learns whether a request was logged: with the
    malformed request on the request's connection, since a line comes after its answer is sent
    (a marker on another connection may be logged first)."""
    monkeypatch.setattr(accesslog, "BUSY_GAP", 3600.0)  # every line after the first is held
    monkeypatch.setattr(accesslog, "LINES", accesslog.Lines())
    marker = b"GET /marker-%d HTTP/1.1\r\nBad Line\r\n\r\n"
    with serving(hello_app, _LogsLate) as server:
        for number in range(1, 6):
            head = b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % number
            replies = exchange(server, head + marker % number, 2)
            assert [reply.status for reply in replies] == [200, 400]
        wait_for(lambda: "/marker-5" in stderr.getvalue(), what="the last malformed line")
        text = stderr.getvalue()
    places = [text.find(f"GET /{number} ") for number in range(1, 6)]
    assert -1 not in places, text
    assert places == sorted(places) and places[-1] < text.index("/marker-5"), text


def test_what_the_app_writes_to_wsgi_errors_comes_after_the_line_before_it(
    monkeypatch: pytest.MonkeyPatch, stderr: ServerStderr
) -> None:
    """Under load a request's line is held; what the next request on its connection writes to
    ``wsgi.errors`` joins the same queue, so it is not written before that line."""
    monkeypatch.setattr(accesslog, "BUSY_GAP", 3600.0)  # every line after the first is held
    monkeypatch.setattr(accesslog, "HOLD", 0.5)  # for half a second

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/b":
            environ["wsgi.errors"].write("app: handling /b\n")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    head = b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n"
    with serving(app, accesslog.handler_class(False, True)) as server:
        exchange(server, head % b"warm")
        exchange(server, head % b"a" + head % b"b", 2)
        wait_for(lambda: "app: handling /b" in stderr.getvalue(), what="the app's line")
    text = stderr.getvalue()
    assert text.index("GET /a ") < text.index("app: handling /b"), text
