"""The response side of one WSGI exchange: ``start_response``, ``write`` and framing.

Rules of this module (PEP 3333, RFC 9112 §6):
- Headers go out with the first non-empty body block (or at the end), never earlier, so an app
  may still replace them through ``exc_info``.
- Framing: the app's ``Content-Length``; else a length we know because the whole body is one
  block; else ``Transfer-Encoding: chunked`` for HTTP/1.1 clients; else close-delimited.
  No body for HEAD, 1xx, 204 and 304.
- The app never writes more than its own ``Content-Length`` to the wire; a short or long body
  closes the connection, since the client can no longer find the next response.
- Whatever the app does wrong is a :class:`WSGIContractError` with a plain-words message, and
  nothing it gave (CR, LF, NUL in headers) reaches the wire.
- The handler is not reached into: a response writes to the output it was given (a binary
  stream, and the socket when ``sendfile`` is safe), logs through the callable it was given, and
  returns its one decision about the connection as :attr:`Response.close`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import IO, TYPE_CHECKING, Any, Callable, Optional, Protocol

from simplewsgi.http.appchecks import HOP_BY_HOP as HOP_BY_HOP  # where lint rules read it
from simplewsgi.http.appchecks import check_status, checked_fields, latin1
from simplewsgi.http.body import FileWrapper, RequestBody
from simplewsgi.http.errors import WSGIContractError
from simplewsgi.http.text import date_field

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

ERROR_STATUS = "500 Internal Server Error"
ERROR_HEADERS = [("Content-Type", "text/plain")]
# wsgiref's exact words, which tests written against it look for.
ERROR_BODY = b"A server error occurred.  Please contact the administrator."


class KeepAlivePolicy(Protocol):
    """The server's say on persistent connections, read when the head goes out: False once it
    is stopping, so a response finished during a stop tells the client so."""

    keep_alive: bool


class Output(Protocol):
    """Where a response's bytes go: the connection's buffered writer, or any binary stream."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> object: ...


class FileSender(Protocol):
    """What sends a file to the connection (``socket.sendfile``'s signature)."""

    def sendfile(self, file: IO[bytes], offset: int, count: int, /) -> int: ...


