"""The --live layer and its hub, on their own: which responses get the script and how, the
reserved paths, the event stream (its hello, its events, its end at close, its cap), and the
access log that leaves them out. The whole loop through the command and a browser is in
test_live_cli.py and test_live_browser.py."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterable
from typing import Any, Callable, Optional

import pytest

from simplewsgi.accesslog import handler_class
from simplewsgi.middleware import livehub
from simplewsgi.middleware.debugpage import CSP
from simplewsgi.middleware.live import DEBUG_PAGE_LIVE_CSP, LiveReload
from simplewsgi.middleware.livehub import LiveHub
from tests import commandline
from tests.helpers import DEADLINE, run_in_memory, serving, wait_for

PAGE = b"<!DOCTYPE html><html><body><h1>hi</h1></body></html>"
TAG = b'<script src="/__simplewsgi__/live.js" data-generation="7" data-changes="0"></script>'


def html_app(
    body: bytes = PAGE, headers: Optional[list[tuple[str, str]]] = None, status: str = "200 OK"
) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        sent = headers if headers is not None else [("Content-Type", "text/html; charset=utf-8")]
        if not any(k.lower() == "content-length" for k, _ in sent):
            sent = [*sent, ("Content-Length", str(len(body)))]
        start_response(status, sent)
        return [body]

    return app


def fetch(app: Any, request: bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") -> tuple[str, bytes]:
    """(head, body) of ``app`` behind the live layer (generation 7), in memory."""
    raw, _ = run_in_memory(LiveReload(app, LiveHub(7)), request)
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def header(head: str, name: str) -> Optional[str]:
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.lower() == name.lower():
            return value.strip()
    return None


def test_the_script_goes_before_the_last_body_end_and_the_length_follows() -> None:
    body = b"<html><body><p>a </body> in text</p></BODY></html>"
    app = html_app(body, [("Content-Type", "text/html"), ("ETag", '"x"'), ("Last-Modified", "x")])
    head, got = fetch(app)
    assert got == body.replace(b"</BODY>", TAG + b"</BODY>")
    assert header(head, "Content-Length") == str(len(got))
    assert header(head, "ETag") is None and header(head, "Last-Modified") is None


@pytest.mark.parametrize(
    "headers, status",
    [
        ([("Content-Type", "text/plain")], "200 OK"),
        ([("Content-Type", "text/html"), ("Content-Encoding", "gzip")], "200 OK"),
        ([("Content-Type", "text/html"), ("Content-Disposition", "attachment")], "200 OK"),
        ([("Content-Type", "application/xhtml+xml")], "200 OK"),
        ([("Content-Type", "text/html")], "206 Partial Content"),
        ([("Content-Type", "text/html"), ("ETag", '"x"')], "304 Not Modified"),
    ],
)
def test_other_responses_pass_untouched(headers: list[tuple[str, str]], status: str) -> None:
    body = b"" if status.startswith("304") else PAGE
    head, got = fetch(html_app(body, headers, status))
    assert got == body
    assert header(head, "ETag") == ('"x"' if status.startswith("304") else None)


def test_a_page_without_body_end_passes_untouched_and_head_says_the_gets_length() -> None:
    assert fetch(html_app(b"<h1>no end tag</h1>"))[1] == b"<h1>no end tag</h1>"
    head, got = fetch(html_app(), b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got == b"" and header(head, "Content-Length") == str(len(PAGE) + len(TAG))


def test_a_streamed_page_is_passed_on_as_it_comes() -> None:
    """No Content-Length: streamed. The first block must reach the client before the app
    makes the next one, so nothing is held back."""
    sent_first = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        yield b"<html><body>first"
        assert sent_first.wait(DEADLINE), "the first block was held back"
        yield b" second</body></html>"

    with serving(LiveReload(app, LiveHub(1))) as server:
        conn = socket.create_connection(server.server_address[:2], timeout=DEADLINE)
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        seen = b""
        while b"first" not in seen:
            seen += conn.recv(4096)
        sent_first.set()
        while not seen.endswith(b"0\r\n\r\n"):
            seen += conn.recv(4096)
        conn.close()
    assert b"script" not in seen and b" second</body>" in seen


def test_a_generator_app_that_starts_late_is_injected_and_write_counts() -> None:
    def late(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "30")])
        yield b"<html><body>late</body></html>"

    assert TAG in fetch(late)[1]

    def writer(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "26")])
        write(b"<html><body>written")
        return [b"</body>"]

    assert fetch(writer)[1] == b"<html><body>written" + TAG + b"</body>"


def test_a_body_end_inside_a_script_or_a_comment_is_text() -> None:
    tail = b"<script>var t = '</body>';</script><!-- </body> --></html>"
    body = b"<html><body><p>x</p></body>" + tail
    assert fetch(html_app(body))[1] == b"<html><body><p>x</p>" + TAG + b"</body>" + tail


def test_a_page_whose_length_is_wrong_is_left_for_the_server_to_report() -> None:
    for declared in ("5", "1000"):
        app = html_app(PAGE, [("Content-Type", "text/html"), ("Content-Length", declared)])
        raw, log = run_in_memory(LiveReload(app, LiveHub(7)), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert TAG not in raw and "Content-Length" in log and declared in log, log


def test_a_str_body_is_left_for_the_server_to_report() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[Any]:
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "4")])
        return ["text"]

    raw, log = run_in_memory(LiveReload(app, LiveHub(7)), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 500") and "must be bytes" in log, log

    def writer(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "4")])("text")
        return []

    raw, log = run_in_memory(LiveReload(writer, LiveHub(7)), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 500") and "must be bytes" in log, log


def test_head_and_ranges_say_nothing_the_injected_page_would_contradict() -> None:
    sent = [("Content-Type", "text/html"), ("ETag", '"e"'), ("Accept-Ranges", "bytes")]
    own_head = html_app(b"", [*sent, ("Content-Length", str(len(PAGE)))])  # as the static layer
    head, _ = fetch(own_head, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    for name in ("ETag", "Accept-Ranges"):
        assert header(head, name) is None, head
    assert header(head, "Content-Length") is None, head
    head, body = fetch(html_app(headers=sent))
    assert TAG in body and header(head, "Accept-Ranges") is None


def test_the_tag_is_where_the_layer_is_even_when_the_app_moves_script_name() -> None:
    def mounted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["SCRIPT_NAME"] += "/blog"  # as a dispatcher (or --root-path) does, in place
        return html_app()(environ, start_response)

    assert TAG in fetch(mounted)[1]


def test_the_app_iterable_is_closed_once() -> None:
    closed = []

    class Body:
        def __iter__(self) -> Any:
            return iter([PAGE])

        def close(self) -> None:
            closed.append(1)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE)))]
        )
        return Body()

    assert TAG in fetch(app)[1]
    assert closed == [1]


def test_the_debug_page_policy_lets_our_script_run_and_only_then() -> None:
    head, body = fetch(
        html_app(headers=[("Content-Type", "text/html"), ("Content-Security-Policy", CSP)])
    )
    assert TAG in body and header(head, "Content-Security-Policy") == DEBUG_PAGE_LIVE_CSP
    other = "default-src 'none'"
    head, _ = fetch(
        html_app(headers=[("Content-Type", "text/html"), ("Content-Security-Policy", other)])
    )
    assert header(head, "Content-Security-Policy") == other  # an app's own policy is its own


def test_reserved_paths_never_reach_the_app() -> None:
    reached = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        reached.append(environ["PATH_INFO"])
        return html_app()(environ, start_response)

    head, body = fetch(app, b"GET /__simplewsgi__/live.js HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith("HTTP/1.1 200") and b"EventSource" in body
    assert header(head, "Content-Type") == "text/javascript; charset=utf-8"
    for path, status in (("error", "404"), ("nothing", "404")):
        head, _ = fetch(app, f"GET /__simplewsgi__/{path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert head.split()[1] == status
    head, _ = fetch(
        app, b"POST /__simplewsgi__/events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    assert head.split()[1] == "405" and header(head, "Allow") == "GET, HEAD"
    assert reached == []


class Stream:
    """An event stream read over a real socket, one event at a time."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.conn = http.client.HTTPConnection(*address, timeout=DEADLINE)
        self.conn.request("GET", "/__simplewsgi__/events")
        self.response = self.conn.getresponse()

    def next_event(self) -> tuple[str, str]:
        kind = data = ""
        while True:
            line = self.response.fp.readline()  # the raw, chunked stream
            if line == b"0\r\n" or not line:
                return "", ""  # the stream ended
            text = line.decode().rstrip("\r\n")
            if text.startswith("event: "):
                kind = text[7:]
            elif text.startswith("data: "):
                data = text[6:]
            elif text == "" and kind:
                return kind, data

    def close(self) -> None:
        self.conn.close()


