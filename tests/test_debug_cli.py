"""An error's details through the real ``simplewsgi serve``: the reloader's error page and the
``--debug`` page are for loopback clients (or ``--debug-allow-ips``), a plain 500 for the rest;
the terminal's tracebacks fold simplewsgi's own frames unless ``--debug``.

A client that is not loopback is this machine's own non-loopback address (the one a UDP socket
"connected" to a TEST-NET address would use) talking to ``--host 0.0.0.0``; where the machine
has none, those tests are skipped and say so.
"""

from __future__ import annotations

import http.client
import re
import socket
import sys
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests.commandline import DEADLINE, Server, write

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the reloader is POSIX only")

BROKEN = "import os\n\nSECRET_TOKEN = 'hunter2'\nvalue = 1 +\n"
HTML = "text/html,application/xhtml+xml"
PLAIN_500 = "A server error occurred.  Please contact the administrator."


def non_loopback_address() -> Optional[str]:
    """This machine's IPv4 address on its default route, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("203.0.113.1", 9))  # UDP: nothing is sent
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def request(
    host: str, port: int, path: str = "/", headers: Optional[dict[str, str]] = None
) -> tuple[int, str, str]:
    """(status, Content-Type, body) of a GET."""
    conn = http.client.HTTPConnection(host, port, timeout=DEADLINE)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        conn.close()


@pytest.fixture
def outside() -> str:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to be a remote client from")
    return address


def broken_app(launch: Callable[..., Server], tmp_path: Path, *args: str) -> Server:
    write(tmp_path / "app.py", BROKEN)
    server = launch("serve", "app:app", "--reload", "--port", "0", *args)
    server.wait_for(r"SyntaxError: .*serving an error page")
    return server


def test_reload_error_page_details_for_loopback_only(
    launch: Callable[..., Server], tmp_path: Path, outside: str
) -> None:
    server = broken_app(launch, tmp_path, "--host", "0.0.0.0")
    port = server.address[1]
    for accept in (HTML, "*/*"):
        status, _, local = request("127.0.0.1", port, headers={"Accept": accept})
        assert status == 500 and "app.py:4" in local and "SyntaxError" in local, local
        status, content_type, remote = request(outside, port, headers={"Accept": accept})
        assert (status, content_type, remote) == (500, "text/plain", PLAIN_500)
    # Proxy headers only ever take details away: a loopback peer forwarding for someone.
    status, _, forwarded = request("127.0.0.1", port, headers={"X-Forwarded-For": "127.0.0.1"})
    assert (status, forwarded) == (500, PLAIN_500)


def test_debug_allow_ips_shows_details_to_the_named_peer(
    launch: Callable[..., Server], tmp_path: Path, outside: str
) -> None:
    server = broken_app(launch, tmp_path, "--host", "0.0.0.0", "--debug-allow-ips", outside)
    status, _, remote = request(outside, server.address[1])
    assert status == 500 and "app.py:4" in remote and "SyntaxError" in remote, remote


def test_reload_error_page_behind_proxy_headers_uses_the_real_peer(
    launch: Callable[..., Server], tmp_path: Path, outside: str
) -> None:
    """--forwarded-allow-ips '*' believes anyone's X-Forwarded-For: a remote client claiming
    to be 127.0.0.1 is still a remote peer."""
    server = broken_app(
        launch, tmp_path, "--host", "0.0.0.0", "--proxy-headers", "--forwarded-allow-ips", "*"
    )
    port = server.address[1]
    status, _, lie = request(outside, port, headers={"X-Forwarded-For": "127.0.0.1"})
    assert (status, lie) == (500, PLAIN_500)
    status, _, via_local_proxy = request(
        "127.0.0.1", port, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert (status, via_local_proxy) == (500, PLAIN_500)
    status, _, local = request("127.0.0.1", port, headers={"X-Forwarded-For": "127.0.0.1"})
    assert status == 500 and "app.py:4" in local, local
    server.wait_for(r"203\.0\.113\.9 GET / HTTP/1\.1 500")  # logged after the answer


FAILING = """\
def helper(order):
    label = "<script>alert('x')</script>"
    raise LookupError("no such order: " + order)

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def blocks():
            yield b"first block;"
            raise RuntimeError("failed mid-stream")
        return blocks()
    return helper(environ["QUERY_STRING"])
