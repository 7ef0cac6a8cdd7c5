"""Bottle, Falcon and Pyramid served by the real command: a route with a unicode parameter, a
POST body (Content-Length and chunked), a 404, and an error (500, the traceback in the log,
the server serving on). Each framework that is not installed skips its own cases, naming it."""

from __future__ import annotations

import os
import urllib.parse
from typing import Callable

import pytest

from tests.commandline import Server
from tests.compat.conftest import Client

pytestmark = pytest.mark.compat

FRAMEWORKS = ["bottle", "falcon", "pyramid"]
Connect = Callable[[Server], Client]
# Bottle's bug, not ours: it parses chunked framing itself whenever Transfer-Encoding says
# chunked, so behind any server that decodes the body first (simplewsgi, werkzeug's, gunicorn,
# gevent, cheroot) it answers 400 "Error while parsing chunked transfer body"
# (bottlepy/bottle#700 and #845, open). Dropping the header would not help: Bottle would then
# read CONTENT_LENGTH, absent, as an empty body.
BOTTLE_ERROR = "Error while parsing chunked transfer body"


@pytest.fixture(params=FRAMEWORKS)
def framework(
    request: pytest.FixtureRequest, serve_app: Callable[..., Server]
) -> tuple[str, Server]:
    name: str = request.param
    pytest.importorskip(name, reason=f"{name} is not installed (pip install -e '.[compat]')")
    return name, serve_app(f"{name}app:app")


def test_route_with_a_unicode_parameter(framework: tuple[str, Server], client: Connect) -> None:
    name, server = framework
    reply = client(server).get("/hello/" + urllib.parse.quote("Łódź"))
    assert (reply.status, reply.text) == (200, "hello, Łódź")
    assert reply.header("X-Framework") == name


def test_post_body(framework: tuple[str, Server], client: Connect) -> None:
    _, server = framework
    conn = client(server)
    body = os.urandom(200_000)
    reply = conn.post("/echo", body, {"Content-Type": "application/octet-stream"})
    assert (reply.status, reply.body == body[::-1]) == (200, True)
    assert conn.get("/hello/after").text == "hello, after"


def test_chunked_post_body(framework: tuple[str, Server], client: Connect) -> None:
    name, server = framework
    chunks = [b"abc", b"", b"def" * 1000]  # http.client sends an iterator chunked
    conn = client(server)
    reply = conn.post("/echo", iter(chunks), {"Content-Type": "application/octet-stream"})
    if name == "bottle":  # BOTTLE_CHUNKED: this fails the day Bottle fixes it
        assert (reply.status, BOTTLE_ERROR in reply.text) == (400, True), reply.text
    else:
        assert (reply.status, reply.body) == (200, b"".join(chunks)[::-1])
    assert conn.get("/hello/after").text == "hello, after"


def test_not_found(framework: tuple[str, Server], client: Connect) -> None:
    _, server = framework
    assert client(server).get("/nowhere").status == 404


def test_error_is_a_500_logged_and_the_server_serves_on(
    framework: tuple[str, Server], client: Connect
) -> None:
    name, server = framework
    conn = client(server)
    assert conn.get("/boom").status == 500
    server.wait_for(rf"Traceback \(most recent call last\):(.|\n)*KeyError: '{name} boom'")
    assert conn.get("/hello/again").text == "hello, again"


def test_pyramid_error_under_debug_is_the_debug_page(
    serve_app: Callable[..., Server], client: Connect
) -> None:
    """Pyramid lets an exception it has no view for through to the server: ``--debug`` shows
    it with the app's frame."""
    pytest.importorskip("pyramid", reason="pyramid is not installed (pip install -e '.[compat]')")
    server = serve_app("pyramidapp:app", "--debug")
    reply = client(server).get("/boom", {"Accept": "text/html"})
    assert reply.status == 500
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert "KeyError: &#x27;pyramid boom&#x27;" in reply.text and "pyramidapp.py" in reply.text
