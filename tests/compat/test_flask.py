"""Flask served by the real command: unicode routes, forms, a 5 MB upload, JSON, cookies,
redirects, a streamed response, send_file by sendfile, HEAD, a chunked upload, 404 and 500."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import urllib.parse
from pathlib import Path
from typing import Callable

import pytest

from tests.commandline import DEADLINE, REPO, Server
from tests.compat.conftest import Client, files_closed_after_use, sendfile_spy
from tests.helpers import WireReader

pytest.importorskip("flask", reason="Flask is not installed (pip install -e '.[compat]')")
pytestmark = pytest.mark.compat

Serve = Callable[..., Server]
Connect = Callable[[Server], Client]


@pytest.fixture
def flask_server(serve_app: Serve) -> Server:
    return serve_app("flaskapp:app")


def test_unicode_path_and_query(flask_server: Server, client: Connect) -> None:
    path = urllib.parse.quote("/héllo/wörld") + "?q=" + urllib.parse.quote("日本 & co")
    reply = client(flask_server).get(path)
    assert reply.status == 200, reply.text
    assert reply.json() == {
        "path": "/héllo/wörld",
        "name": "wörld",
        "q": "日本 & co",
        "raw": "q=%E6%97%A5%E6%9C%AC%20%26%20co",
    }


def test_unicode_target_sent_as_utf8_bytes(flask_server: Server) -> None:
    """curl sends a typed URL's UTF-8 unencoded: Flask routes it, and the access log shows the
    text, not one character per byte."""
    with socket.create_connection(flask_server.address, timeout=DEADLINE) as sock:
        sock.sendall("GET /héllo/wörld?q=日本 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        reader = WireReader(sock)
        reply = reader.read()
        reader.close()
    assert reply.status == 200
    assert json.loads(reply.body) == {
        "path": "/héllo/wörld", "name": "wörld", "q": "日本", "raw": "q=日本",
    }  # fmt: skip
    flask_server.wait_for(r"GET /héllo/wörld\?q=日本 HTTP/1\.1 200 ")


def test_form_post_redirects_to_the_result(flask_server: Server, client: Connect) -> None:
    conn = client(flask_server)
    form = urllib.parse.urlencode({"name": "Zoë & Ann"})
    reply = conn.post("/form", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 303
    location = reply.header("Location")
    assert location == "/greet?name=Zo%C3%AB+%26+Ann"
    page = conn.get(location)
    assert page.status == 200
    assert '<h1 id="greeting">Hello, Zoë &amp; Ann!</h1>' in page.text


def test_redirect_to_a_unicode_url_is_followed(flask_server: Server, client: Connect) -> None:
    conn = client(flask_server)
    reply = conn.get("/old")
    assert reply.status == 302
    assert reply.header("Location") == "/h%C3%A9llo/w%C3%B6rld?q=moved"
    assert conn.get(reply.header("Location") or "").json()["name"] == "wörld"


def test_five_megabyte_multipart_upload(flask_server: Server, client: Connect) -> None:
    data = os.urandom(5 * 1024 * 1024)
    boundary = "compat-" + hashlib.sha256(data).hexdigest()[:16]
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode(),
            "un petit mot, ça va\r\n".encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="upload.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    reply = client(flask_server).post(
        "/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert reply.status == 200, reply.text
    assert reply.json() == {
        "filename": "upload.bin",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "field": "un petit mot, ça va",
    }


def test_json_in_and_out(flask_server: Server, client: Connect) -> None:
    payload = {"items": [1, 2, 3.5], "name": "ünïcode"}
    reply = client(flask_server).post(
        "/json", json.dumps(payload), {"Content-Type": "application/json"}
    )
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/json"
    assert reply.json() == {"received": payload, "count": 3, "total": 6.5}


def test_two_set_cookie_headers_kept_apart(flask_server: Server, client: Connect) -> None:
    conn = client(flask_server)
    reply = conn.get("/cookies")
    cookies = reply.all("Set-Cookie")
    assert len(cookies) == 2, reply.headers
    assert cookies[0].startswith("first=one;") and "HttpOnly" in cookies[0]
    assert cookies[1].startswith('second="two\\054 with a comma";')
    assert "Path=/cookies" in cookies[1]
    back = "; ".join(cookie.split(";")[0] for cookie in cookies)
    seen = conn.get("/cookies", {"Cookie": back}).json()["seen"]
    assert seen == {"first": "one", "second": "two, with a comma"}


def test_streamed_blocks_arrive_as_they_are_produced(flask_server: Server) -> None:
    """The app produces its last block only after /release, which the test sends only once it
    has read the first block: so the first block was on the wire before the last existed."""
    with socket.create_connection(flask_server.address, timeout=DEADLINE) as sock:
        sock.sendall(b"GET /stream?who=%C3%A9mile HTTP/1.1\r\nHost: compat\r\n\r\n")
        reader = WireReader(sock)
        head = reader.read_head()
        assert (head.status, head.header("Transfer-Encoding")) == (200, "chunked")
        first = reader.file.read(int(reader.file.readline(), 16) + 2)
        assert first == "first block for émile\n\r\n".encode()
        assert flask_server.get("/release") == (200, "released")
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):
            block = reader.file.read1(65536)  # type: ignore[attr-defined]
            assert block, f"closed after {rest!r}"
            rest += block
        reader.close()
    assert b"not released" not in rest
    assert "last block for émile\n".encode() in rest


def test_send_file_goes_out_by_sendfile(serve_app: Serve, client: Connect, tmp_path: Path) -> None:
    data = os.urandom(1024 * 1024 + 7)
    (tmp_path / "blob.bin").write_bytes(data)
    env, log = sendfile_spy(tmp_path, str(REPO))
    server = serve_app("flaskapp:app", COMPAT_FILE=str(tmp_path / "blob.bin"), **env)
    conn = client(server)
    reply = conn.get("/file")
    assert reply.status == 200
    assert reply.header("Content-Length") == str(len(data))
    assert reply.body == data
    assert log.read_text().split("\n") == [f"0 {len(data)}", ""]
    part = conn.get("/file", {"Range": "bytes=1000-1999"})  # werkzeug's range wrapper
    assert (part.status, part.header("Content-Range")) == (206, f"bytes 1000-1999/{len(data)}")
    assert part.body == data[1000:2000]
    head = conn.request("HEAD", "/file")
    assert (head.status, head.header("Content-Length"), head.body) == (200, str(len(data)), b"")
    assert conn.get("/").text == "flask says hello"  # the connection still in step


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_send_file_closes_the_file(serve_app: Serve, tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    server = serve_app("flaskapp:app", COMPAT_FILE=str(tmp_path / "big.bin"))
    files_closed_after_use(server, "/file", tmp_path / "big.bin")


def test_head_has_the_get_headers_and_no_body(flask_server: Server, client: Connect) -> None:
    conn = client(flask_server)
    head = conn.request("HEAD", "/")
    assert (head.status, head.header("Content-Length"), head.body) == (200, "16", b"")
    assert conn.get("/").text == "flask says hello"


def test_chunked_upload_read_through_request_stream(flask_server: Server, client: Connect) -> None:
    blocks = [os.urandom(size) for size in (1, 65536, 12345, 300000)]
    reply = client(flask_server).post("/chunked", iter(blocks))  # http.client: chunked
    assert reply.status == 200, reply.text
    whole = b"".join(blocks)
    assert reply.json() == {
        "size": len(whole),
        "sha256": hashlib.sha256(whole).hexdigest(),
        "length": None,
    }


def test_unread_body_leaves_the_connection_in_step(flask_server: Server, client: Connect) -> None:
    conn = client(flask_server)
    reply = conn.post("/ignore", b"GET /boom HTTP/1.1\r\n\r\n" * 5000)  # a body that parses
    assert (reply.status, reply.text) == (200, "body not read")
    assert conn.get("/").text == "flask says hello"


def test_not_found(flask_server: Server, client: Connect) -> None:
    reply = client(flask_server).get("/nowhere")
    assert reply.status == 404
    assert "Not Found" in reply.text


def test_exception_is_a_500_logged_and_the_server_serves_on(
    flask_server: Server, client: Connect
) -> None:
    conn = client(flask_server)
    reply = conn.get("/boom")
    assert reply.status == 500
    assert "Internal Server Error" in reply.text
    flask_server.wait_for(r"Traceback \(most recent call last\):(.|\n)*ZeroDivisionError: compat")
    assert conn.get("/").text == "flask says hello"
    flask_server.wait_for(r"GET /boom HTTP/1\.1 500 ")
