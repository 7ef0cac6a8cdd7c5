"""The environ, per PEP 3333, as a real server builds it."""

from __future__ import annotations

import sys
from typing import Any
from wsgiref.validate import validator

from tests.helpers import exchange, serving


def capture_environ(request: bytes) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read()
        seen.append(dict(environ))
        start_response("200 OK", [])
        return [b""]

    with serving(app) as server:
        exchange(server, request)
        seen[0]["_server_port"] = server.server_port
    return seen[0]


def test_cgi_variables() -> None:
    env = capture_environ(
        b"POST /caf%C3%A9/%E9%2F?x=%20y&z HTTP/1.1\r\nHost: example.test:8080\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc"
    )
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/caf\u00c3\u00a9/\u00e9/"  # percent-decoded as latin-1
    assert env["QUERY_STRING"] == "x=%20y&z"  # raw
    assert env["SCRIPT_NAME"] == ""
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(env["_server_port"])
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REMOTE_PORT"].isdigit()
    assert env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_HOST"] == "example.test:8080"


def test_wsgi_variables() -> None:
    env = capture_environ(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.errors"] is sys.stderr
    assert callable(env["wsgi.file_wrapper"])
    assert hasattr(env["wsgi.input"], "read")


def test_repeated_headers_are_joined_and_trimmed() -> None:
    env = capture_environ(
        b"GET / HTTP/1.1\r\nHost: x\r\nAccept:  text/html \r\nAccept:\tapplication/json\r\n"
        b"Cookie: a=1\r\nCookie: b=2\r\n\r\n"
    )
    assert env["HTTP_ACCEPT"] == "text/html,application/json"  # wsgiref joins with ","
    assert env["HTTP_COOKIE"] == "a=1; b=2"


def test_headers_with_underscores_are_dropped() -> None:
    env = capture_environ(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Auth-User: real\r\nX_Auth_User: spoofed\r\n\r\n"
    )
    assert env["HTTP_X_AUTH_USER"] == "real"
    assert "spoofed" not in repr(env)


def test_absolute_form_target() -> None:
    env = capture_environ(
        b"GET http://other.test:81/p/a%20th?q=1 HTTP/1.1\r\nHost: ignored.test\r\n\r\n"
    )
    assert env["PATH_INFO"] == "/p/a th"
    assert env["QUERY_STRING"] == "q=1"
    assert env["HTTP_HOST"] == "other.test:81"


def test_http10_request_without_content_type() -> None:
    env = capture_environ(b"GET /x HTTP/1.0\r\n\r\n")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "CONTENT_TYPE" not in env
    assert env["CONTENT_LENGTH"] == ""


def test_wsgiref_validator_finds_nothing_to_complain_about() -> None:
    """wsgiref.validate checks the server's side of the contract too (warnings are errors)."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"got ", body])

    with serving(validator(app)) as server:
        replies = exchange(
            server,
            b"POST /v?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            count=2,
        )
    assert replies[0].status == 200 and replies[0].body == b"got hi"
    assert replies[1].status == 200


def test_content_length_is_normalised_to_the_length_used() -> None:
    env = capture_environ(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc")
    assert env["CONTENT_LENGTH"] == "3"


def test_absolute_form_without_a_path_keeps_its_query() -> None:
    env = capture_environ(b"GET http://example.test?a=1 HTTP/1.1\r\nHost: y\r\n\r\n")
    assert (env["HTTP_HOST"], env["PATH_INFO"], env["QUERY_STRING"]) == ("example.test", "/", "a=1")