def live_server(hub: LiveHub) -> Any:
    return serving(LiveReload(html_app(), hub))


def test_a_stream_says_hello_then_what_changed_and_ends_at_close() -> None:
    reports: list[dict[str, Any]] = []
    hub = LiveHub(41, lambda report: reports.append(report) or html_app(b"<p>broken</p>"))
    with live_server(hub) as server:
        stream = Stream(server.server_address[:2])
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        assert stream.next_event() == ("hello", '{"generation": 41, "changes": 0, "failed": false}')
        wait_for(lambda: hub.streams == 1)
        hub.swap_css(["site.css"])
        assert stream.next_event() == ("css", '{"files": ["site.css"], "changes": 1}')
        hub.reload(["index.html"])
        assert stream.next_event() == ("reload", '{"files": ["index.html"], "changes": 2}')
        hub.failed({"message": "SyntaxError: x"})
        assert stream.next_event() == ("failed", "{}")  # no details: anyone may open a stream
        assert reports == [{"message": "SyntaxError: x"}]
        status, body = get(server, "/__simplewsgi__/error")
        assert (status, body) == (200, "<p>broken</p>")
        late = Stream(server.server_address[:2])  # a page opened after the failure
        assert late.next_event() == ("hello", '{"generation": 41, "changes": 2, "failed": true}')
        hub.close()
        for each in (stream, late):  # the last word, then the end
            assert each.next_event() == ("bye", "{}") and each.next_event() == ("", "")
        assert hub.streams == 0
        again = Stream(server.server_address[:2])  # closed: come back later, at once
        assert again.response.read() == b"retry: %d\n\n" % livehub.RETRY_MS
        for each in (stream, late, again):
            each.close()


