"""``--lint`` in memory: for each rule a bad app, the exact sentence said, and the response
byte for byte what the server answers without the checker (Date aside); good apps, werkzeug's
among them, say nothing; each complaint once per rule and route, in bounded memory."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from simplewsgi.middleware import lint as lint_module
from simplewsgi.middleware.lint import Lint, route_of
from tests.helpers import run_in_memory

App = Callable[..., Any]
GET = b"GET /path?query=1 HTTP/1.1\r\nHost: x\r\n\r\n"
HEAD = b"HEAD /path HTTP/1.1\r\nHost: x\r\n\r\n"
POST = b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\na\nb\ncd"
CHUNKED = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
TEXT = [("Content-Type", "text/plain")]
_DATE = re.compile(rb"Date: [^\r]*\r\n")


def linted(app: App, request: bytes = GET) -> list[str]:
    """What the checker said about ``app`` answering ``request``; asserts that the client got
    the same bytes as without the checker."""
    said: list[str] = []
    with_lint, _ = run_in_memory(Lint(app, said.append), request)
    without, _ = run_in_memory(app, request)
    assert _DATE.sub(b"", with_lint) == _DATE.sub(b"", without)
    assert with_lint.startswith(b"HTTP/1.1 ")  # answered, whatever the app did
    return said


def responder(status: Any = "200 OK", headers: Any = None, body: Any = None) -> App:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(status, TEXT if headers is None else headers)
        return [b"ok"] if body is None else body

    return app


def gen(*items: Any, status: str = "200 OK", headers: Any = None) -> App:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(status, TEXT if headers is None else headers)
        yield from items

    return app


def body_first(environ: dict[str, Any], start_response: Any) -> Any:
    yield b"early"
    start_response("200 OK", TEXT)


def never_starts(environ: dict[str, Any], start_response: Any) -> Any:
    return []


def twice(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", TEXT)
    start_response("404 Not Found", TEXT)
    return [b"x"]


def keywords(environ: dict[str, Any], start_response: Any) -> Any:
    start_response(status="200 OK", headers=TEXT)
    return [b"x"]


def bad_exc_info(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("500 Internal Server Error", TEXT, "oops")
    return [b"x"]


def swallows(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", TEXT)
    yield b"part"
    try:
        raise ValueError("late")
    except ValueError:
        with contextlib.suppress(ValueError):  # PEP 3333: must propagate
            start_response("500 Internal Server Error", TEXT, sys.exc_info())
    yield b"more"


def writes(environ: dict[str, Any], start_response: Any) -> Any:
    write = start_response("200 OK", TEXT)
    write(b"old style")
    return []


def writes_str(environ: dict[str, Any], start_response: Any) -> Any:
    write = start_response("200 OK", TEXT)
    write("text")
    return []


def reader(how: Callable[[Any], Any]) -> App:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        how(environ["wsgi.input"])
        start_response("200 OK", TEXT)
        return [b"read"]

    return app


def errors_with(how: Callable[[Any], Any]) -> App:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        how(environ["wsgi.errors"])
        start_response("200 OK", TEXT)
        return [b"x"]

    return app


def close_but_keep(stream: Any) -> None:
    """``stream.close()``, with the server's stderr (a StringIO here) kept open for its log."""
    sys.stderr.close = lambda: None  # type: ignore[method-assign]
    stream.close()


def environ_with(how: Callable[[dict[str, Any]], Any]) -> App:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        how(environ)
        start_response("200 OK", TEXT)
        return [b"x"]

    return app


