"""``--lint`` through the real ``simplewsgi serve`` in a subprocess on loopback, plainly and
with ``--reload``: a complaint is one warning line per rule and route, a good app gets none, the
request is answered as without the checker, and the option comes from the command line, the
environment or pyproject.toml."""

from __future__ import annotations

import http.client
import re
import sys
from pathlib import Path
from typing import Callable

import pytest

from simplewsgi import exits
from simplewsgi.options import ServeOptions
from tests.commandline import DEADLINE, HELLO, Server, write

# /tuple: the header list is a tuple, which the server refuses (500); anything else is answered
# through the write() callable, which the server serves.
BAD = """\
def app(environ, start_response):
    if environ["PATH_INFO"] == "/tuple":
        start_response("200 OK", (("Content-Type", "text/plain"),))
        return [b"never sent"]
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written")
    return []
"""
WRITE = (
    "the application used the write() callable of start_response(); PEP 3333 keeps it only "
    "for old frameworks: return or yield the body instead"
)
TUPLE = "start_response() got headers as a tuple; PEP 3333 requires a list"
RELOAD = [(), ("--reload",)] if sys.platform != "win32" else [()]


def get(server: Server, path: str) -> tuple[int, bytes]:
    """One request on a new connection; waits for its access-log line, which the server
    writes after anything the checker said about it."""
    conn = http.client.HTTPConnection(*server.address, timeout=DEADLINE)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        answer = response.status, response.read()
    finally:
        conn.close()
    server.wait_for(rf"GET {re.escape(path)} HTTP/1.1 {answer[0]}")
    return answer


def complaints(server: Server) -> list[str]:
    return [line for line in server.plain.splitlines() if line.startswith("Warning: lint: ")]


@pytest.mark.parametrize("reload", RELOAD, ids=lambda args: "reload" if args else "plain")
def test_a_complaint_is_one_warning_per_route(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    write(tmp_path / "bad.py", BAD)
    server = launch("serve", "bad:app", "--lint", "--port", "0", *reload)
    assert get(server, "/a") == (200, b"written")
    assert get(server, "/a?page=2") == (200, b"written")  # the same route
    assert complaints(server) == [f"Warning: lint: GET /a: {WRITE}"]
    assert get(server, "/b") == (200, b"written")
    assert complaints(server) == [
        f"Warning: lint: GET /a: {WRITE}",
        f"Warning: lint: GET /b: {WRITE}",
    ]
    status, _ = get(server, "/tuple")
    assert status == 500  # the server's own answer to a tuple of headers stands
    assert complaints(server)[2:] == [f"Warning: lint: GET /tuple: {TUPLE}"]
    assert "Traceback" not in server.stderr
    assert server.stop() == exits.OK


@pytest.mark.parametrize("reload", RELOAD, ids=lambda args: "reload" if args else "plain")
def test_a_good_app_gets_no_complaint(
    tmp_path: Path, launch: Callable[..., Server], reload: tuple[str, ...]
) -> None:
    write(tmp_path / "good.py", HELLO)
    server = launch("serve", "good:app", "--lint", "--port", "0", *reload)
    assert get(server, "/") == (200, b"hello from good")
    assert server.stop() == exits.OK
    assert "lint" not in server.stderr


def test_without_lint_nothing_is_said(tmp_path: Path, launch: Callable[..., Server]) -> None:
    write(tmp_path / "bad.py", BAD)
    server = launch("serve", "bad:app", "--port", "0")
    assert get(server, "/a") == (200, b"written")
    assert server.stop() == exits.OK
    assert "lint" not in server.stderr


def test_the_warning_is_colored_as_warnings_are(
    tmp_path: Path, launch: Callable[..., Server]
) -> None:
    write(tmp_path / "bad.py", BAD)
    server = launch("serve", "bad:app", "--lint", "--port", "0", "--color", "always")
    get(server, "/a")
    assert f"\x1b[33m\x1b[1mWarning:\x1b[0m lint: GET /a: {WRITE}\n" in server.stderr


@pytest.mark.parametrize(
    ("table", "env", "args", "on"),
    [
        ("", {"SIMPLEWSGI_LINT": "1"}, (), True),
        ("lint = true\n", {}, (), True),
        ("lint = true\n", {}, ("--no-lint",), False),
        ("lint = true\n", {"SIMPLEWSGI_LINT": "0"}, (), False),
    ],
    ids=["env", "pyproject", "no-lint-over-pyproject", "env-over-pyproject"],
)
def test_lint_from_the_environment_and_pyproject(
    tmp_path: Path,
    launch: Callable[..., Server],
    table: str,
    env: dict[str, str],
    args: tuple[str, ...],
    on: bool,
) -> None:
    write(tmp_path / "pyproject.toml", f"[tool.simplewsgi]\napp = 'bad:app'\nport = 0\n{table}")
    write(tmp_path / "bad.py", BAD)
    server = launch("serve", *args, **env)
    assert get(server, "/a") == (200, b"written")
    assert server.stop() == exits.OK
    assert complaints(server) == ([f"Warning: lint: GET /a: {WRITE}"] if on else [])


def test_the_option_and_its_default(parsed: Callable[..., ServeOptions]) -> None:
    assert parsed("serve").lint is False
    assert parsed("serve", "--lint").lint is True
    assert parsed("serve", "--lint", "--no-lint").lint is False
    options = ServeOptions(lint=True)
    assert ServeOptions.from_json(options.to_json()) == options  # what a reloader worker gets