def get(server: Any, path: str) -> tuple[int, str]:
    return commandline.get(
        http.client.HTTPConnection(*server.server_address[:2], timeout=DEADLINE), path
    )


def test_a_head_request_opens_no_stream() -> None:
    hub = LiveHub(1)
    with live_server(hub) as server:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=DEADLINE)
        conn.request("HEAD", "/__simplewsgi__/events")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b""
        assert hub.streams == 0
        conn.close()


def test_streams_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(livehub, "MAX_STREAMS", 2)
    monkeypatch.setattr(livehub, "PING_SECONDS", 0.05)  # a closed client is noticed soon
    hub = LiveHub(1)
    with live_server(hub) as server:
        streams = [Stream(server.server_address[:2]) for _ in range(2)]
        for stream in streams:
            assert stream.next_event()[0] == "hello"
        assert get(server, "/__simplewsgi__/events") == (503, "too many event streams\n")
        streams.pop().close()
        wait_for(lambda: hub.streams == 1, what="a stream released")
        third = Stream(server.server_address[:2])
        assert third.next_event()[0] == "hello"
        hub.close()
        for stream in [*streams, third]:
            stream.close()


def test_one_client_cannot_take_every_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(livehub, "MAX_STREAMS_PER_PEER", 2)
    hub = LiveHub(1)
    assert hub.open("192.0.2.9") and hub.open("192.0.2.9")
    assert hub.open("192.0.2.9") is None  # this client has its share
    assert hub.open("127.0.0.1") is not None  # the developer's browser still gets one
    hub.close(wait=0)


def test_a_client_gone_releases_its_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(livehub, "PING_SECONDS", 0.05)  # the ping finds the dead client
    hub = LiveHub(1)
    with live_server(hub) as server:
        stream = Stream(server.server_address[:2])
        assert stream.next_event()[0] == "hello"
        stream.close()
        wait_for(lambda: hub.streams == 0, what="the stream released after its client left")
        hub.close()


def test_the_access_log_leaves_out_the_live_requests(stderr: Any) -> None:
    handler = handler_class(False, True, keep_environ=True)
    hub = LiveHub(1)
    with serving(LiveReload(html_app(), hub), handler) as server:
        assert get(server, "/__simplewsgi__/live.js")[0] == 200
        assert get(server, "/page")[0] == 200
        hub.close()
    log = wait_for(lambda: "/page" in stderr.getvalue() and stderr.getvalue())
    assert "__simplewsgi__" not in log
