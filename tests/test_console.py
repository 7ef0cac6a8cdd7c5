"""The console and the access log in-process: the color decision, access lines on a loopback
server, the banner.

The CLI's own subprocess tests (tests/test_cli.py) check the same output end to end; here each
rule is pinned with exact text.
"""

from __future__ import annotations

import io
import re
import socket
import sys
import types
from collections.abc import Iterator
from typing import Any, Callable, Optional, Protocol

import pytest

from simplewsgi import accesslog, console
from simplewsgi.console import Console
from simplewsgi.options import ServeOptions
from simplewsgi.version import __version__
from tests.helpers import connect, exchange, serving, wait_for

ESC = "\x1b["
ACCESS_LINE = re.compile(
    r"^127\.0\.0\.1 (?P<method>\S+) (?P<target>\S+) HTTP/1\.[01] (?P<status>\d{3}) "
    r"(?P<size>\S+ (?:B|KiB|MiB)) (?P<ms>\d+\.\d) ms$"
)


@pytest.fixture(autouse=True)
def _fresh_color(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test decides color from scratch, with no inherited NO_COLOR/FORCE_COLOR/TERM."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)


class Captured(Protocol):
    """conftest's ``stderr`` fixture: what server threads wrote to sys.stderr so far."""

    def getvalue(self) -> str: ...


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("choice", "env", "tty", "expected"),
    [
        ("auto", {}, False, False),
        ("auto", {}, True, True),
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"NO_COLOR": ""}, True, True),  # empty means unset (no-color.org)
        ("auto", {"FORCE_COLOR": "1"}, False, True),
        ("auto", {"FORCE_COLOR": ""}, False, False),
        ("auto", {"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),  # off wins
        ("auto", {"TERM": "dumb"}, True, False),
        ("always", {"NO_COLOR": "1"}, False, True),
        ("never", {"FORCE_COLOR": "1"}, True, False),
    ],
)
def test_use_color(
    monkeypatch: pytest.MonkeyPatch, choice: str, env: dict[str, str], tty: bool, expected: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert console.use_color(choice, FakeStream(tty)) is expected


def test_use_color_on_a_closed_or_missing_stream() -> None:
    closed = io.StringIO()
    closed.close()  # isatty() raises ValueError
    assert console.use_color("auto", closed) is False
    assert console.use_color("auto", None) is False


def test_colorama_fixes_the_windows_console_only_when_color_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    fake = types.ModuleType("colorama")
    fake.just_fix_windows_console = lambda: calls.append("fixed")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "colorama", fake)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(console, "_windows_fixed", False)
    Console.decide("never")
    assert calls == []
    Console.decide("always")
    Console.decide("always")
    assert calls == ["fixed"]


def _status_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """/<status> answers that status; /boom raises; /big sends 2 KiB."""
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("boom from the app")
    body = b"x" * 2048 if path == "/big" else b"Hello, world!"
    status = path[1:] if path[1:].isdigit() else "200"
    start_response(f"{status} Whatever", [("Content-Length", str(len(body)))])
    return [body]


def _get(server: Any, target: str) -> int:
    request = f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode("latin-1")
    return exchange(server, request)[0].status


@pytest.fixture
def logged(stderr: Captured) -> Iterator[Callable[..., tuple[Any, Captured]]]:
    """serve(**options) -> (server, captured stderr): a loopback server with the CLI's handler."""
    stack: list[Any] = []

    def serve(**options: Any) -> tuple[Any, Captured]:
        opts = ServeOptions(**options)
        handler = accesslog.handler_class(console.use_color(opts.color, None), opts.access_log)
        context = serving(_status_app, handler)
        stack.append(context)
        return context.__enter__(), stderr

    yield serve
    for context in reversed(stack):
        context.__exit__(None, None, None)


def _lines(capture: Captured, count: int) -> list[str]:
    """The first ``count`` lines once written (a line follows its response on the wire)."""
    wait_for(lambda: capture.getvalue().count("\n") >= count, what=f"{count} log lines")
    return capture.getvalue().splitlines()


def test_access_line_plain(logged: Callable[..., tuple[Any, Captured]]) -> None:
    server, capture = logged(color="never")
    assert _get(server, "/path?q=1") == 200
    (line,) = _lines(capture, 1)
    match = ACCESS_LINE.match(line)
    assert match, line
    assert match["method"] == "GET" and match["target"] == "/path?q=1"
    assert match["status"] == "200" and match["size"] == "13 B"
    assert ESC not in line


def test_access_line_sizes(logged: Callable[..., tuple[Any, Captured]]) -> None:
    server, capture = logged(color="never")
    _get(server, "/big")
    assert " 200 2.0 KiB " in _lines(capture, 1)[0]


@pytest.mark.parametrize(
    ("status", "color"),
    [("200", console.GREEN), ("302", console.CYAN), ("404", console.YELLOW), ("503", console.RED)],
)
def test_status_colored_by_class(
    logged: Callable[..., tuple[Any, Captured]], status: str, color: str
) -> None:
    server, capture = logged(color="always")
    assert _get(server, f"/{status}") == int(status)
    (line,) = _lines(capture, 1)
    assert f"{color}{status}{console.RESET}" in line
    plain = re.sub(r"\x1b\[\d+m", "", line)
    assert ACCESS_LINE.match(plain), plain


