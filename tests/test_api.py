"""The documented wsgiref.simple_server API: names, signatures, hooks, subclassing."""

from __future__ import annotations

import http.client
import importlib.util
import inspect
import socket
import subprocess
import sys
import threading
import time
import wsgiref.simple_server as ref
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

import simplewsgi
from simplewsgi import WSGIRequestHandler, WSGIServer, demo_app, make_server
from tests.helpers import connect, hello_app, run_in_memory, serving


def test_public_names_and_bases() -> None:
    assert set(simplewsgi.__all__) >= {
        "WSGIServer",
        "WSGIRequestHandler",
        "make_server",
        "demo_app",
    }
    assert issubclass(WSGIServer, HTTPServer)
    assert issubclass(WSGIRequestHandler, BaseHTTPRequestHandler)
    for name in ("set_app", "get_app", "setup_environ", "server_bind"):
        assert callable(getattr(WSGIServer, name))
    for name in ("get_environ", "get_stderr", "handle"):
        assert callable(getattr(WSGIRequestHandler, name))


def test_make_server_signature_matches_wsgiref() -> None:
    ours = inspect.signature(make_server)
    theirs = inspect.signature(ref.make_server)
    assert list(ours.parameters) == list(theirs.parameters)
    assert ours.parameters["server_class"].default is WSGIServer
    assert ours.parameters["handler_class"].default is WSGIRequestHandler


def test_import_loads_the_server_api_and_nothing_else() -> None:
    """In a fresh interpreter: no CLI dependency, and of our modules only the package, its
    version and the HTTP core (not cli/, reload/, run, console)."""
    code = (
        "import sys; from simplewsgi import make_server, WSGIServer, WSGIRequestHandler; "
        "print(' '.join(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('simplewsgi', 'click', 'watchdog', 'colorama'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert {"simplewsgi", "simplewsgi.http.server", "simplewsgi.http.handler"} <= loaded
    allowed = {"simplewsgi", "simplewsgi.version", "simplewsgi.http"}
    assert (
        sorted(m for m in loaded if m not in allowed and not m.startswith("simplewsgi.http.")) == []
    )


def test_set_app_get_app_and_base_environ_from_server_bind() -> None:
    calls: list[str] = []

    class Tracking(WSGIServer):
        def setup_environ(self) -> None:
            calls.append("setup_environ")
            super().setup_environ()
            self.base_environ["EXTRA"] = "yes"

    server = make_server("127.0.0.1", 0, hello_app, server_class=Tracking)
    try:
        assert calls == ["setup_environ"]
        assert server.get_app() is hello_app
        server.set_app(demo_app)
        assert server.get_app() is demo_app
        assert server.base_environ["SERVER_PORT"] == str(server.server_port)
        assert server.base_environ["EXTRA"] == "yes"
        assert server.server_port != 0
    finally:
        server.server_close()


def test_listen_backlog_and_threads() -> None:
    assert WSGIServer.request_queue_size >= 128
    assert WSGIServer.allow_reuse_address
    server = make_server("127.0.0.1", 0, hello_app)
    try:
        assert server.base_environ["wsgi.multithread"] is True
    finally:
        server.server_close()


def test_get_environ_returns_a_new_dict_each_call_and_can_be_extended() -> None:
    seen: list[dict[str, Any]] = []

    class Extending(WSGIRequestHandler):
        def get_environ(self) -> Any:
            first = super().get_environ()
            second = super().get_environ()
            assert first is not second and first == second
            first["custom.key"] = "from subclass"
            return first

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ)
        start_response("200 OK", [])
        return [b""]

    run_in_memory_with(Extending, app)
    assert seen[0]["custom.key"] == "from subclass"


def run_in_memory_with(handler: type[WSGIRequestHandler], app: Any) -> bytes:
    from tests import helpers

    class Memory(helpers.MemoryHandler, handler):  # type: ignore[misc, valid-type]
        pass

    import io

    server = make_server("", 80, app, helpers.MemoryServer, Memory)
    out = io.BytesIO()
    server.finish_request(
        (io.BufferedReader(io.BytesIO(b"GET / HTTP/1.0\r\n\r\n")), out), ("1.2.3.4", 5)
    )  # type: ignore[arg-type]
    return out.getvalue()


