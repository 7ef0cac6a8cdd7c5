"""Tier 1: raw request bytes in, exact response bytes and log lines out (no sockets)."""

from __future__ import annotations

import platform
import re
import sys
from typing import Any

import pytest

from tests.helpers import hello_app, run_in_memory

LOG_LINE = re.compile(r"^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\] (.*)$")
SERVER = f"Server: WSGIServer/0.2 {platform.python_implementation()}/{sys.version.split()[0]}"


def split(out: bytes) -> tuple[list[str], bytes]:
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n"), body


def log_messages(err: str) -> list[str]:
    messages = []
    for line in err.splitlines():
        match = LOG_LINE.match(line)
        if match:
            messages.append(match.group(1))
    return messages


def test_http10_hello_exact_bytes_and_log() -> None:
    out, err = run_in_memory(hello_app, b"GET / HTTP/1.0\r\n\r\n")
    lines, body = split(out)
    assert lines[0] == "HTTP/1.0 200 OK"
    assert lines[1] == SERVER
    assert re.match(r"Date: \w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT$", lines[2])
    assert lines[3:] == ["Content-Type: text/plain", "Content-Length: 13"]
    assert body == b"Hello, world!"
    assert err.endswith("\n") and err.count("\n") == 1
    assert log_messages(err) == ['"GET / HTTP/1.0" 200 13']


def test_app_headers_keep_their_order_and_app_date_is_not_duplicated() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response(
            "200 OK", [("X-B", "2"), ("Date", "Mon, 05 Jun 2006 18:49:54 GMT"), ("X-A", "1")]
        )
        return [b"ok"]

    out, _ = run_in_memory(app, b"GET / HTTP/1.0\r\n\r\n")
    lines, _ = split(out)
    assert lines == [
        "HTTP/1.0 200 OK",
        SERVER,
        "X-B: 2",
        "Date: Mon, 05 Jun 2006 18:49:54 GMT",
        "X-A: 1",
        "Content-Length: 2",
    ]


def test_app_error_before_headers_gives_wsgiref_500_and_traceback_then_log() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        raise RuntimeError("database exploded")

    out, err = run_in_memory(app, b"GET /boom HTTP/1.0\r\n\r\n")
    lines, body = split(out)
    assert lines[0] == "HTTP/1.0 500 Internal Server Error"
    assert body == b"A server error occurred.  Please contact the administrator."
    assert "Content-Length: 59" in lines
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: database exploded" in err
    last = err.rstrip("\n").splitlines()[-1]
    assert LOG_LINE.match(last) and last.endswith('"GET /boom HTTP/1.0" 500 59')


def test_request_line_over_64k_gets_414() -> None:
    out, err = run_in_memory(hello_app, b"GET /" + b"x" * 65536 + b" HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 414 Request-URI Too Long\r\n")
    assert b"Connection: close" in out
    assert " 414 " in err


