"""``--lint``: the app behind a PEP 3333 checker that reports, in plain sentences, what the
app does wrong (:mod:`.lintrules` words each rule), and lets the request go on.

Rules of this layer:
- It observes and reports; it never raises for a complaint. What the app gives reaches the
  server unchanged: the same status and header list, a list body stays the same list (one
  block, so it still gets a Content-Length), the server's file wrapper stays itself (sendfile),
  any other iterable is iterated item by item as the server would. Where the server refuses a
  value (a tuple of headers, a str in the body), the server's own answer stands.
- A failure of the checker itself is reported and the request goes on unchecked.
- It is the layer closest to the app (``stack.wrap``), so it sees the app's own values, not
  those of the other layers.
- Each complaint is said once per rule and route (method and path, without the query). The
  (rule, route) pairs already said are bounded (:data:`MAX_REMEMBERED`, the oldest forgotten
  first): a crawler walking ``/item/1`` .. ``/item/N`` costs a fixed amount of memory.
- ``wsgi.input`` is read through an observer that counts bytes against ``CONTENT_LENGTH``.
  The server's ``wsgi.input_terminated`` (read to the end: it is safe) is hidden from a
  request that is not chunked: werkzeug then reads such a body through its own limit, as it
  would on a plain PEP 3333 server, and the same bytes; without that, every Flask upload would
  be an over-read. Only the app's own reads past ``CONTENT_LENGTH`` are reported.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Optional

from simplewsgi.http.text import CONTROL_CHAR_ESCAPES
from simplewsgi.middleware.lintinput import ErrorsObserver, InputObserver, wsgi_keys_changed
from simplewsgi.middleware.lintrules import (
    NO_BODY_CODES,
    Complaint,
    check_body,
    check_body_item,
    check_headers,
    check_status,
    cut,
    declared_length,
    length_mismatch,
    shown,
    status_code,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# (rule, route) pairs remembered as already said; past this, the oldest is forgotten.
MAX_REMEMBERED = 1024
# A route is shown, and remembered, up to this many characters of its path.
MAX_ROUTE = 120
PREFIX = "lint"
_BYTES_LIKE = (bytes, bytearray)  # what the body is counted in (a bytearray is said wrong too)

Report = Callable[[str], None]


class Lint:
    """The WSGI layer. ``report`` takes one line (the console's ``warn``)."""

    def __init__(self, app: WSGIApplication, report: Report) -> None:
        self.app = app
        self.report = report
        self._said: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return _Exchange(self, environ, start_response).run()

    def say(self, route: str, complaints: list[Complaint]) -> None:
        for complaint in complaints:
            key = (complaint.rule, route)
            with self._lock:
                if key in self._said:
                    continue
                self._said[key] = None
                if len(self._said) > MAX_REMEMBERED:
                    self._said.popitem(last=False)
            line = f"{PREFIX}: {route}: {complaint.sentence}"
            self.report(line.translate(CONTROL_CHAR_ESCAPES))  # one line, no terminal codes


def to_stderr(line: str) -> None:
    """The report of a layer built without a console (``stack.wrap`` called by a script)."""
    sys.stderr.write(f"Warning: {line}\n")


def route_of(environ: WSGIEnvironment) -> str:
    """``GET /path`` as the client asked (root path included, no query), printable, bounded."""
    method = str(environ.get("REQUEST_METHOD", "?"))
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    with contextlib.suppress(UnicodeError):  # WSGI strings are latin-1: show UTF-8 as typed
        path = path.encode("latin-1").decode("utf-8")
    if len(path) > MAX_ROUTE:
        path = path[: MAX_ROUTE - 3] + "..."
    return f"{method} {path or '/'}".translate(CONTROL_CHAR_ESCAPES)


class _Exchange:
    """One request: the start_response, write and body observers, and what they saw."""

    def __init__(self, lint: Lint, environ: WSGIEnvironment, start_response: StartResponse) -> None:
        self.lint = lint
        self.environ = environ
        self.server_start_response = start_response
        self.route = route_of(environ)
        self.calls = 0  # of start_response
        self.status: object = None
        self.headers: object = None
        self.sent = 0  # bytes of body the app gave, by write() and the iterable
        self.reraised: Optional[BaseException] = None  # start_response re-raised exc_info
        self.wrote = False
        self.head = environ.get("REQUEST_METHOD") == "HEAD"
        self.wsgi_keys: dict[str, Any] = {}

    def check(self, function: Callable[..., list[Complaint]], *args: Any) -> None:
        """Run one check; its complaints are said, its own failure too, never raised."""
        try:
            complaints = function(*args)
        except Exception as error:
            complaints = [
                Complaint(
                    "lint-failed",
                    f"the checker failed ({type(error).__name__}: {cut(str(error))}); "
                    "this request went on unchecked",
                )
            ]
        if complaints:
            self.lint.say(self.route, complaints)

    # -- the request ----------------------------------------------------------------------

    def run(self) -> Iterable[bytes]:
        self.check(self.prepare)
        result = self.lint.app(self.environ, self.start_response)
        self.check(self.returned, result)
        if check_body(result):  # None, a string: said; the server's answer stands
            return result
        if isinstance(result, (list, tuple)):  # the same list: one block, a Content-Length
            self.check(self.whole_body, result)
            return result
        wrapper = self.environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and type(result) is wrapper:  # sendfile stays possible
            self.check(self.finished, False)
            return result
        return _Body(result, self)

    def prepare(self) -> list[Complaint]:
        environ = self.environ
        length = environ.get("CONTENT_LENGTH") or ""
        encoding = str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        chunked = not length and "chunked" in encoding
        if not chunked:
            environ.pop("wsgi.input_terminated", None)
        stream = environ.get("wsgi.input")
        if stream is not None:
            known = int(length) if str(length).isdigit() else (None if chunked else 0)
            environ["wsgi.input"] = InputObserver(stream, known, self.check)
        errors = environ.get("wsgi.errors")
        if errors is not None:
            environ["wsgi.errors"] = ErrorsObserver(errors, self.check)
        self.wsgi_keys = {key: environ[key] for key in environ if key.startswith("wsgi.")}
        return []

    def returned(self, result: object) -> list[Complaint]:
        found = self.swallowed()
        found += check_body(result)
        return found

    def swallowed(self) -> list[Complaint]:
        if self.reraised is None:
            return []
        error, self.reraised = self.reraised, None
        return [
            Complaint(
                "exc-info-swallowed",
                f"start_response() re-raised the {type(error).__name__} given as exc_info (the "
                "headers were already sent) and the application went on; PEP 3333: let it "
                "propagate, the server ends the response",
            )
        ]

    def whole_body(self, result: list[object] | tuple[object, ...]) -> list[Complaint]:
        found = []
        # The stored items, not a subclass's own __iter__ (the server may call it once more).
        # A list was made before it was returned: "never called" says all about the order.
        items = list.__iter__(result) if isinstance(result, list) else tuple.__iter__(result)
        for item in items:
            found += check_body_item(item, "the body")
            if isinstance(item, _BYTES_LIKE):  # a bytearray is its own complaint, and counts
                self.sent += len(item)
        return found + self.finished()

    def body_begins(self) -> list[Complaint]:
        if self.calls:
            return []
        return [
            Complaint(
                "body-before-start",
                "the body's first bytes came before start_response() was called; PEP 3333: "
                "call start_response() before returning or yielding the body",
            )
        ]

    def finished(self, counted: bool = True) -> list[Complaint]:
        """The body is complete (its iterable was exhausted); ``counted``: its bytes were."""
        found = self.swallowed()
        if not self.calls:
            found.append(
                Complaint(
                    "no-start-response",
                    "the application never called start_response(); PEP 3333 requires it, "
                    "once, before the body ends",
                )
            )
            return found
        code = status_code(self.status)
        if code in NO_BODY_CODES and self.sent:
            found.append(
                Complaint(
                    "no-body-status",
                    f"a {code} response has no body (RFC 9110), yet the application gave "
                    f"{self.sent} bytes; the server drops them: return []",
                )
            )
        declared = declared_length(self.headers)
        if (
            counted
            and declared is not None
            and code >= 200
            and code not in NO_BODY_CODES
            and self.sent != declared
            and not (self.head and not self.sent)  # HEAD may say GET's length with no body
        ):
            found.append(length_mismatch(declared, self.sent))
        found += wsgi_keys_changed(self.environ, self.wsgi_keys)
        return found

    # -- the callables the app is given ---------------------------------------------------

    def start_response(self, *args: Any, **kwargs: Any) -> Callable[[bytes], object]:
        self.check(self.started, args, kwargs)
        try:
            write = self.server_start_response(*args, **kwargs)
        except BaseException as error:
            exc_info = args[2] if len(args) > 2 else kwargs.get("exc_info")
            if exc_info and isinstance(exc_info, tuple) and exc_info[1] is error:
                self.reraised = error
            raise
        return _Write(write, self)

    def started(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Complaint]:
        found = []
        if kwargs:
            found.append(
                Complaint(
                    "start-response-keywords",
                    f"start_response() was called with keyword arguments ({', '.join(kwargs)}); "
                    "PEP 3333 names no parameters: pass status, headers and exc_info by position",
                )
            )
        values = list(args) + list(kwargs.values())
        if len(values) not in (2, 3):
            found.append(
                Complaint(
                    "start-response-arguments",
                    f"start_response() got {len(values)} argument{'' if len(values) == 1 else 's'}"
                    "; PEP 3333: "
                    "start_response(status, headers) or (status, headers, exc_info)",
                )
            )
            return found
        status = args[0] if args else kwargs.get("status")
        headers = args[1] if len(args) > 1 else kwargs.get("headers")
        exc_info = args[2] if len(args) > 2 else kwargs.get("exc_info")
        found += check_exc_info(exc_info)
        if self.calls and not (isinstance(exc_info, tuple) and exc_info and exc_info[0]):
            found.append(
                Complaint(
                    "start-response-twice",
                    "start_response() was called a second time without exc_info; PEP 3333 "
                    "allows that only from an error handler, passing sys.exc_info()",
                )
            )
        self.calls += 1
        self.status, self.headers = status, headers
        return found + check_status(status) + check_headers(headers)

    def wrote_item(self, data: object) -> list[Complaint]:
        found = []
        if not self.wrote:
            self.wrote = True
            found.append(
                Complaint(
                    "write",
                    "the application used the write() callable of start_response(); PEP 3333 "
                    "keeps it only for old frameworks: return or yield the body instead",
                )
            )
        found += check_body_item(data, "write()")
        if isinstance(data, _BYTES_LIKE):
            self.sent += len(data)
        return found

    def yielded(self, item: object) -> list[Complaint]:
        found = self.swallowed() + check_body_item(item, "the body")
        if isinstance(item, _BYTES_LIKE):
            if item:
                found += self.body_begins()
            self.sent += len(item)
        return found


def check_exc_info(exc_info: object) -> list[Complaint]:
    if exc_info is None:
        return []
    if type(exc_info) is tuple and len(exc_info) == 3:
        kind, value, _ = exc_info
        if kind is None or (isinstance(value, BaseException) and type(value) is kind):
            return []
    return [
        Complaint(
            "exc-info-form",
            f"start_response() got exc_info {shown(exc_info)}; PEP 3333 requires "
            "sys.exc_info()'s (type, value, traceback), from inside the except block",
        )
    ]


class _Write:
    """The ``write()`` callable, observed."""

    def __init__(self, write: Callable[[bytes], object], exchange: _Exchange) -> None:
        self._write = write
        self._exchange = exchange

    def __call__(self, data: bytes) -> object:
        self._exchange.check(self._exchange.wrote_item, data)
        return self._write(data)


class _Body:
    """The app's iterable, observed item by item; ``close()`` reaches the app's."""

    def __init__(self, iterable: Iterable[bytes], exchange: _Exchange) -> None:
        self._iterable = iterable
        self._iterator: Optional[Iterator[bytes]] = None
        self._exchange = exchange

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = iter(self._iterable)
        try:
            item = next(self._iterator)
        except StopIteration:
            self._exchange.check(self._exchange.finished)
            raise
        self._exchange.check(self._exchange.yielded, item)
        return item

    def close(self) -> None:
        close = getattr(self._iterable, "close", None)
        if close is not None:
            close()
