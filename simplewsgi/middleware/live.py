"""``--live``: HTML pages get a script that refreshes them; ``/__simplewsgi__/`` serves it.

Rules, and why:

- Only a whole, plain HTML body is touched: ``text/html``, no ``Content-Encoding``, a
  ``Content-Length`` (at most :data:`MAX_INJECTED` bytes) that the body matches (an app whose
  length is wrong is reported by the server, as without ``--live``), not a download, not a
  partial or bodiless status. The script goes before the last ``</body>`` that is markup (not
  in a script or a comment) and the length is made right; a body without one is left as it
  is. HEAD gets the GET's headers, or none of those the script would change. A streamed
  response (no length) is passed on untouched, as it comes: buffering would hold it back.
- An injected page loses ``ETag`` and ``Last-Modified``: they validate the body without the
  script, whose generation changes at every reload; a 304 would bring back a stale script.
- The script is a file at our reserved path, not inline: an app's ``script-src 'self'`` policy
  allows it. The ``--debug`` page forbids every script; injected, it allows ours
  (``'self'``), so it too refreshes once the code is fixed.
- Requests under ``/__simplewsgi__/`` never reach the app, and leave no access-log line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from simplewsgi.middleware import QUIET
from simplewsgi.middleware.debugpage import CSP as DEBUG_PAGE_CSP
from simplewsgi.middleware.livehub import LiveHub
from simplewsgi.middleware.livescript import SCRIPT

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

RESERVED = "/__simplewsgi__/"
SCRIPT_PATH = RESERVED + "live.js"
EVENTS_PATH = RESERVED + "events"
ERROR_PATH = RESERVED + "error"
MAX_INJECTED = 8 * 1024 * 1024
NOT_INJECTED_STATUSES = frozenset({204, 206, 304})
DEBUG_PAGE_LIVE_CSP = DEBUG_PAGE_CSP + "; script-src 'self'; worker-src 'self'; connect-src 'self'"
_SCRIPT_BODY = SCRIPT.encode("utf-8")
# Not true of the injected body: its length, the validators and ranges of the app's body.
_DROPPED = frozenset({"content-length", "etag", "last-modified", "accept-ranges"})


def _header(headers: list[tuple[str, str]], name: str) -> Optional[str]:
    return next((value for key, value in headers if key.lower() == name), None)


def injectable(status: str, headers: list[tuple[str, str]]) -> bool:
    """True for a response whose body the script may be injected into (the module's rules)."""
    code = status[:3]
    if not code.isdigit() or int(code) < 200 or int(code) in NOT_INJECTED_STATUSES:
        return False
    media = (_header(headers, "content-type") or "").split(";")[0].strip().lower()
    length = _header(headers, "content-length") or ""
    encoding = (_header(headers, "content-encoding") or "identity").strip().lower()
    download = (_header(headers, "content-disposition") or "").lower().startswith("attachment")
    return (
        media == "text/html"
        and encoding == "identity"
        and not download
        and length.isdigit()
        and int(length) <= MAX_INJECTED
    )


def inject(body: bytes, tag: bytes) -> Optional[bytes]:
    """``body`` with ``tag`` before its last ``</body>`` that is markup (not inside a script
    or a comment, where a ``</body>`` is text); None when it has none."""
    lower = body.lower()
    at = len(lower)
    while (at := lower.rfind(b"</body", 0, at)) >= 0:
        if not _inside(lower, at, b"<script", b"</script") and not _inside(
            lower, at, b"<!--", b"-->"
        ):
            return body[:at] + tag + body[at:]
    return None


def _inside(lower: bytes, at: int, opening: bytes, closing: bytes) -> bool:
    """True if position ``at`` is after an ``opening`` not closed before it."""
    return lower.rfind(opening, 0, at) > lower.rfind(closing, 0, at)


class LiveReload:
    """The WSGI layer; ``hub`` is this worker's :class:`~.livehub.LiveHub`."""

    def __init__(self, app: WSGIApplication, hub: LiveHub) -> None:
        self.app = app
        self.hub = hub

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(RESERVED):
            environ[QUIET] = True
            return self._reserved(path, environ, start_response)
        # The tag's path is taken now: the layers below (--root-path) and the app may move
        # part of the path into SCRIPT_NAME, but the reserved paths are matched here, above.
        base = environ.get("SCRIPT_NAME", "")
        response = _Response(start_response, head=environ.get("REQUEST_METHOD") == "HEAD")
        result = self.app(environ, response.start)
        if response.passed:  # decided at once: not ours to touch (the common case)
            return result
        return response.finish(result, self._tag(base))

    def _tag(self, base: str) -> bytes:
        from urllib.parse import quote

        src = quote(base, safe="/") + SCRIPT_PATH
        hub = self.hub
        return (
            f'<script src="{src}" data-generation="{hub.generation}" '
            f'data-changes="{hub.changes}"></script>'
        ).encode()

    def _reserved(
        self, path: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _plain(
                start_response, "405 Method Not Allowed", b"GET only\n", (("Allow", "GET, HEAD"),)
            )
        if path == SCRIPT_PATH:
            start_response("200 OK", [
                ("Content-Type", "text/javascript; charset=utf-8"),
                ("Content-Length", str(len(_SCRIPT_BODY))),
                ("Cache-Control", "no-cache"),
                ("X-Content-Type-Options", "nosniff"),
            ])  # fmt: skip
            return [_SCRIPT_BODY]
        if path == EVENTS_PATH:
            if environ.get("REQUEST_METHOD") == "HEAD":  # no stream to hold a thread for
                start_response("200 OK", [("Content-Type", "text/event-stream")])
                return []
            stream = self.hub.open(str(environ.get("REMOTE_ADDR", "")))
            if stream is None:
                return _plain(
                    start_response, "503 Service Unavailable", b"too many event streams\n"
                )
            start_response("200 OK", [
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-store"),
                ("X-Accel-Buffering", "no"),  # a proxy in front must not hold the events back
            ])  # fmt: skip
            return stream
        failure = self.hub.failure_page
        if path == ERROR_PATH and failure is not None:
            return failure(environ, start_response)
        return _plain(start_response, "404 Not Found", b"nothing here\n")


def _plain(
    start_response: StartResponse, status: str, body: bytes, extra: tuple[tuple[str, str], ...] = ()
) -> list[bytes]:
    start_response(status, [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        *extra,
    ])  # fmt: skip
    return [body]


class _Response:
    """One response as the layer sees it: passed through as soon as it is not injectable,
    held back (status, headers, body) until it is complete otherwise."""

    def __init__(self, start_response: StartResponse, head: bool = False) -> None:
        self._start_response = start_response
        self._head = head
        self.passed = False
        self._held: Optional[tuple[str, list[tuple[str, str]], Any]] = None
        self._written: list[bytes] = []

    def start(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None and self.passed:
            return self._start_response(status, headers, exc_info)  # re-raises: headers sent
        if not injectable(status, headers):
            self.passed, self._held = True, None
            return self._start_response(status, headers, exc_info)
        self._held = (status, headers, exc_info)
        return self._written.append

    def finish(self, result: Iterable[bytes], tag: bytes) -> Iterable[bytes]:
        """The body, whole and injected, or ``result`` streamed on once it is passed."""
        iterator = iter(result)
        size = 0
        try:
            while not self.passed and size <= MAX_INJECTED:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    break
                self._written.append(chunk)
                if not isinstance(chunk, bytes):  # the server says what is wrong with it
                    self._pass_held()
                    break
                size += len(chunk)
        except BaseException:
            _close(result)
            raise
        if not self.passed and size > MAX_INJECTED:
            self._pass_held()  # more than its Content-Length said: the server will say so
        if not self.passed and not all(isinstance(chunk, bytes) for chunk in self._written):
            self._pass_held()  # write() got something else than bytes: the server says so
        if self.passed:  # start_response came late (a generator app), and not for us
            return _chain(self._written, iterator, result)
        _close(result)
        if self._held is None:
            return self._written  # the app never started a response: the server says so
        status, headers, exc_info = self._held
        body = b"".join(self._written)
        # A body that is not the length its header says is sent as it is: the server reports
        # the app's mistake as it would without --live. HEAD's empty body is the exception.
        whole = str(len(body)) == _header(headers, "content-length")
        injected = inject(body, tag) if whole else None
        if self._head and not whole:  # the app's own HEAD: the GET's length is not known here
            headers = [(k, v) for k, v in headers if k.lower() not in _DROPPED]
        elif injected is not None:
            headers = [(k, v) for k, v in headers if k.lower() not in _DROPPED]
            headers = [(k, DEBUG_PAGE_LIVE_CSP if v == DEBUG_PAGE_CSP else v) for k, v in headers]
            headers.append(("Content-Length", str(len(injected))))
            body = injected
        self._start_response(status, headers, exc_info)
        return [body]

    def _pass_held(self) -> None:
        if self._held is not None and not self.passed:
            self.passed = True
            self._start_response(*self._held)


def _chain(first: list[bytes], rest: Any, result: Iterable[bytes]) -> Iterable[bytes]:
    try:
        yield from first
        yield from rest
    finally:
        _close(result)


def _close(result: Iterable[bytes]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()