def test_request_line_of_exactly_64k_is_served() -> None:
    line = b"GET /" + b"x" * (65536 - len(b"GET / HTTP/1.0\r\n")) + b" HTTP/1.0\r\n"
    assert len(line) == 65536
    out, _ = run_in_memory(hello_app, line + b"\r\n")
    assert out.startswith(b"HTTP/1.0 200 OK")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),  # HTTP/0.9 style
        (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # double space
        (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # method not a token
        (b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # control char in target
        (b"GET relative HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/3.0\r\n\r\n", 505),
        (b"GET / HTTP/1.x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),  # space before colon
        (b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        # An empty Transfer-Encoding is still one: it must not let Content-Length through.
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\nContent-Length: 3\r\n\r\nabc", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000000\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\r\nHost: x\r\n\r\n", 400),  # stray CR in the request line
        (b"GET / HTTP/1.1\r\nHost: x\r\r\n\r\n", 400),  # stray CR in a field line
        (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # asterisk-form is for OPTIONS
        (b"GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
)
def test_malformed_requests_are_refused_with_the_right_status(
    request_bytes: bytes, status: int
) -> None:
    called = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        called.append(environ)
        start_response("200 OK", [])
        return [b""]

    out, err = run_in_memory(app, request_bytes)
    # Answered as HTTP/1.1 once the request line said so, else as HTTP/1.0.
    assert re.match(rb"HTTP/1\.[01] %d " % status, out), out[:40]
    assert b"Connection: close\r\n" in out
    assert called == []
    assert f" {status} - " in err


def test_higher_minor_version_is_answered_as_http11() -> None:
    out, _ = run_in_memory(hello_app, b"GET / HTTP/1.9\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK")


def test_leading_empty_line_and_bare_lf_are_tolerated() -> None:
    out, _ = run_in_memory(hello_app, b"\r\nGET / HTTP/1.0\nX-A: 1\n\n")
    assert out.startswith(b"HTTP/1.0 200 OK") and out.endswith(b"Hello, world!")


def test_request_ended_by_eof_instead_of_an_empty_line_is_served() -> None:
    out, _ = run_in_memory(hello_app, b"GET /x HTTP/1.0")
    assert out.startswith(b"HTTP/1.0 200 OK") and out.endswith(b"Hello, world!")


def test_log_escapes_control_characters() -> None:
    out, err = run_in_memory(hello_app, b"GET /\x1b[31mred HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 400")
    assert "\x1b" not in err and "\\x1b" in err


def _start(status: Any = "200 OK", headers: Any = None, body: Any = (b"x",)) -> Any:
    def app(environ: Any, start_response: Any) -> Any:
        start_response(status, [] if headers is None else headers)
        return list(body)

    return app


def _no_start(environ: Any, start_response: Any) -> list[bytes]:
    return [b"body"]


def _twice(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    start_response("200 OK", [])
    return [b""]


@pytest.mark.parametrize(
    ("app", "words"),
    [
        (_start(body=["text"]), "must be bytes, got str"),
        (_no_start, "did not call start_response()"),
        (_twice, "called twice without exc_info"),
        (_start(status="200"), "status must look like '200 OK'"),
        (_start(status=200), "status must be a str"),
        (_start(status="OK 200"), "status must look like '200 OK'"),
        (_start(headers=[("X-A", 1)]), "must be str"),
        (_start(headers=[(b"X-A", "1")]), "must be str"),
        (_start(headers=[("X-A", "1\r\nSet-Cookie: evil=1")]), "CR, LF or NUL"),
        (_start(headers=[("X-A", "a\nb")]), "CR, LF or NUL"),
        (_start(headers=[("X A", "1")]), "invalid header name"),
        (_start(headers=[("Connection", "close")]), "hop-by-hop"),
        (_start(headers=[("Transfer-Encoding", "chunked")]), "hop-by-hop"),
        (_start(headers=(("X-A", "1"),)), "headers must be a list"),
        (_start(headers=[("Content-Length", "ten")]), "Content-Length must be digits"),
        (_start(headers=[("X-Name", "caf\u00e9 \u2603")]), "must be latin-1"),
        (
            _start(headers=[("Content-Length", "5"), ("Content-Length", "2")], body=[b"hello"]),
            "conflicting Content-Length",
        ),
        (_start(headers=[("A", "b", "c")]), "must be (name, value) tuples"),
        (_start(headers=["Content-Type: text/plain"]), "must be (name, value) tuples"),
    ],
)
def test_wsgi_contract_violations_get_500_and_one_plain_message(app: Any, words: str) -> None:
    out, err = run_in_memory(app, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 500 Internal Server Error\r\n")
    assert b"evil" not in out
    messages = log_messages(err)
    assert len(messages) == 2, err
    assert messages[0].startswith("WSGI application error: ") and words in messages[0]
    assert messages[1] == '"GET / HTTP/1.0" 500 59'
    assert "Traceback" not in err and "AssertionError" not in err


def test_exc_info_before_headers_replaces_the_response() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-Was", "ok")])
        try:
            raise KeyError("missing")
        except KeyError:
            start_response("503 Service Unavailable", [("X-Now", "error")], sys.exc_info())
        return [b"sorry"]

    out, _ = run_in_memory(app, b"GET / HTTP/1.0\r\n\r\n")
    lines, body = split(out)
    assert lines[0] == "HTTP/1.0 503 Service Unavailable"
    assert "X-Now: error" in lines and "X-Was: ok" not in lines
    assert body == b"sorry"


def test_exc_info_after_headers_reraises_and_closes() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        write = start_response("200 OK", [])
        write(b"partial")
        try:
            raise KeyError("late")
        except KeyError:
            start_response("500 Oops", [], sys.exc_info())
        return [b"never"]

    out, err = run_in_memory(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK")
    assert b"partial" in out and b"never" not in out and b"Oops" not in out
    assert b"0\r\n\r\n" not in out  # the chunked body is cut, not falsely completed
    assert "KeyError: 'late'" in err


def test_write_callable_and_iterable_mix() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"one ")
        return iter([b"two ", b"", b"three"])

    out, _ = run_in_memory(app, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    lines, body = split(out)
    assert "Transfer-Encoding: chunked" in lines and "Connection: close" in lines
    assert body == b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"


def test_http10_streaming_is_close_delimited() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [])
        return iter([b"a", b"b"])

    out, err = run_in_memory(app, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    lines, body = split(out)
    assert "Content-Length" not in out.decode() and "Transfer-Encoding" not in out.decode()
    assert "Connection: keep-alive" not in lines
    assert body == b"ab"
    assert log_messages(err) == ['"GET / HTTP/1.0" 200 2']


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_statuses(status: str) -> None:
    out, _ = run_in_memory(_start(status=status, body=[b"ignored"]), b"GET / HTTP/1.0\r\n\r\n")
    lines, body = split(out)
    assert body == b""
    assert not any(line.startswith("Content-Length") for line in lines)


def test_head_sends_headers_of_get_without_body() -> None:
    out, err = run_in_memory(hello_app, b"HEAD / HTTP/1.0\r\n\r\n")
    lines, body = split(out)
    assert "Content-Length: 13" in lines and body == b""
    assert log_messages(err) == ['"HEAD / HTTP/1.0" 200 0']


def test_close_is_called_on_success_and_on_error() -> None:
    closed: list[str] = []

    class Body:
        def __init__(self, fail: bool) -> None:
            self.fail = fail

        def __iter__(self) -> Any:
            yield b"a"
            if self.fail:
                raise ValueError("mid-stream")
            yield b"b"

        def close(self) -> None:
            closed.append("fail" if self.fail else "ok")

    for fail in (False, True):

        def app(environ: Any, start_response: Any, fail: bool = fail) -> Any:
            start_response("200 OK", [])
            return Body(fail)

        run_in_memory(app, b"GET / HTTP/1.0\r\n\r\n")
    assert closed == ["ok", "fail"]


def test_truncated_header_section_is_never_processed() -> None:
    called = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        called.append(environ)
        return hello_app(environ, start_response)

    for cut in (b"POST /t HTTP/1.1\r\nHost: x\r\n", b"GET /t HTTP/1.1\r\nHost: x"):
        out, err = run_in_memory(app, cut)
        assert out == b"" and called == []
        assert "Traceback" not in err


def test_options_asterisk_form() -> None:
    seen: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        seen.append(environ["PATH_INFO"])
        return hello_app(environ, start_response)

    out, _ = run_in_memory(app, b"OPTIONS * HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 200 OK") and seen == ["*"]


def test_no_100_continue_inside_a_started_response() -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [])
        yield b"first"
        yield b"got " + environ["wsgi.input"].read()

    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc"
    out, _ = run_in_memory(app, request)
    lines, body = split(out)
    assert b"100 Continue" not in out
    assert "Connection: close" in lines  # the body was unread when the head went out
    assert body == b"5\r\nfirst\r\n7\r\ngot abc\r\n0\r\n\r\n"


def test_huge_announced_length_is_not_allocated_and_disconnect_is_quiet() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read()
        return hello_app(environ, start_response)

    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000000\r\n\r\nabc"
    out, err = run_in_memory(app, request)
    assert out == b""
    assert "client disconnected (ClientDisconnected)" in err
    assert "Traceback" not in err and "OverflowError" not in err


def test_sys_exit_in_the_app_is_an_app_error() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        sys.exit(3)

    out, err = run_in_memory(app, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 500 ")
    assert "SystemExit: 3" in err


def _body_reader(environ: Any, start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.parametrize(
    "trailers",
    [
        b"not a header\r\n",  # no colon
        b"X-Bad : v\r\n",  # space before the colon
        b" folded\r\n",  # obs-fold
        b"X-Nul: a\x00b\r\n",  # NUL in the value
    ],
)
def test_malformed_trailer_fields_are_refused(trailers: bytes) -> None:
    """Trailer fields follow the header field rules (RFC 9112 §7.1.2), then are discarded."""
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n" + trailers + b"\r\n"
    )
    out, err = run_in_memory(_body_reader, request)
    assert out.startswith(b"HTTP/1.1 400 "), out[:60]
    assert b"Connection: close\r\n" in out
    assert "trailer" in err or "header" in err, err


def test_well_formed_trailer_fields_are_read_and_discarded() -> None:
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other:\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    out, _ = run_in_memory(_body_reader, request)
    assert out.count(b"HTTP/1.1 200 OK") == 2, out
    assert b"\r\n\r\nabc" in out


@pytest.mark.parametrize(
    ("request_line", "logged"),
    [
        (b"G\x1bT / HTTP/1.1", '"G\\x1bT / HTTP/1.1" 400 - malformed method'),
        (b"GET / HTTP/9.9", '"GET / HTTP/9.9" 505 -'),
        (b"GET /a\x01b HTTP/1.1", '"GET /a\\x01b HTTP/1.1" 400 -'),
    ],
)
def test_a_refused_request_line_is_logged_as_received_and_escaped(
    request_line: bytes, logged: str
) -> None:
    out, err = run_in_memory(hello_app, request_line + b"\r\nHost: x\r\n\r\n")
    assert out.startswith((b"HTTP/1.0 4", b"HTTP/1.0 5", b"HTTP/1.1 4", b"HTTP/1.1 5")), out
    assert logged in err, err
    assert "\x1b" not in err and "\x01" not in err


def test_a_huge_refused_request_line_is_logged_cut_short() -> None:
    out, err = run_in_memory(hello_app, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 414 ") or out.startswith(b"HTTP/1.1 414 "), out[:40]
    (line,) = err.splitlines()
    assert '"GET /aaaa' in line and " 414 - " in line
    assert len(line) < 400, len(line)


def test_a_chunked_framing_error_the_app_catches_still_ends_the_connection() -> None:
    """Frameworks catch a bad upload and answer 400 themselves; the rest of the stream can no
    longer be trusted, so nothing after it may be served as a request (smuggling)."""
    seen: list[str] = []

    def forgiving(environ: Any, start_response: Any) -> list[bytes]:
        seen.append(environ["PATH_INFO"])
        try:
            environ["wsgi.input"].read()
        except Exception as error:  # the app's own handling
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [repr(error).encode()]
        start_response("200 OK", [])
        return [b"ok"]

    request = (
        b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhelloX\r\n\r\n0\r\n\r\n"
        b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    out, _ = run_in_memory(forgiving, request)
    assert seen == ["/upload"]
    assert out.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in out


@pytest.mark.parametrize("version", [b"HTTP/1.1", b"HTTP/1.0"])
def test_an_app_cannot_send_a_1xx_as_its_response(version: bytes) -> None:
    """WSGI has no interim responses: a 1xx from start_response would leave the client waiting
    for a final response that never comes (and HTTP/1.0 clients must never see one)."""
    out, err = run_in_memory(
        _start("103 Early Hints", [("Link", "</a.css>; rel=preload")], [b"body"]),
        b"GET / " + version + b"\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert re.match(rb"HTTP/1\.[01] 500 ", out), out
    assert b" 103 " not in out
    assert "1xx" in err


def test_the_log_line_of_a_refused_request_is_cut_whole() -> None:
    """The detail repeats what was received: it is cut too, in the log and in the answer."""
    for request in (
        b"GE\x01T /" + b"x" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n " + b"y" * 10000 + b"\r\n\r\n",
    ):
        out, err = run_in_memory(hello_app, request)
        assert out.startswith(b"HTTP/1.") and b" 400 " in out.split(b"\r\n")[0]
        assert len(out) < 1000, len(out)
        (line,) = err.splitlines()
        assert len(line) < 700, len(line)


@pytest.mark.parametrize(
    "target",
    [b"http://user@h/x", b"http://h:80@evil.com/x", b"http:///x", b"http://", b"http://?q"],
)
def test_absolute_form_with_userinfo_or_no_host_is_refused(target: bytes) -> None:
    """RFC 9110 §4.2.1: an http URI with an empty host is invalid; §4.2.4: userinfo is an
    error. Either would put something other than a host into HTTP_HOST."""
    out, _ = run_in_memory(hello_app, b"GET " + target + b" HTTP/1.1\r\nHost: real\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] 400 ", out), out


def test_two_host_headers_are_refused_in_http10_too() -> None:
    """RFC 9112 §3.2: any request with more than one Host field gets 400."""
    out, _ = run_in_memory(hello_app, b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 400 "), out


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_head_of_a_bodyless_status_gets_no_content_length_from_the_server(status: str) -> None:
    out, _ = run_in_memory(
        _start(status, [], [b"abc"]), b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert out.startswith(f"HTTP/1.1 {status}".encode()), out
    assert b"content-length" not in out.lower()


def test_an_unread_chunked_body_is_announced_as_closing() -> None:
    """Its size is unknown when the head goes out, so the head cannot promise keep-alive; the
    pipelined request behind it is then not silently dropped after a promise."""
    body = b"%x\r\n%b\r\n0\r\n\r\n" % (1024 * 1024 + 16, b"z" * (1024 * 1024 + 16))
    request = (
        b"POST /1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        + b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
    )  # fmt: skip
    out, _ = run_in_memory(hello_app, request)
    head = out.split(b"\r\n\r\n")[0]
    assert b"Connection: close" in head, head


def test_head_of_a_file_wrapper_response_says_the_files_length(tmp_path: Any) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789" * 100)

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    out, _ = run_in_memory(app, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"Content-Length: 1000\r\n" in out, out
    assert out.endswith(b"\r\n\r\n")