class Response:
    """State and output of one response; created by the handler for each request.

    ``wfile`` receives the bytes; ``sendfile_socket`` sends a file's bytes straight from the
    file to the socket behind it when that is safe (None otherwise); ``server_header`` is the
    Server value; ``version`` the request's HTTP version; ``close`` whether the connection ends
    after this response already (the response may decide so too: read :attr:`close` afterwards);
    ``max_drain`` how much unread request body the handler will discard to keep the connection;
    ``policy`` the server's keep-alive say, read when the head goes out;
    ``log`` takes ``log_message``-style arguments for app errors found while sending.
    """

    __slots__ = (
        "body",
        "bytes_sent",
        "chunked",
        "close",
        "environ",
        "head",
        "headers",
        "headers_sent",
        "http11",
        "length",
        "log",
        "max_drain",
        "policy",
        "sendfile_socket",
        "server_header",
        "status",
        "status_code",
        "version",
        "wfile",
        "write_out",
    )

    def __init__(
        self,
        environ: WSGIEnvironment,
        body: RequestBody,
        wfile: Output,
        *,
        server_header: str,
        version: str,
        close: bool,
        max_drain: int,
        log: Callable[..., None],
        policy: KeepAlivePolicy,
        sendfile_socket: Optional[FileSender] = None,
    ) -> None:
        self.body = body
        self.environ = environ
        self.wfile = wfile
        self.server_header = server_header
        self.version = version
        self.close = close  # the connection ends after this response
        self.max_drain = max_drain
        self.log = log
        self.policy = policy
        self.sendfile_socket = sendfile_socket
        self.status: Optional[str] = None
        self.status_code = 0
        self.headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.bytes_sent = 0  # body bytes that reached the wire
        self.length: Optional[int] = None  # declared Content-Length of the body
        self.chunked = False
        self.head = environ["REQUEST_METHOD"] == "HEAD"
        self.http11 = version == "HTTP/1.1"
        self.write_out = wfile.write

    # -- the WSGI callables -------------------------------------------------------------

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        if exc_info is not None and exc_info[0] is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # break the frame <-> traceback cycle
        elif self.status is not None:
            raise WSGIContractError("start_response() was called twice without exc_info")
        self.status_code = check_status(status)
        if not isinstance(headers, list):
            raise WSGIContractError(f"headers must be a list of tuples, got {headers!r}")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """The ``write()`` callable: sends at once (headers first if they are still due)."""
        if type(data) is not bytes:
            raise WSGIContractError(_not_bytes(data))
        if not self.headers_sent:
            self._send_head(data, final=False)
        else:
            self._send_body(data)

    # -- running the app ------------------------------------------------------------------

    def run(self, app: WSGIApplication) -> None:
        result = app(self.environ, self.start_response)
        try:
            if isinstance(result, (list, tuple)) and len(result) == 1:
                data = result[0]
                if type(data) is not bytes:
                    raise WSGIContractError(_not_bytes(data))
                if self.headers_sent:
                    self._send_body(data)
                else:
                    self._send_head(data, final=True)
            elif type(result) is FileWrapper and not self.headers_sent and self._send_file(result):
                pass
            else:
                for data in result:
                    if type(data) is not bytes:
                        raise WSGIContractError(_not_bytes(data))
                    if data:
                        self.write(data)
            self._finish()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _finish(self) -> None:
        if not self.headers_sent:
            self._send_head(b"", final=True)
        elif self.chunked:
            self.write_out(b"0\r\n\r\n")
        if self.length is not None and self.bytes_sent < self.length and self._has_body():
            self.close = True
            self.log(
                "WSGI application error: sent %d of the %d bytes its Content-Length announced",
                self.bytes_sent,
                self.length,
            )
        self.wfile.flush()

    def send_error(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        """Replace a response nothing of which was sent yet (a 500 after an app error)."""
        self.status = status
        self.status_code = int(status[:3])
        self.headers = list(headers)
        self.length = None
        self.chunked = False
        self._send_head(body, final=True)
        self.wfile.flush()

    # -- framing and output ---------------------------------------------------------------

    def _status_has_body(self) -> bool:
        code = self.status_code
        return not (code < 200 or code == 204 or code == 304)

    def _has_body(self) -> bool:
        return not self.head and self._status_has_body()

    def _send_head(self, data: bytes, final: bool) -> None:
        status = self.status
        if status is None:
            raise WSGIContractError("the application did not call start_response()")
        fields = checked_fields(self.headers)
        http11 = self.http11
        version = "HTTP/1.0" if self.version == "HTTP/1.0" else "HTTP/1.1"
        server = None if fields.server else self.server_header
        start = _STARTS.get((version, status, server))
        if start is None:
            start = _start(version, status, server)
        code = self.status_code
        status_has_body = not (code < 200 or code == 204 or code == 304)
        has_body = status_has_body and not self.head
        length = self.length = fields.length
        extra = b""
        if length is None:
            if final and (has_body or (self.head and data and status_has_body)):
                # The whole body is known: the cheapest framing (HEAD: what GET would say).
                self.length = len(data)
                extra = b"Content-Length: %d\r\n" % len(data)
            elif has_body and http11:
                extra = b"Transfer-Encoding: chunked\r\n"
                self.chunked = True
            elif has_body:
                self.close = True  # HTTP/1.0: the body ends when we close
        if not self.close and not (self.policy.keep_alive and self.body.may_drain(self.max_drain)):
            self.close = True  # say so now: the server is stopping, or the body is left unread
        if self.close:
            if http11:
                extra += b"Connection: close\r\n"
        elif not http11:
            extra += b"Connection: keep-alive\r\n"
        out = b"".join((start, b"" if fields.date else date_field(), fields.text, extra, b"\r\n"))
        self.headers_sent = True
        if data and has_body:
            framed, count = self._frame(data)
            self.write_out(out + framed)
            self.bytes_sent += count
        else:
            self.write_out(out)
        if not final:
            self.wfile.flush()

    def _frame(self, data: bytes) -> tuple[bytes, int]:
        """Fit one block to the response's framing: (bytes to send, body bytes in them). The
        caller counts them once sent, so a cut response is logged with what really went."""
        if self.length is not None:
            room = self.length - self.bytes_sent
            if len(data) > room:
                data = data[:room]
                self.close = True
                self.log(
                    "WSGI application error: body longer than its Content-Length %d; "
                    "the extra bytes were not sent",
                    self.length,
                )
        if self.chunked:
            return b"%x\r\n%b\r\n" % (len(data), data), len(data)
        return data, len(data)

    def _send_body(self, data: bytes) -> None:
        if data and self._has_body():
            framed, count = self._frame(data)
            if framed:
                self.write_out(framed)
                self.bytes_sent += count
            self.wfile.flush()

    def _send_file(self, wrapper: FileWrapper) -> bool:
        """A regular file: its length in the head (HEAD says what GET would, without reading
        the file), its bytes by ``socket.sendfile`` (zero-copy where the OS allows) when the
        output is the socket. False for anything else, which is iterated as any body."""
        filelike = wrapper.filelike
        try:
            info = os.fstat(filelike.fileno())
            offset = filelike.tell() if stat.S_ISREG(info.st_mode) else -1
        except (AttributeError, OSError, ValueError):
            return False
        sock = self.sendfile_socket
        if offset < 0 or (sock is None and self._has_body()):
            return False
        size = max(info.st_size - offset, 0)
        if not any(name.lower() == "content-length" for name, _ in self.headers):
            self.headers = [*self.headers, ("Content-Length", str(size))]
        self._send_head(b"", final=False)
        count = min(self.length or 0, size)
        if count and sock is not None and self._has_body():
            try:
                self.bytes_sent += sock.sendfile(filelike, offset, count)
            except BaseException:  # cut: sendfile left the file at what it did send
                with contextlib.suppress(OSError, ValueError):
                    self.bytes_sent += max(filelike.tell() - offset, 0)
                raise
        return True


# (version, status, Server value or None when the app sets one) -> the head's first lines;
# bounded like the caches of what apps give (http/appchecks.py).
_STARTS: dict[tuple[str, str, Optional[str]], bytes] = {}
_STARTS_MAX = 256


def _start(version: str, status: str, server: Optional[str]) -> bytes:
    """The status line and, unless the app sets its own, the Server field."""
    text = f"{version} {status}\r\n" + ("" if server is None else f"Server: {server}\r\n")
    start = latin1(text)
    if len(_STARTS) < _STARTS_MAX:
        _STARTS[(version, status, server)] = start
    return start


def _not_bytes(data: Any) -> str:
    kind = type(data).__name__
    hint = " (encode str bodies, e.g. body.encode('utf-8'))" if isinstance(data, str) else ""
    return f"response body items must be bytes, got {kind} {data!r:.60}{hint}"
