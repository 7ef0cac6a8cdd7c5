"""``simplewsgi serve --live`` end to end, with a plain client on the event stream: what each kind
of change tells the pages, that streams never hold a reload or a stop, that a page reloading
meets the new worker, and who sees a failed reload's details. The browser's side is
test_live_browser.py."""

from __future__ import annotations

import http.client
import json
import os
import signal
from pathlib import Path
from typing import Any, Callable

from simplewsgi import exits
from tests.commandline import DEADLINE, Server, write
from tests.helpers import wait_for
from tests.test_debug_cli import outside, request  # noqa: F401 - fixture: a non-loopback client

APP = """\
import os

def app(environ, start_response):
    body = b"<html><body>{word} " + str(os.getpid()).encode() + b"</body></html>"
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
    return [body]
"""


class Stream:
    """``/__simplewsgi__/events`` read line by line."""

    def __init__(self, server: Server) -> None:
        self.conn = http.client.HTTPConnection(*server.address, timeout=DEADLINE)
        self.conn.request("GET", "/__simplewsgi__/events")
        self.response = self.conn.getresponse()
        assert self.response.status == 200

    def next_event(self) -> tuple[str, Any]:
        """(kind, data); ("", None) when the stream ended cleanly (its last chunk came)."""
        kind = ""
        while True:
            line = self.response.fp.readline()
            if line == b"0\r\n" or not line:  # http.client's fp is the raw, chunked stream
                return "", None
            text = line.decode().rstrip("\r\n")
            if text.startswith("event: "):
                kind = text[7:]
            elif text.startswith("data: ") and kind:
                return kind, json.loads(text[6:])

    def ends(self) -> bool:
        """True if the worker says bye (come back now) and then ends the stream cleanly."""
        return self.next_event() == ("bye", {}) and self.next_event() == ("", None)

    def close(self) -> None:
        self.conn.close()


def page(server: Server, conn: http.client.HTTPConnection | None = None) -> tuple[str, int]:
    """(word, pid) of the app's page."""
    own = conn or http.client.HTTPConnection(*server.address, timeout=DEADLINE)
    own.request("GET", "/")
    body = own.getresponse().read().decode()
    if conn is None:
        own.close()
    word, pid = body.split("<body>")[1].split("<")[0].split()
    return word, int(pid)


def start(launch: Callable[..., Server], tmp_path: Path, *args: str) -> Server:
    write(tmp_path / "app.py", APP.replace("{word}", "one"))
    write(tmp_path / "templates" / "page.html", "<p>one</p>\n")
    server = launch("serve", "app:app", "--live", "-p", "0", "--no-keys", *args)
    server.wait_for("Live:")
    return server


def hello(stream: Stream) -> int:
    kind, data = stream.next_event()
    assert kind == "hello", (kind, data)
    return int(data["generation"])


def test_live_implies_reload_and_says_so(launch: Callable[..., Server], tmp_path: Path) -> None:
    server = start(launch, tmp_path)
    banner = server.wait_for("Press Ctrl")
    assert "Reload:" in server.plain and "Live:    open pages refresh" in server.plain, banner
    _, body = server.get("/")
    assert '<script src="/__simplewsgi__/live.js" data-generation="' in body