def test_control_characters_in_the_target_are_escaped(
    logged: Callable[..., tuple[Any, Captured]],
) -> None:
    server, capture = logged(color="never")
    with connect(server) as sock:  # U+009B is CSI for some terminals: it must not pass raw
        sock.sendall(b"GET /a\x9bb HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        sock.recv(1024)
    (line,) = _lines(capture, 1)
    assert "/a\\x9bb" in line and "\x9b" not in line


def test_a_utf8_target_is_logged_as_text(logged: Callable[..., tuple[Any, Captured]]) -> None:
    """curl sends a typed URL's UTF-8 as is; the line shows it as text, not one character per
    byte, and a control character spelled in UTF-8 (U+009B) is still escaped."""
    server, capture = logged(color="never")
    for target in ("/h\u00e9llo?q=\u65e5\u672c", "/a\u009bb", "/txt.\u202eexe"):
        with connect(server) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            while sock.recv(1024):  # closed once its line is in: the next one comes after it
                pass
    first, second, third = _lines(capture, 3)
    assert " /h\u00e9llo?q=\u65e5\u672c HTTP/1.1 " in first, first
    assert " /a\\x9bb HTTP/1.1 " in second and "\x9b" not in second, second
    assert " /txt.\\u202eexe HTTP/1.1 " in third and "\u202e" not in third, third  # no reordering
    with connect(server) as sock:  # a protocol message quotes the request line the same way
        sock.sendall("GET /\u00e9t\u00e9 HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n".encode())
        sock.recv(1024)
    wait_for(lambda: "400" in capture.getvalue(), what="the 400 message")
    assert "/\u00e9t\u00e9 HTTP/1.1" in capture.getvalue(), capture.getvalue()


def test_no_access_log_keeps_errors(logged: Callable[..., tuple[Any, Captured]]) -> None:
    server, capture = logged(color="never", access_log=False)
    assert _get(server, "/") == 200
    assert _get(server, "/404") == 404
    assert _get(server, "/boom") == 500
    wait_for(lambda: " 500 " in capture.getvalue(), what="the 500 line")
    text = capture.getvalue()
    assert "Traceback" in text and "boom from the app" in text
    assert " 200 " not in text and " 404 " not in text
    with connect(server) as sock:  # a protocol error is a message, printed either way
        sock.sendall(b"BROKEN\r\n\r\n")
        sock.recv(1024)
    wait_for(lambda: "400" in capture.getvalue().split(" 500 ", 1)[1], what="the 400 message")


def _banner(capture: Captured, address: Any, reloader: Optional[str] = None, **opts: Any) -> str:
    options = ServeOptions(**opts)
    Console.decide(options.color).banner(options, [address], reloader=reloader)
    return capture.getvalue()


def test_banner_loopback(stderr: Captured) -> None:
    text = _banner(stderr, ("127.0.0.1", 41234), color="never", port=0)
    assert f"simplewsgi {__version__} serving demo app" in text
    assert "http://127.0.0.1:41234/" in text
    assert "Press Ctrl+C to quit" in text
    assert "Warning" not in text and "Reload" not in text and ESC not in text


def test_banner_app_ipv6_reloader(stderr: Captured) -> None:
    text = _banner(stderr, ("::1", 8001, 0, 0), "inotify", app="pkg.web:app", host=("::1",))
    assert "serving pkg.web:app" in text
    assert "http://[::1]:8001/" in text
    assert re.search(r"Reload:\s+inotify", text)


def test_banner_wildcard_warns_and_shows_the_local_url(stderr: Captured) -> None:
    text = _banner(stderr, ("0.0.0.0", 8002), host=("0.0.0.0",), color="always")
    assert "http://127.0.0.1:8002/" in text
    (warning,) = [line for line in text.splitlines() if "Warning" in line]
    assert "development server" in warning and "gunicorn" in warning
    assert ESC in text


def test_server_urls() -> None:
    assert console.server_urls("::1", 80) == ["http://[::1]:80/"]
    assert console.server_urls("localhost", 80) == ["http://localhost:80/"]
    urls = console.server_urls("0.0.0.0", 80)
    assert urls[0] == "http://127.0.0.1:80/"
    lan = console.lan_address(socket.AF_INET)
    assert urls[1:] == ([f"http://{lan}:80/"] if lan else [])
    assert console.server_urls("::", 80)[0] == "http://[::1]:80/"


def test_is_loopback() -> None:
    loopback = ["127.0.0.1", "127.1.2.3", "::1", "localhost", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"]
    assert all(map(console.is_loopback, loopback))
    others = ["0.0.0.0", "::", "", "192.168.1.2", "example.com", "::ffff:10.0.0.1", "fe80::1%lo"]
    assert not any(map(console.is_loopback, others))


def test_the_banner_decides_the_warning_from_the_bound_address(stderr: Captured) -> None:
    """What was typed may be a name or an unusual spelling; the bound address is the fact."""
    assert "Warning" not in _banner(stderr, ("127.0.0.1", 80), host=("my-laptop",), color="never")
    assert "Warning" not in _banner(
        stderr, ("::ffff:127.0.0.1", 80, 0, 0), host=("::ffff:127.0.0.1",)
    )
    assert "Warning" in _banner(stderr, ("0.0.0.0", 80), host=("0.0.0.0",), color="never")


@pytest.mark.parametrize(
    ("kind", "prefix"), [("info", "Info:"), ("warn", "Warning:"), ("error", "Error:")]
)
def test_messages(stderr: Captured, kind: str, prefix: str) -> None:
    getattr(Console(color=False), kind)("something happened")
    assert stderr.getvalue() == f"{prefix} something happened\n"
    getattr(Console(color=True), kind)("again")
    assert ESC in stderr.getvalue().splitlines()[1]


def test_the_color_decision_reads_the_environment(
    stderr: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    Console.decide("auto").goodbye()
    assert ESC in stderr.getvalue() and "goodbye" in stderr.getvalue()
    assert Console.decide("auto").choice == "always"
    assert Console.decide("never").choice == "never"