"""


def debug_server(launch: Callable[..., Server], tmp_path: Path, *args: str) -> Server:
    write(tmp_path / "shop.py", FAILING)
    return launch("serve", "shop:app", "--port", "0", *args)


def test_debug_page_through_the_command(launch: Callable[..., Server], tmp_path: Path) -> None:
    server = debug_server(launch, tmp_path, "--debug")
    host, port = server.address
    status, content_type, page = request(
        host, port, "/orders?<b>", {"Accept": HTML, "Cookie": "sid=abcdef123"}
    )
    assert (status, content_type) == (500, "text/html; charset=utf-8")
    assert "LookupError: no such order: &lt;b&gt;" in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # the local `label`
    assert "<code>shop.py:3</code> in <code>helper</code>" in page
    assert "abcdef123" not in page and "sid=[masked]" in page
    assert "curl -i" in page and f"http://{host}:{port}/orders?&lt;b&gt;" in page
    status, content_type, text = request(host, port, "/orders?7")
    assert (status, content_type) == (500, "text/plain; charset=utf-8")
    assert 'shop.py", line 3, in helper' in text and "LookupError: no such order: 7" in text
    # --debug: the terminal shows every frame, simplewsgi's too.
    server.wait_for(r"LookupError: no such order: 7")
    assert "simplewsgi/middleware/debug.py" in server.plain and "hidden" not in server.plain


def test_debug_page_not_for_remote_clients(
    launch: Callable[..., Server], tmp_path: Path, outside: str
) -> None:
    server = debug_server(launch, tmp_path, "--debug", "--host", "0.0.0.0")
    port = server.address[1]
    status, content_type, body = request(outside, port, "/x?1", {"Accept": HTML})
    assert (status, content_type, body) == (500, "text/plain", PLAIN_500)
    status, _, local = request("127.0.0.1", port, "/x?1", {"Accept": HTML})
    assert status == 500 and "LookupError" in local


def test_debug_after_the_response_started_cuts_it(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    server = debug_server(launch, tmp_path, "--debug")
    conn = http.client.HTTPConnection(*server.address, timeout=DEADLINE)
    try:
        conn.request("GET", "/stream", headers={"Accept": HTML})
        response = conn.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        assert cut.value.partial == b"first block;"
    finally:
        conn.close()
    server.wait_for(r"RuntimeError: failed mid-stream")


def test_terminal_folds_simplewsgi_frames_without_debug(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    server = debug_server(launch, tmp_path)
    status, _, body = request(*server.address, "/x?42", {"Accept": HTML})
    assert (status, body) == (500, PLAIN_500)  # no page without --debug
    server.wait_for(r"LookupError: no such order: 42")
    log = server.plain
    assert re.search(r"  \[\d+ frames? of simplewsgi hidden; --debug shows all\]\n", log), log
    assert 'shop.py", line 13, in app' in log and 'shop.py", line 3, in helper' in log
    assert "/simplewsgi/" not in log.split("Traceback")[1]


def test_reload_debug_shows_the_debug_page_for_a_broken_import(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    write(
        tmp_path / "app.py",
        "SECRET = 'x'\n\ndef load():\n    raise ImportError('<no db>')\n\nload()\n",
    )
    server = launch("serve", "app:app", "--reload", "--debug", "--port", "0")
    server.wait_for(r"ImportError: <no db> .*serving an error page")
    status, content_type, page = request(*server.address, headers={"Accept": HTML})
    assert (status, content_type) == (500, "text/html; charset=utf-8")
    assert "<h1>The app could not be loaded</h1>" in page
    assert "ImportError: &lt;no db&gt;" in page and "<no db>" not in page
    assert "<code>app.py:4</code> in <code>load</code>" in page
    assert "<code>app.py:6</code> in <code>&lt;module&gt;</code>" in page
    assert "<th>SECRET</th><td><code>&#x27;x&#x27;</code>" in page  # the module's variables
    assert 'class="folded"' in page  # the importer's and importlib's frames