class HeadersThatFail(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("no headers today")


class MyList(list):  # type: ignore[type-arg]
    pass


R = "lint: GET /path: "
P = "lint: POST /form: "
FIX_READ = "read at most CONTENT_LENGTH bytes (a server may wait for bytes that never come)"
CASES: list[tuple[str, App, bytes, list[str]]] = [
    (
        "status-bytes",
        responder(b"200 OK"),
        GET,
        [
            R + "start_response() got the status as bytes; PEP 3333 requires a native str such "
            "as '200 OK': decode it, b'200 OK'.decode('latin-1')"
        ],
    ),
    (
        "status-int",
        responder(200),
        GET,
        [
            R + "start_response() got the status as int; PEP 3333 requires a native str such as "
            "'200 OK'"
        ],
    ),
    (
        "status-form",
        responder("200"),
        GET,
        [
            R + "the status '200' is not three digits, one space and a reason phrase; PEP 3333 "
            "requires that form, e.g. '404 Not Found'"
        ],
    ),
    (
        "status-no-reason",
        responder("200 "),
        GET,
        [
            R + "the status '200 ' is not three digits, one space and a reason phrase; PEP 3333 "
            "requires that form, e.g. '404 Not Found'"
        ],
    ),
    (
        "status-control",
        responder("200 OK\r\nX-Evil: 1"),
        GET,
        [
            R + "the status '200 OK\\r\\nX-Evil: 1' holds a control character (CR, LF or another); "
            "PEP 3333 forbids them: they would end or split the status line"
        ],
    ),
    (
        "status-1xx",
        responder("103 Early Hints"),
        GET,
        [
            R + "the status '103 Early Hints' is informational (1xx), which cannot end a WSGI "
            "response; send the final status (the server answers Expect: 100-continue)"
        ],
    ),
    (
        "status-range",
        responder("700 Odd"),
        GET,
        [
            R + "the status code in '700 Odd' is outside 100-599 (RFC 9110 §15); clients may "
            "reject it: use a defined code"
        ],
    ),
    (
        "status-latin-1",
        responder("200 Ça va €"),
        GET,
        [
            R + "the status '200 Ça va €' holds '€', which is not latin-1; PEP 3333 requires "
            "latin-1 text: percent-encode it, or use RFC 8187's filename*=UTF-8''"
        ],
    ),
    (
        "headers-tuple",
        responder(headers=(("Content-Type", "text/plain"),)),
        GET,
        [R + "start_response() got headers as a tuple; PEP 3333 requires a list"],
    ),
    (
        "headers-list-subclass",
        responder(headers=MyList(TEXT)),
        GET,
        [
            R + "start_response() got headers as a MyList (a subclass of list); PEP 3333 requires "
            "a list"
        ],
    ),
    (
        "headers-dict",
        responder(headers={"Content-Type": "text/plain"}),
        GET,
        [R + "start_response() got headers as a dict; PEP 3333 requires a list"],
    ),
    (
        "header-item",
        responder(headers=[["Content-Type", "text/plain"]]),
        GET,
        [
            R + "the header ['Content-Type', 'text/plain'] is a list; PEP 3333 requires (name, "
            "value) tuples"
        ],
    ),
    (
        "header-triple",
        responder(headers=[("Content-Type", "text/plain", "x")]),
        GET,
        [
            R + "the header ('Content-Type', 'text/plain', 'x') is a tuple of 3; PEP 3333 requires "
            "(name, value) tuples"
        ],
    ),
    (
        "header-value-int",
        responder(headers=[("Content-Length", 2)]),
        GET,
        [R + "the header ('Content-Length', 2) has an int value; PEP 3333 requires str: str(2)"],
    ),
    (
        "header-name-bytes",
        responder(headers=[(b"Content-Type", "text/plain")]),
        GET,
        [
            R + "the header (b'Content-Type', 'text/plain') has a bytes name; PEP 3333 requires "
            "str: decode it"
        ],
    ),
    (
        "header-name",
        responder(headers=[("Content Type", "text/plain")]),
        GET,
        [
            R + "the header name 'Content Type' is not an RFC 9110 token (letters, digits and "
            "!#$%&'*+-.^_`|~, no space or colon); HTTP cannot send it"
        ],
    ),
    (
        "header-status",
        responder(headers=[("Status", "404 Not Found")]),
        GET,
        [
            R + "a Status header is CGI's way to set the status; in WSGI it is the first argument "
            "of start_response(): remove the header"
        ],
    ),
    (
        "hop-by-hop",
        responder(headers=[("Connection", "keep-alive")]),
        GET,
        [
            R + "the header 'Connection' is hop-by-hop; PEP 3333 leaves the connection to the "
            "server: remove it"
        ],
    ),
    (
        "transfer-encoding",
        responder(headers=[("Transfer-Encoding", "chunked")]),
        GET,
        [
            R + "the header 'Transfer-Encoding' is hop-by-hop; PEP 3333 leaves the connection to "
            "the server: remove it"
        ],
    ),
    (
        "header-control",
        responder(headers=[("Location", "/a\r\nSet-Cookie: x=1")]),
        GET,
        [
            R + "the value of 'Location' holds a control character ('/a\\r\\nSet-Cookie: x=1'); CR "
            "or LF would split the response (header injection): remove them"
        ],
    ),
    (
        "header-latin-1",
        responder(headers=[("Content-Disposition", "attachment; filename=naïve-€.txt")]),
        GET,
        [
            R + "the value of 'Content-Disposition', 'attachment; filename=naïve-€.txt', holds "
            "'€', which is not latin-1; PEP 3333 requires latin-1 text: percent-encode it, or use "
            "RFC 8187's filename*=UTF-8''"
        ],
    ),
    (
        "content-length-twice",
        responder(headers=[("Content-Length", "2"), ("Content-Length", "3")]),
        GET,
        [R + "the headers hold Content-Length '2' and '3'; send one"],
    ),
    (
        "content-length-form",
        responder(headers=[("Content-Length", " 2")]),
        GET,
        [R + "Content-Length ' 2' is not a number of bytes; send digits only, str(len(body))"],
    ),
    (
        "content-length-short",
        responder(headers=[("Content-Length", "10")]),
        GET,
        [
            R + "its Content-Length announced 10 bytes but the body had 2; the client waits for "
            "the rest and the connection is closed: send len(body) or no Content-Length"
        ],
    ),
    (
        "content-length-long",
        gen(b"abc", b"def", headers=[("Content-Length", "4")]),
        GET,
        [
            R + "the body had 6 bytes, more than the 4 its Content-Length announced; the extra "
            "bytes are not sent and the connection is closed: send len(body) or no Content-Length"
        ],
    ),
    (
        "body-str-item",
        responder(body=["text"]),
        GET,
        [
            R + "the body gave a str ('text'); PEP 3333 requires bytes: encode it, "
            "'text'.encode('utf-8')"
        ],
    ),
    (
        "body-bytearray-item",
        gen(b"a", bytearray(b"b")),
        GET,
        [
            R + "the body gave a bytearray (bytearray(b'b')); PEP 3333 requires bytes: convert "
            "it, bytes(data)"
        ],
    ),
    (
        "body-str",
        responder(body="hello"),
        GET,
        [
            R + "the application returned a str ('hello') as its body, which is iterated one "
            "character at a time; return a list of bytes: [body.encode()]"
        ],
    ),
    (
        "body-bytes",
        responder(body=b"hello"),
        GET,
        [
            R + "the application returned bytes (b'hello') as its body, which is iterated one "
            "byte at a time, as ints; return a list: [body]"
        ],
    ),
    (
        "body-none",
        lambda environ, start_response: start_response("200 OK", TEXT) and None,
        GET,
        [
            R + "the application returned None; PEP 3333 requires an iterable of bytes: return "
            "[] for an empty body"
        ],
    ),
    (
        "body-not-iterable",
        responder(body=42),
        GET,
        [
            R + "the application returned an int, which is not iterable; PEP 3333 requires an "
            "iterable of bytes, e.g. [body]"
        ],
    ),
    (
        "body-before-start",
        body_first,
        GET,
        [
            R + "the body's first bytes came before start_response() was called; PEP 3333: call "
            "start_response() before returning or yielding the body"
        ],
    ),
    (
        "no-start-response",
        never_starts,
        GET,
        [
            R + "the application never called start_response(); PEP 3333 requires it, once, "
            "before the body ends"
        ],
    ),
    (
        "no-start-response-list",
        lambda environ, start_response: [b"body"],
        GET,
        [
            R + "the application never called start_response(); PEP 3333 requires it, once, "
            "before the body ends"
        ],
    ),
    (
        "start-response-twice",
        twice,
        GET,
        [
            R + "start_response() was called a second time without exc_info; PEP 3333 allows "
            "that only from an error handler, passing sys.exc_info()"
        ],
    ),
    (
        "start-response-keywords",
        keywords,
        GET,
        [
            R + "start_response() was called with keyword arguments (status, headers); PEP 3333 "
            "names no parameters: pass status, headers and exc_info by position"
        ],
    ),
    (
        "start-response-arguments",
        lambda environ, start_response: start_response("200 OK") or [b"x"],
        GET,
        [
            R + "start_response() got 1 argument; PEP 3333: start_response(status, headers) or "
            "(status, headers, exc_info)"
        ],
    ),
    (
        "exc-info-form",
        bad_exc_info,
        GET,
        [
            R + "start_response() got exc_info 'oops'; PEP 3333 requires sys.exc_info()'s (type, "
            "value, traceback), from inside the except block"
        ],
    ),
    (
        "exc-info-swallowed",
        swallows,
        GET,
        [
            R + "start_response() re-raised the ValueError given as exc_info (the headers were "
            "already sent) and the application went on; PEP 3333: let it propagate, the server "
            "ends the response"
        ],
    ),
    (
        "write",
        writes,
        GET,
        [
            R + "the application used the write() callable of start_response(); PEP 3333 keeps "
            "it only for old frameworks: return or yield the body instead"
        ],
    ),
    (
        "write-str",
        writes_str,
        GET,
        [
            R + "the application used the write() callable of start_response(); PEP 3333 keeps "
            "it only for old frameworks: return or yield the body instead",
            R + "write() gave a str ('text'); PEP 3333 requires bytes: encode it, "
            "'text'.encode('utf-8')",
        ],
    ),
    (
        "no-body-status",
        responder("204 No Content", body=[b"gone"]),
        GET,
        [
            R + "a 204 response has no body (RFC 9110), yet the application gave 4 bytes; the "
            "server drops them: return []"
        ],
    ),
    (
        "input-no-body",
        reader(lambda stream: stream.read()),
        GET,
        [
            R + "wsgi.input was read (read) though the request has no body (CONTENT_LENGTH is "
            "absent or 0); PEP 3333: check CONTENT_LENGTH first, a server need not answer the "
            "read"
        ],
    ),
    (
        "input-beyond",
        reader(lambda stream: stream.read(65536)),
        POST,
        [
            P + "wsgi.input.read(65536) asked for more than the 6 bytes left of CONTENT_LENGTH 6; "
            "PEP 3333: " + FIX_READ
        ],
    ),
    (
        "input-beyond-after-all",
        reader(lambda stream: (stream.read(6), stream.read())),
        POST,
        [
            P + "wsgi.input.read() asked for more than the 0 bytes left of CONTENT_LENGTH 6; "
            "PEP 3333: " + FIX_READ
        ],
    ),
    (
        "input-readline-at-end",
        reader(lambda stream: [stream.readline() for _ in range(4)]),
        POST,
        [
            P + "wsgi.input.readline() asked for more than the 0 bytes left of CONTENT_LENGTH 6; "
            "PEP 3333: " + FIX_READ
        ],
    ),
    (
        "input-iterated",
        reader(list),
        POST,
        [
            P + "wsgi.input was read to its end by a for loop over it, one read past "
            "CONTENT_LENGTH 6; PEP 3333: " + FIX_READ + ", then split the lines"
        ],
    ),
    (
        "input-readlines",
        reader(lambda stream: stream.readlines()),
        POST,
        [
            P + "wsgi.input was read to its end by readlines(), one read past CONTENT_LENGTH 6; "
            "PEP 3333: " + FIX_READ + ", then split the lines"
        ],
    ),
    (
        "input-close",
        reader(lambda stream: stream.close()),
        GET,
        [
            R + "the application called wsgi.input.close(); the stream is the server's, which "
            "closes it: PEP 3333 has no close() on it"
        ],
    ),
    (
        "errors-close",
        errors_with(close_but_keep),
        GET,
        [
            R + "the application called wsgi.errors.close(); the stream is the server's, which "
            "closes it: PEP 3333 has no close() on it"
        ],
    ),
    (
        "errors-bytes",
        errors_with(lambda stream: stream.write(b"oops\n")),
        GET,
        [
            R + "wsgi.errors.write() got a bytes (b'oops\\n'); PEP 3333 makes it a text stream: "
            "write str: decode it first"
        ],
    ),
    (
        "environ-deleted",
        environ_with(lambda environ: environ.pop("wsgi.version")),
        GET,
        [
            R + "the application deleted environ['wsgi.version']; the wsgi.* keys are the "
            "server's, which PEP 3333 requires: leave them (copy the environ to change it for a "
            "sub-application)"
        ],
    ),
    (
        "environ-changed",
        environ_with(lambda environ: environ.update({"wsgi.multithread": False})),
        GET,
        [
            R + "the application changed environ['wsgi.multithread'] from True to False; it "
            "describes the server: leave it as it is"
        ],
    ),
    (
        "environ-url-scheme",
        environ_with(lambda environ: environ.update({"wsgi.url_scheme": "HTTP"})),
        GET,
        [
            R + "the application set environ['wsgi.url_scheme'] to 'HTTP'; PEP 3333: 'http' or "
            "'https'"
        ],
    ),
    (
        "environ-input",
        environ_with(lambda environ: environ.update({"wsgi.input": b"body"})),
        GET,
        [
            R + "the application replaced wsgi.input with a bytes, which lacks read(), "
            "readline(), readlines() or iteration that PEP 3333 requires"
        ],
    ),
    (
        "lint-failed",
        responder(headers=HeadersThatFail(TEXT)),
        GET,
        [R + "the checker failed (RuntimeError: no headers today); this request went on unchecked"],
    ),
]


@pytest.mark.parametrize(
    ("app", "request_bytes", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_rule_says_its_sentence_and_the_answer_is_the_servers(
    app: App, request_bytes: bytes, expected: list[str]
) -> None:
    assert linted(app, request_bytes) == expected


def rules_in_the_source() -> set[str]:
    """Every rule name the checker's modules write, the few made from parts spelled out."""
    source = "".join(
        (Path(lint_module.__file__).parent / name).read_text(encoding="utf-8")
        for name in ("lint.py", "lintrules.py", "lintinput.py")
    )
    names = set(re.findall(r'Complaint\(\s*"([a-z0-9-]+)"', source))
    names |= {"body-type", "write-type"}  # "body-type" if ... else "write-type"
    names |= {"header-name-type", "header-value-type"}  # f"header-{what}-type"
    names |= {"wsgi-input-close", "wsgi-errors-close"}  # f"{name...}-close"
    return names


def test_every_rule_has_a_case(monkeypatch: pytest.MonkeyPatch) -> None:
    rules: set[str] = set()
    say = Lint.say

    def recording(self: Lint, route: str, complaints: list[Any]) -> None:
        rules.update(complaint.rule for complaint in complaints)
        say(self, route, complaints)

    monkeypatch.setattr(Lint, "say", recording)
    for _, app, request_bytes, _ in CASES:
        run_in_memory(Lint(app, lambda line: None), request_bytes)
    expected = rules_in_the_source()
    assert len(expected) > 40
    assert rules == expected


# --- what is not a complaint -------------------------------------------------------------


def exact_reader(environ: dict[str, Any], start_response: Any) -> Any:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [*TEXT, ("Content-Length", str(len(body)))])
    return [body]


def whole_reader(environ: dict[str, Any], start_response: Any) -> Any:
    body = environ["wsgi.input"].read() if environ.get("CONTENT_LENGTH") else b""
    start_response("200 OK", TEXT)
    return [body]


def line_reader(environ: dict[str, Any], start_response: Any) -> Any:
    stream, left, lines = environ["wsgi.input"], int(environ["CONTENT_LENGTH"]), []
    while left:
        lines.append(stream.readline(left))
        left -= len(lines[-1])
    start_response("200 OK", TEXT)
    return lines


def chunked_reader(environ: dict[str, Any], start_response: Any) -> Any:
    stream = environ["wsgi.input"]
    body = stream.read(1) + b"".join(stream) + stream.read()  # the end is the only way
    start_response("200 OK", TEXT)
    return [body]


def error_handler(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", TEXT)
    try:
        raise KeyError("missing")
    except KeyError:
        start_response("500 Internal Server Error", TEXT, sys.exc_info())
    return [b"error page"]


def head_with_body(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", [*TEXT, ("Content-Length", "5")])
    return [] if environ["REQUEST_METHOD"] == "HEAD" and environ["QUERY_STRING"] else [b"hello"]


def django_like(environ: dict[str, Any], start_response: Any) -> Any:
    body = b"<p>hi</p>"
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Set-Cookie", " sessionid=abc; HttpOnly; Path=/"),  # Django's leading space
            ("X-Frame-Options", "DENY"),
        ],
    )
    return [body]


def file_response(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", [*TEXT, ("Content-Length", "5")])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"12345"))


def proxy_fixed(environ: dict[str, Any], start_response: Any) -> Any:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)  # buffered for a second reader
    environ["wsgi.url_scheme"] = "https"  # as werkzeug's ProxyFix does
    environ["SCRIPT_NAME"] = "/mounted"
    del environ["wsgi.file_wrapper"]  # optional: a layer may take it away
    start_response("200 OK", TEXT)
    return [environ["wsgi.input"].read()]


def not_modified(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("304 Not Modified", [("ETag", '"v1"'), ("Content-Length", "120")])
    return []


GOOD: list[tuple[str, App, bytes]] = [
    ("list", responder(), GET),
    ("generator-with-length", gen(b"ab", b"", b"c", headers=[("Content-Length", "3")]), GET),
    ("empty-items-before-start", gen(b"", b"x"), GET),
    ("head-with-body", head_with_body, HEAD),
    ("head-without-body", head_with_body, b"HEAD /?short HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("not-modified", not_modified, GET),
    ("error-handler-before-the-body", error_handler, GET),
    ("exact-read", exact_reader, POST),
    ("read-everything-once", whole_reader, POST),
    ("readline-with-size", line_reader, POST),
    ("chunked-read-to-its-end", chunked_reader, CHUNKED),
    ("file-wrapper", file_response, GET),
    ("django-like-headers", django_like, GET),
    ("buffered-input-and-proxy-fix", proxy_fixed, POST),
]


@pytest.mark.parametrize(("app", "request_bytes"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD])
def test_good_apps_get_no_complaint(app: App, request_bytes: bytes) -> None:
    assert linted(app, request_bytes) == []


def werkzeug_app() -> App:
    from werkzeug.wrappers import Request, Response

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        if request.path == "/redirect":
            return Response(status=302, headers={"Location": "/"})
        if request.path == "/stream":
            return Response((part for part in (b"a", b"b")), mimetype="text/plain")
        data = {
            "form": dict(request.form),
            "files": {name: f.read().decode() for name, f in request.files.items()},
            "json": request.get_json(silent=True),
            "raw": len(request.get_data()),
        }
        response = Response(repr(data), mimetype="text/plain")
        response.set_cookie("seen", "yes")
        return response

    return app  # type: ignore[no-any-return]


MULTIPART = (
    b'--XX\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nfile body\r\n"
    b'--XX\r\nContent-Disposition: form-data; name="n"\r\n\r\nvalue\r\n--XX--\r\n'
)


def post(path: str, content_type: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@pytest.mark.parametrize(
    "request_bytes",
    [
        GET,
        HEAD,
        b"GET /redirect HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
        post("/form", "application/x-www-form-urlencoded", b"a=1&b=%C3%A9"),
        post("/upload", "multipart/form-data; boundary=XX", MULTIPART),
        post("/json", "application/json", b'{"k": [1, 2]}'),
        CHUNKED,
    ],
    ids=["get", "head", "redirect", "stream", "form", "multipart", "json", "chunked"],
)
def test_a_werkzeug_app_gets_no_complaint_and_the_same_data(request_bytes: bytes) -> None:
    app = werkzeug_app()
    assert linted(app, request_bytes) == []
    said: list[str] = []
    answer, _ = run_in_memory(Lint(app, said.append), request_bytes)
    if b"multipart" in request_bytes:
        assert b"'files': {'f': 'file body'}" in answer and b"'n': 'value'" in answer
    if b"x-www-form" in request_bytes:
        assert b"'form': {'a': '1', 'b': '\\xc3\\xa9'}" in answer or b"'b': '\xc3\xa9'" in answer


# --- once per rule and route; bounded memory ---------------------------------------------


def test_a_complaint_is_said_once_per_route_and_again_for_another_route() -> None:
    said: list[str] = []
    app = Lint(responder(headers=(("Content-Type", "text/plain"),)), said.append)
    for target in ("/a", "/a?x=1", "/a?x=2", "/b", "/b"):
        run_in_memory(app, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    run_in_memory(app, b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    sentence = "start_response() got headers as a tuple; PEP 3333 requires a list"
    assert said == [f"lint: {route}: {sentence}" for route in ("GET /a", "GET /b", "POST /a")]


def test_each_rule_is_said_once_per_route_even_within_one_request() -> None:
    said: list[str] = []
    run_in_memory(Lint(gen("a", "b", b"c", "d"), said.append), GET)
    run_in_memory(Lint(gen("a", "b", b"c", "d"), said.append), GET)  # a new layer: said again
    assert len(said) == 2 and said[0] == said[1]
    assert said[0].startswith(R + "the body gave a str ('a')")


def test_what_was_said_is_remembered_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint_module, "MAX_REMEMBERED", 3)
    said: list[str] = []
    app = Lint(responder(headers=(("Content-Type", "text/plain"),)), said.append)
    for n in range(10):
        run_in_memory(app, f"GET /item/{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert len(app._said) <= 3
    assert len(said) == 10
    run_in_memory(app, b"GET /item/9 HTTP/1.1\r\nHost: x\r\n\r\n")  # still remembered
    run_in_memory(app, b"GET /item/0 HTTP/1.1\r\nHost: x\r\n\r\n")  # forgotten: said again
    assert len(said) == 11 and said[-1].startswith("lint: GET /item/0: ")


def test_the_route_is_printable_bounded_and_includes_the_root_path() -> None:
    assert route_of({"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/app", "PATH_INFO": "/x"}) == (
        "GET /app/x"
    )
    utf8 = "/café".encode().decode("latin-1")  # as the server decodes a request's path
    assert route_of({"REQUEST_METHOD": "GET", "PATH_INFO": utf8}) == "GET /café"
    assert route_of({"REQUEST_METHOD": "GET", "PATH_INFO": "/a\x1b[31m\n"}) == (
        "GET /a\\x1b[31m\\x0a"
    )
    long = route_of({"REQUEST_METHOD": "GET", "PATH_INFO": "/" + "x" * 500})
    assert len(long) == len("GET ") + lint_module.MAX_ROUTE and long.endswith("...")
    assert route_of({"REQUEST_METHOD": "GET", "PATH_INFO": ""}) == "GET /"


# --- what reaches the server --------------------------------------------------------------


def test_a_list_body_and_a_file_wrapper_reach_the_server_as_themselves() -> None:
    from simplewsgi.http.body import FileWrapper

    body = [b"one block"]
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.file_wrapper": FileWrapper}
    seen: list[Any] = []
    start = lambda status, headers, exc_info=None: seen.append((status, headers))  # noqa: E731
    assert Lint(responder(headers=TEXT, body=body), print)(dict(environ), start) is body
    wrapped = FileWrapper(io.BytesIO(b"x"))
    assert Lint(responder(body=wrapped), print)(dict(environ), start) is wrapped
    assert seen[0][1] is TEXT  # the app's own list


def test_the_apps_close_is_called_through_the_checker() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Any:
            return iter([b"x"])

        def close(self) -> None:
            closed.append(True)

    said: list[str] = []
    run_in_memory(Lint(responder(body=Body()), said.append), GET)
    assert closed == [True] and said == []


def test_input_terminated_is_kept_for_a_chunked_body_only() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        seen[environ["REQUEST_METHOD"]] = environ.get("wsgi.input_terminated")
        start_response("200 OK", TEXT)
        return [b""]

    run_in_memory(Lint(app, print), CHUNKED.replace(b"POST", b"PUT"))
    run_in_memory(Lint(app, print), POST)
    assert seen == {"PUT": True, "POST": None}


def raises(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", TEXT)
    raise LookupError("the app's own bug")


def test_an_exception_of_the_app_goes_to_the_server_unchanged() -> None:
    assert linted(raises) == []
    said: list[str] = []
    _, log = run_in_memory(Lint(raises, said.append), GET)
    assert "LookupError: the app's own bug" in log and said == []


def test_the_stream_observers_can_be_copied() -> None:
    import copy

    from simplewsgi.middleware.lintinput import ErrorsObserver, InputObserver

    stream = InputObserver(io.BytesIO(b"abc"), 3, lambda *args: None)
    assert copy.copy(stream).read(3) == b"abc"
    errors = ErrorsObserver(io.StringIO(), lambda *args: None)
    assert copy.copy(errors).write("x") == 1


def test_many_threads_on_one_route_say_it_once() -> None:
    import threading

    from tests.helpers import connect, serving

    said: list[str] = []
    app = Lint(gen("text"), said.append)  # a str item: the server cuts the connection
    with serving(app) as server:

        def client() -> None:
            with connect(server) as sock:
                sock.sendall(b"GET /same HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while sock.recv(4096):
                    pass

        threads = [threading.Thread(target=client) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert said == ["lint: GET /same: the body gave a str ('text'); PEP 3333 requires bytes: "
                    "encode it, 'text'.encode('utf-8')"]  # fmt: skip


class Loud(list):  # type: ignore[type-arg]
    """A body whose own __iter__ counts its calls."""

    calls = 0

    def __iter__(self) -> Any:
        Loud.calls += 1
        return super().__iter__()


def test_a_list_subclass_body_is_iterated_by_the_server_only() -> None:
    app = responder(body=Loud([b"a", b"b"]))
    run_in_memory(app, GET)
    alone, Loud.calls = Loud.calls, 0
    assert linted(app, GET) == [] and Loud.calls == 2 * alone  # with and without the checker


class Evil(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("line one\n\x1b[2Jline two " + "x" * 100)


def test_a_complaint_is_one_line_without_terminal_codes() -> None:
    (line,) = linted(responder(headers=Evil(TEXT)))
    assert "\n" not in line and "\x1b" not in line
    assert line == (
        R
        + "the checker failed (RuntimeError: line one\\x0a\\x1b[2Jline two "
        + "x" * 35
        + "...); this request went on unchecked"
    )


@pytest.mark.parametrize(
    "app",
    [
        responder(headers=[*TEXT, ("Content-Length", "3")], body=[bytearray(b"abc")]),
        gen(bytearray(b"abc"), headers=[*TEXT, ("Content-Length", "3")]),
    ],
    ids=["list", "generator"],
)
def test_a_bytearray_body_is_one_complaint_not_a_length_too(app: App) -> None:
    """Its bytes count: the announced length is right, only the type is wrong."""
    said = linted(app)
    assert len(said) == 1 and "gave a bytearray" in said[0], said