def test_a_code_change_ends_the_streams_cleanly_and_the_next_worker_is_newer(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    server = start(launch, tmp_path)
    stream = Stream(server)
    first = hello(stream)
    _, old_pid = page(server)
    write(tmp_path / "app.py", APP.replace("{word}", "two"))
    assert stream.ends()  # closed by the old worker: not cut, not held
    server.wait_for(r"reloaded in \d+ ms \(changed: app\.py\)")
    again = Stream(server)
    assert hello(again) > first  # the page's script sees a newer worker: it reloads
    assert page(server)[0] == "two"
    wait_for(lambda: not _alive(old_pid), what="the old worker gone")
    assert "cut" not in server.plain and "did not finish" not in server.plain
    for each in (stream, again):
        each.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stop_does_not_wait_for_open_streams(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    server = start(launch, tmp_path)
    streams = [Stream(server) for _ in range(3)]
    for stream in streams:
        hello(stream)
    assert server.stop(signal.SIGINT) == exits.OK
    for stream in streams:
        assert stream.ends()
        stream.close()
    assert "waiting up to" not in server.plain and "cut " not in server.plain


def test_a_page_reloaded_after_a_swap_meets_the_new_worker(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    """A page reloads when its stream ends. By then the old worker has closed the browser's
    idle keep-alive connections to it (a browser sends the request again on a new one): the
    reload is never answered by the old version."""
    server = start(launch, tmp_path)
    stream = Stream(server)
    hello(stream)
    conn = http.client.HTTPConnection(*server.address, timeout=DEADLINE)
    _, old_pid = page(server, conn)
    write(tmp_path / "app.py", APP.replace("{word}", "two"))
    assert stream.ends()
    stream.close()
    try:
        answered = page(server, conn)
    except (ConnectionError, http.client.HTTPException):
        answered = None  # closed: a browser sends it again on a new connection
    assert answered is None or answered[1] != old_pid
    conn.close()
    assert page(server)[0] == "two"


def test_a_template_change_refreshes_the_pages_without_a_new_worker(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    server = start(launch, tmp_path)
    stream = Stream(server)
    hello(stream)
    _, pid = page(server)
    write(tmp_path / "templates" / "page.html", "<p>two</p>\n")
    assert stream.next_event() == ("reload", {"files": ["page.html"], "changes": 1})
    server.wait_for(r"refreshed open pages \(changed: templates/page\.html\)")
    write(tmp_path / "site.css", "p {}\n")
    assert stream.next_event() == ("css", {"files": ["site.css"], "changes": 2})
    _, body = server.get("/")
    assert 'data-changes="2"' in body  # a page rendered now knows it has seen both
    assert page(server)[1] == pid and "reloaded in" not in server.plain
    stream.close()


def test_a_file_the_reload_patterns_match_restarts_the_app(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    """A template a framework caches goes in --reload-include: the app restarts, then the
    pages reload (a newer worker says hello)."""
    server = start(launch, tmp_path, "--reload-include", "templates/*.html")
    stream = Stream(server)
    first = hello(stream)
    write(tmp_path / "templates" / "page.html", "<p>two</p>\n")
    assert stream.ends()
    server.wait_for(r"reloaded in \d+ ms \(changed: templates/page\.html\)")
    again = Stream(server)
    assert hello(again) > first
    for each in (stream, again):
        each.close()


def test_live_include_replaces_the_default_and_static_dirs_are_watched(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    assets = tmp_path.parent / f"{tmp_path.name}-assets"  # outside the watched app dir
    write(assets / "notes.txt", "one\n")
    write(assets / "site.css", "p {}\n")
    server = start(launch, tmp_path, "--live-include", "*.txt", "--static", f"/assets={assets}")
    stream = Stream(server)
    hello(stream)
    write(assets / "site.css", "p { color: red }\n")  # no longer a live file: nothing
    write(assets / "notes.txt", "two\n")
    assert stream.next_event() == ("reload", {"files": ["notes.txt"], "changes": 1})
    assert "site.css" not in server.plain
    stream.close()


def test_a_failed_reload_tells_the_pages_and_shows_details_to_loopback_only(
    launch: Callable[..., Server],
    tmp_path: Path,
    outside: str,  # noqa: F811
) -> None:
    server = start(launch, tmp_path, "--host", "0.0.0.0")
    port = server.address[1]
    stream = Stream(server)
    hello(stream)
    write(tmp_path / "app.py", APP.replace("{word}", "one") + "\nSECRET = 'hunter2'\nx = (\n")
    assert stream.next_event() == ("failed", {})  # the stream names nothing of the code
    status, _, local = request("127.0.0.1", port, "/__simplewsgi__/error", {"Accept": "text/html"})
    assert status == 500 and "app.py" in local and "SyntaxError" in local
    status, _, remote = request(outside, port, "/__simplewsgi__/error", {"Accept": "text/html"})
    assert status == 500 and "app.py" not in remote and "SyntaxError" not in remote
    rebound = {"Accept": "text/html", "Host": f"attacker.example:{port}"}  # DNS rebinding
    status, _, page_ = request("127.0.0.1", port, "/__simplewsgi__/error", rebound)
    assert status == 500 and "app.py" not in page_ and "SyntaxError" not in page_
    late = Stream(server)  # a page opened (or reconnected) after the failure
    kind, data = late.next_event()
    assert kind == "hello" and data["failed"] is True
    assert page(server)[0] == "one"  # the last good version serves on
    for each in (stream, late):
        each.close()


def test_under_a_root_path_the_script_is_where_the_tag_says(
    launch: Callable[..., Server], tmp_path: Path
) -> None:
    server = start(launch, tmp_path, "--root-path", "/app")
    _, body = server.get("/app/")
    assert '<script src="/__simplewsgi__/live.js"' in body
    status, script = server.get("/__simplewsgi__/live.js")
    assert status == 200 and "EventSource" in script