def test_get_stderr_receives_tracebacks() -> None:
    import io

    sink = io.StringIO()

    class ToSink(WSGIRequestHandler):
        def get_stderr(self) -> Any:
            return sink

    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ValueError("kaboom")

    out = run_in_memory_with(ToSink, broken)
    assert out.startswith(b"HTTP/1.0 500 ")
    assert "ValueError: kaboom" in sink.getvalue()


def test_demo_app_output() -> None:
    out, _ = run_in_memory(demo_app, b"GET /x?y=1 HTTP/1.0\r\n\r\n")
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"Content-Type: text/plain; charset=utf-8" in head
    lines = body.decode("utf-8").split("\n")
    assert lines[0] == "Hello world!" and lines[1] == ""
    keys = [line.split(" = ", 1)[0] for line in lines[2:]]
    assert keys == sorted(keys)
    assert "PATH_INFO = '/x'" in lines and "QUERY_STRING = 'y=1'" in lines


def test_ipv6_host() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = make_server("::1", 0, hello_app)
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        assert server.address_family == socket.AF_INET6
        conn = http.client.HTTPConnection("::1", server.server_port, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.read() == b"Hello, world!"
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_shutdown_leaves_no_serving_thread() -> None:
    before = set(threading.enumerate())
    with serving(hello_app) as server:
        idle = connect(server)  # an idle keep-alive client holds a connection thread
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"Hello, world!"
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    idle.close()
    conn.close()
    assert leftover == []


def test_server_adopts_a_listening_socket() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]

    def make(address: Any, handler: Any) -> WSGIServer:
        return WSGIServer(address, handler, sockets=[sock])

    server = make_server("127.0.0.1", port, hello_app, server_class=make)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        assert server.server_port == port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"Hello, world!"
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_handle_request_returns_after_the_request_was_served() -> None:
    """wsgiref's contract: when handle_request() returns, the app has run and the response has
    been sent (a script catching one OAuth redirect, then exiting, relies on it)."""
    ran: list[str] = []

    def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        time.sleep(0.2)
        ran.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done\n"]

    server = make_server("127.0.0.1", 0, slow_app)
    replies: list[bytes] = []

    def client() -> None:
        with socket.create_connection(server.server_address[:2], timeout=10) as sock:
            sock.sendall(b"GET /callback?code=1 HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            replies.append(data)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        server.handle_request()
        assert ran == ["/callback"]  # the app ran before handle_request() returned
        thread.join(2.0)  # ... and the connection is done: the client read up to EOF
        assert not thread.is_alive(), "handle_request() returned with the connection open"
    finally:
        server.server_close()
        thread.join(10)
    head, _, body = replies[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"\r\nConnection: close" in head
    assert body == b"done\n"


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        # The supervisor talks through the console and never serves: no handler, no run.
        (
            "simplewsgi.reload.supervisor",
            ["simplewsgi.http.handler", "simplewsgi.run", "simplewsgi.importer"],
        ),
        ("simplewsgi.console", ["simplewsgi.http.handler", "simplewsgi.http.server"]),
        # The command loads what it serves with only once it knows which: run or the reloader.
        (
            "simplewsgi.cli",
            ["simplewsgi.run", "simplewsgi.reload.supervisor", "simplewsgi.http.handler"],
        ),
        ("simplewsgi", ["simplewsgi.http.server", "simplewsgi.http.handler"]),  # loaded on use
    ],
)
def test_what_a_module_does_not_load(module: str, absent: list[str]) -> None:
    """Pinned in a fresh interpreter; every name checked is a real module, so a rename cannot
    make this pass vacuously."""
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert module in loaded
    for name in absent:
        assert importlib.util.find_spec(name) is not None, f"{name} is not a module"
    assert sorted(loaded.intersection(absent)) == []
